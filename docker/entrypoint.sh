#!/bin/sh
# Container entry point: wait until the database answers, then run the given command.
#
#   docker compose run --rm web python manage.py createsuperuser
#
# Every service (web, worker, gpu-worker, beat, migrate) starts through here, so none of
# them races PostgreSQL on a cold start of the stack.
set -eu

if [ -n "${DATABASE_URL:-}" ]; then
    python - <<'PY'
import sys
import time

import django
from django.db import connection
from django.db.utils import OperationalError

django.setup()
for attempt in range(60):
    try:
        connection.ensure_connection()
        break
    except OperationalError as error:
        print(f"waiting for the database ({error.__class__.__name__}), attempt {attempt + 1}/60", file=sys.stderr)
        time.sleep(2)
else:
    sys.exit("the database did not answer within 2 minutes; check DATABASE_URL")
PY
fi

exec "$@"
