#!/usr/bin/env bash
# `make up`: migrate, load the demo project, then run the web server, a Celery worker and
# beat until Ctrl-C. With DATABASE_URL/REDIS_URL unset: SQLite under var/ and tasks in-process.
set -euo pipefail
cd "$(dirname "$0")/.."
host=${1:-127.0.0.1}
port=${2:-8000}
py=.venv/bin/python
mkdir -p var

# A development server on this machine: DEBUG on unless told otherwise, and a secret key
# made once and kept under var/ (production sets SECRET_KEY itself).
export DEBUG=${DEBUG:-true}
if [ -z "${SECRET_KEY:-}" ]; then
    # config/settings.py reads the same file, so commands from another shell need no variables.
    key_file=${VAR_DIR:-var}/secret_key
    mkdir -p "$(dirname "$key_file")"
    [ -s "$key_file" ] || (umask 077 && "$py" -c 'import secrets; print(secrets.token_urlsafe(50))' > "$key_file")
    SECRET_KEY=$(cat "$key_file")
    export SECRET_KEY
fi

"$py" manage.py migrate --noinput
"$py" manage.py seed_demo

# Each service runs in a session of its own, so that Ctrl-C reaches only this script, which stops
# them with one signal each: SIGTERM (granian, beat; the worker's warm shutdown, which lets a running
# task finish), and SIGQUIT on a second Ctrl-C (the worker's cold shutdown). Given to the whole process
# group at once next to the script's SIGTERM, SIGINT left a granian worker hanging at shutdown in 3 of 8
# tries, and the Celery worker deadlocked in its shutdown once.
pids=()
worker=
stopping=
cleanup() {
    if [ -n "$stopping" ]; then
        [ -n "$worker" ] && echo "Stopping the worker's running task." >&2 && kill -QUIT "$worker" 2>/dev/null
        return 0
    fi
    stopping=1
    echo "Stopping... (the worker finishes a running task first; Ctrl-C again stops it now)" >&2
    kill -TERM "${pids[@]}" 2>/dev/null || true
    while [ -n "$(jobs -pr)" ]; do wait || true; done
}
trap cleanup INT TERM HUP
trap '[ -n "$stopping" ] || cleanup' EXIT

setsid .venv/bin/celery -A config worker -Q default,training --concurrency 1 --loglevel INFO > var/worker.log 2>&1 &
worker=$!
pids+=($!)
setsid .venv/bin/celery -A config beat --loglevel INFO > var/beat.log 2>&1 &
pids+=($!)
setsid .venv/bin/granian --interface wsgi config.wsgi:application --host "$host" --port "$port" --workers 2 --blocking-threads 4 --access-log &
pids+=($!)

echo
echo "RankForge is running at http://$host:$port/  (admin: http://$host:$port/admin/, API: http://$host:$port/api/v1/docs/)"
echo "Database: ${DATABASE_URL:-SQLite var/rankforge.sqlite3}; broker: ${REDIS_URL:-tasks in-process, schedule via var/}"
echo "Logs: var/worker.log, var/beat.log. Stop with Ctrl-C."
wait -n "${pids[@]}"
