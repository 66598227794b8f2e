"""Load test of the annotator loop: N simulated annotators loop next -> submit against
the web server + PostgreSQL for a fixed time, then the database is checked.

    .venv/bin/python bench/annotate_load.py                       # 50 annotators, 20 s, flat out
    .venv/bin/python bench/annotate_load.py --rate 300            # paced: 300 rankings/s offered
    .venv/bin/python bench/annotate_load.py --annotators 16 --seconds 5 --prompts 3000  # quick
    .venv/bin/python bench/annotate_load.py --rate 300 --server gunicorn                # the other server

What it does:
1. creates a scratch database next to the one DATABASE_URL names (default
   postgres://postgres@127.0.0.1:5432/postgres), migrates it, and adds a project with
   ``--prompts`` prompts of ``--k`` completions and ``--annotators`` annotators with API tokens;
2. starts the web server on a free localhost port: granian (WSGI, ``--workers`` processes x ``--threads``
   blocking threads; what ``docker/`` runs) or ``--server gunicorn`` (gthread, the same counts);
3. runs the annotators as threads spread over ``--client-processes`` processes. Each one loops
   GET /api/v1/projects/{id}/tasks/next -> POST /api/v1/assignments/{id}/ranking (a random
   order) for ``--seconds``, after ``--warmup`` seconds not counted. Without ``--rate`` they
   go flat out (a closed loop: latency then grows with the number of clients); with ``--rate``
   each annotator paces itself so that together they offer that many rankings per second;
   With ``--worker`` (needs ``--redis-url``) a Celery worker (``-Q default``, one process, as
   ``make up`` runs it) expands the rankings into comparisons on the same two cores while they come in;
4. prints requests/s, submitted rankings/s and p50/p99/max latency per endpoint;
   The CPU the server (the web server's processes + the scratch database's PostgreSQL backends) and the client
   processes used in the measured window is printed per ranking;
5. stops the server and checks: no prompt has more rankings than wanted, every ranking a
   client was told about (201) is stored and nothing else is, no annotator ranked a prompt
   twice, the prompt counters equal the rows, and no request failed (``--strategy uncertainty`` orders
   the queue as active learning does, by figures drawn at random); with ``--worker``, after the
   queue has drained, every ranking has its C(K,2) comparisons. Exits 1 otherwise.
Then drops the scratch database (``--keep`` keeps it). Figures: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from math import comb
from pathlib import Path

from scratch import free_port, scratch_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"


# --- Server ----------------------------------------------------------------------------
def server_start(args: argparse.Namespace, env: dict[str, str], port: int) -> subprocess.Popen:
    if args.server == "granian":
        command = [
            str(ROOT / ".venv" / "bin" / "granian"),
            "--interface", "wsgi",
            "--host", "127.0.0.1",
            "--port", str(port),
            "--workers", str(args.workers),
            "--blocking-threads", str(args.threads),
            "--backlog", "2048",
            "--no-access-log",
            "--log-level", "warning",
            "config.wsgi:application",
        ]  # fmt: skip
    else:
        command = [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "config.wsgi",
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(args.workers),
            "--worker-class", "gthread",
            "--threads", str(args.threads),
            "--keep-alive", "30",
            "--backlog", "2048",
            "--log-level", "warning",
        ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def worker_start(env: dict[str, str]) -> subprocess.Popen:
    """A Celery worker on the ``default`` queue (the comparison expansions), one process."""
    command = [
        str(ROOT / ".venv" / "bin" / "celery"), "-A", "config", "worker",
        "-Q", "default", "--concurrency", "1", "--loglevel", "WARNING",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL)


def comparisons_wait(project_id: int, k: int, timeout: float = 60.0) -> tuple[float, int, int, list[str]]:
    """Waits until every ranking of the project has its C(K,2) comparisons (the worker has caught
    up); returns (seconds waited, rankings, comparisons, problems)."""
    from django.db.models import Count

    from annotate.models import Ranking

    pairs = comb(k, 2)
    began = time.monotonic()
    while True:
        counts = list(
            Ranking.objects.filter(prompt__project_id=project_id)
            .annotate(n=Count("comparisons"))
            .values_list("n", flat=True)
        )
        short = sum(1 for n in counts if n != pairs)
        if not short or time.monotonic() - began > timeout:
            break
        time.sleep(0.2)
    problems = [f"{short} rankings lack their {pairs} comparisons {timeout:.0f} s after the run"] if short else []
    return time.monotonic() - began, len(counts), sum(counts), problems


def server_wait(port: int, token: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/v1/me", headers={"Authorization": f"Token {token}"})
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the web server did not answer within 30 s")


def setup_data(args: argparse.Namespace) -> tuple[int, list[str]]:
    """A project with prompts and completions, annotators with tokens. Returns (project id, tokens)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from rest_framework.authtoken.models import Token

    from annotate.models import Project
    from annotate.services.imports import prompts_import

    User = get_user_model()
    project = Project.objects.create(
        name="Load test", instructions="Rank them.", rankings_per_prompt=args.wanted, min_completions=2
    )
    unusable = make_password(None)
    users = User.objects.bulk_create(User(username=f"bench{i:04d}", password=unusable) for i in range(args.annotators))
    project.annotators.add(*users)
    tokens = [Token(key=Token.generate_key(), user=user) for user in users]
    Token.objects.bulk_create(tokens)
    rng = random.Random(20261126)
    words = ["the", "model", "answer", "is", "helpful", "harmless", "correct", "short", "long", "reply", "ranking"]
    records = [
        {
            "id": f"p{i}",
            "prompt": " ".join(rng.choices(words, k=25)),
            "completions": [f"{position}. " + " ".join(rng.choices(words, k=60)) for position in range(args.k)],
        }
        for i in range(args.prompts)
    ]
    prompts_import(project=project, source=records, format="jsonl")  # as an admin's import (ANALYZE included)
    if args.strategy != "coverage":
        # Figures as a refresh after a model activation leaves them, then the queue ordered by the strategy.
        from annotate.models import Prompt
        from rewardtrain.services.acquisition import acquisition_priorities_apply

        project.acquisition_strategy = args.strategy
        project.save(update_fields=["acquisition_strategy"])
        prompts = list(Prompt.objects.filter(project=project).only("id"))
        for prompt in prompts:
            prompt.model_uncertainty = rng.random()
        Prompt.objects.bulk_update(prompts, ["model_uncertainty"], batch_size=2000)
        acquisition_priorities_apply(project_id=project.pk)
    return project.pk, [token.key for token in tokens]


# --- Clients ---------------------------------------------------------------------------
class KeepAliveConnection:
    """A minimal HTTP/1.1 client on one keep-alive TCP connection, as a browser tab keeps one.

    http.client parses every response's headers with the email package, which cost the load
    generator about as much CPU as the server spends in Django's middleware; this reads the
    status line and ``Content-Length`` and nothing else it does not need. Any other framing
    (chunked, no length) or a closed connection raises ``http.client.HTTPException``/OSError.
    """

    def __init__(self, port: int, timeout: float = 30) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def request(self, method: str, path: str, headers: bytes, body: bytes | None = None) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + headers
        if body is not None:
            head += b"Content-Length: %d\r\n" % len(body)
        self.sock.sendall(head + b"\r\n" + (body or b""))
        status_line = self.reader.readline(65537)
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise http.client.BadStatusLine(repr(status_line))
        length = None
        while True:
            line = self.reader.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                raise http.client.HTTPException(f"unexpected Transfer-Encoding: {value.strip()!r}")
        if length is None:
            raise http.client.HTTPException("response without Content-Length")
        data = self.reader.read(length)
        if len(data) != length:
            raise http.client.IncompleteRead(data, length - len(data))
        return int(parts[1]), data

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def client_process(port: int, project_id: int, tokens: list[str], start_at: float, count_from: float,
                   stop_at: float, period: float, results: multiprocessing.Queue) -> None:  # fmt: skip
    """Runs one annotator per token as a thread; puts its measurements on ``results``."""
    lock = threading.Lock()
    merged = {"next": [], "submit": [], "statuses": {}, "ranking_ids": [], "errors": []}

    def annotator(token: str) -> None:
        headers = f"Authorization: Token {token}\r\nAccept: application/json\r\n".encode()
        json_headers = headers + b"Content-Type: application/json\r\n"
        connection = None
        rng = random.Random(token)
        mine = {"next": [], "submit": [], "statuses": {}, "ranking_ids": [], "errors": []}

        def call(kind: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
            nonlocal connection
            sent = time.monotonic()
            try:
                if connection is None:
                    connection = KeepAliveConnection(port)
                if body is None:
                    status, raw = connection.request(method, path, headers)
                else:
                    status, raw = connection.request(method, path, json_headers, json.dumps(body).encode())
                data = json.loads(raw or b"{}")
            except (OSError, ValueError, http.client.HTTPException) as error:
                if connection is not None:
                    connection.close()
                connection = None
                mine["errors"].append(f"{kind}: {error!r}")
                return 0, {}
            if sent >= count_from:
                mine[kind].append(time.monotonic() - sent)
                mine["statuses"][f"{kind} {status}"] = mine["statuses"].get(f"{kind} {status}", 0) + 1
            return status, data

        while time.monotonic() < start_at:
            time.sleep(0.005)
        next_cycle = time.monotonic() + rng.random() * period  # spread the paced clients out
        while True:
            if period:
                wait = next_cycle - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                next_cycle = max(next_cycle + period, time.monotonic() - period)
            if time.monotonic() >= stop_at:
                break
            status, task = call("next", "GET", f"/api/v1/projects/{project_id}/tasks/next")
            if status != 200:
                if status:
                    mine["errors"].append(f"next answered {status}: {task}")
                continue
            if task["assignment_id"] is None:
                mine["errors"].append("pool ran dry: use more --prompts")
                break
            order = [[completion["id"]] for completion in task["completions"]]
            rng.shuffle(order)
            body = {"order": order, "seconds": round(rng.uniform(5, 60), 1)}
            status, ranking = call("submit", "POST", f"/api/v1/assignments/{task['assignment_id']}/ranking", body)
            if status == 201:
                mine["ranking_ids"].append(ranking["id"])
            elif status:
                mine["errors"].append(f"submit answered {status}: {ranking}")
        if connection is not None:
            connection.close()
        with lock:
            for key in ("next", "submit", "ranking_ids", "errors"):
                merged[key].extend(mine[key])
            for key, value in mine["statuses"].items():
                merged["statuses"][key] = merged["statuses"].get(key, 0) + value

    threads = [threading.Thread(target=annotator, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(merged)


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_pids(main_pid: int, database: str | None = None) -> list[int]:
    """A process and its children (the web server's workers, the Celery worker's pool) and, if
    ``database`` is given, the PostgreSQL backends serving that database."""
    pids = [main_pid]
    for children in Path(f"/proc/{main_pid}/task").glob("*/children"):
        pids += [int(pid) for pid in children.read_text().split()]
    if database is None:
        return pids
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if database.encode() in cmdline.read_bytes() and b"postgres" in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return pids


class CpuMeter:
    """CPU a process tree (and, with ``database``, that database's PostgreSQL backends) spends in a
    window, sampled every ``every`` seconds from a thread.

    Django closes a connection once it is ``CONN_MAX_AGE`` (60 s) old, so in a long run the
    PostgreSQL backends change under the load: a backend that exits takes its CPU with it, and
    two snapshots (start, end) would miss it. Each process's figure is the last one read while it
    lived, minus what it had at the start (0 for one started in the window); a backend that exits
    loses at most the CPU of its last ``every`` seconds.
    """

    def __init__(self, main_pid: int, database: str | None = None, every: float = 0.25) -> None:
        self.main_pid, self.database, self.every = main_pid, database, every
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for pid in process_pids(self.main_pid, self.database):
            seconds = cpu_seconds(pid)
            if seconds:
                self.last[pid] = seconds

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def begin(self) -> None:
        self._sample()
        self.start = dict(self.last)
        self._thread.start()

    def end(self) -> tuple[float, float]:
        """(CPU in the window, of which the process tree's own), in seconds."""
        self._stop.set()
        self._thread.join()
        self._sample()
        tree = set(process_pids(self.main_pid))
        used = {pid: seconds - self.start.get(pid, 0.0) for pid, seconds in self.last.items()}
        return sum(used.values()), sum(seconds for pid, seconds in used.items() if pid in tree)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


# --- Checks ----------------------------------------------------------------------------
def verify(project_id: int, wanted: int, ranking_ids: list[int]) -> list[str]:
    from django.db.models import Count

    from annotate.models import Assignment, Prompt, Ranking

    problems = []
    per_prompt = Prompt.objects.filter(project_id=project_id).annotate(n=Count("rankings"))
    over = per_prompt.filter(n__gt=wanted).count()
    if over:
        problems.append(f"{over} prompts have more than {wanted} rankings")
    stored = set(Ranking.objects.filter(prompt__project_id=project_id).values_list("pk", flat=True))
    told = set(ranking_ids)
    if told - stored:
        problems.append(f"{len(told - stored)} rankings answered 201 but are not stored (lost)")
    if stored - told:
        problems.append(f"{len(stored - told)} rankings are stored that no client was told about")
    if len(ranking_ids) != len(told):
        problems.append("a ranking id was answered twice")
    twice = Ranking.objects.values("prompt", "annotator").annotate(n=Count("pk")).filter(n__gt=1).count()
    if twice:
        problems.append(f"{twice} (prompt, annotator) pairs were ranked twice")
    opened = Assignment.objects.filter(state="open").values("prompt").annotate(n=Count("pk"))
    open_by_prompt = {row["prompt"]: row["n"] for row in opened}
    wrong = sum(
        1
        for prompt in per_prompt.only("pk", "ranking_count", "open_assignment_count")
        if (prompt.ranking_count, prompt.open_assignment_count) != (prompt.n, open_by_prompt.get(prompt.pk, 0))
    )
    if wrong:
        problems.append(f"{wrong} prompts have counters that differ from their rows")
    return problems


def load_test(args: argparse.Namespace, name: str, url: str) -> int:
    """Steps 1-5 of the module docstring on the scratch database ``name`` at ``url``."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    env.pop("REDIS_URL", None)
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    os.environ.update({key: env[key] for key in ("DATABASE_URL", "SECRET_KEY", "DEBUG", "LOG_LEVEL")})
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    sys.path.insert(0, str(ROOT))
    server = worker = None
    worker_cpu = 0.0
    drained: tuple[float, int, int, list[str]] | None = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        import django

        django.setup()
        project_id, tokens = setup_data(args)
        from django.db import connection

        connection.close()

        port = free_port()
        server = server_start(args, env, port)
        server_wait(port, tokens[0])
        if args.worker:
            import redis

            redis.Redis.from_url(args.redis_url).delete("default")  # nothing left from an earlier run
            worker = worker_start(env)

        period = args.annotators / args.rate if args.rate else 0.0
        start_at = time.monotonic() + 1.0
        count_from = start_at + args.warmup
        stop_at = count_from + args.seconds
        results: multiprocessing.Queue = multiprocessing.Queue()
        shares = [tokens[i :: args.client_processes] for i in range(args.client_processes)]
        clients = [
            multiprocessing.Process(
                target=client_process,
                args=(port, project_id, share, start_at, count_from, stop_at, period, results),
            )
            for share in shares
            if share
        ]
        load_before = os.getloadavg()
        for client in clients:
            client.start()
        # CPU the server side (web + database) spends in the measured window: a figure that
        # does not depend on what else the machine is running.
        time.sleep(max(0.0, count_from - time.monotonic()))
        meter = CpuMeter(server.pid, name)
        meter.begin()
        worker_meter = CpuMeter(worker.pid) if worker else None
        if worker_meter:
            worker_meter.begin()
        client_cpu_start = sum(cpu_seconds(client.pid) for client in clients)
        time.sleep(max(0.0, stop_at - time.monotonic()))
        server_cpu, web_cpu = meter.end()
        if worker_meter:
            worker_cpu = worker_meter.end()[0]
        client_cpu = sum(cpu_seconds(client.pid) for client in clients) - client_cpu_start
        merged = [results.get() for _ in clients]
        for client in clients:
            client.join()
        load_after = os.getloadavg()
        if worker:
            drained = comparisons_wait(project_id, args.k)
    finally:
        for process in (server, worker):
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)

    latencies = {kind: [value for part in merged for value in part[kind]] for kind in ("next", "submit")}
    statuses: dict[str, int] = {}
    for part in merged:
        for key, value in part["statuses"].items():
            statuses[key] = statuses.get(key, 0) + value
    ranking_ids = [ranking_id for part in merged for ranking_id in part["ranking_ids"]]
    errors = [error for part in merged for error in part["errors"]]
    measured_rankings = statuses.get("submit 201", 0)
    requests = len(latencies["next"]) + len(latencies["submit"])

    print(
        f"annotators {args.annotators}, {args.seconds:.0f} s measured after {args.warmup:.0f} s warm-up, "
        f"offered {'flat out' if not args.rate else f'{args.rate:.0f} rankings/s'}; {args.server} {args.workers} "
        f"workers x {args.threads} threads; {args.prompts} prompts x {args.k} completions, {args.wanted} wanted; "
        f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print(f"requests/s            {requests / args.seconds:8.1f}")
    print(f"submitted rankings/s  {measured_rankings / args.seconds:8.1f}")
    for kind in ("next", "submit"):
        values = latencies[kind]
        print(
            f"{kind:<7} p50 {percentile(values, 0.5) * 1000:6.1f} ms   p99 {percentile(values, 0.99) * 1000:6.1f} ms"
            f"   max {max(values, default=float('nan')) * 1000:6.1f} ms   ({len(values)} requests)"
        )
    print("answers", dict(sorted(statuses.items())))
    if measured_rankings:
        per_ranking = server_cpu / measured_rankings
        print(
            f"server CPU (web server + PostgreSQL backends) {server_cpu:.1f} s = {per_ranking * 1000:.1f} ms per "
            f"ranking (next + submit): {os.cpu_count() / per_ranking:.0f} rankings/s if it had all "
            f"{os.cpu_count()} CPUs to itself; web {web_cpu / measured_rankings * 1000:.1f} ms, "
            f"database {(server_cpu - web_cpu) / measured_rankings * 1000:.1f} ms"
            + (" (the worker's queries included)" if args.worker else "")
        )
        if args.worker:
            print(
                f"worker CPU (the Celery worker's processes) {worker_cpu:.1f} s = "
                f"{worker_cpu / measured_rankings * 1000:.2f} ms per ranking"
            )
        print(
            f"client CPU (the load generator's processes) {client_cpu:.1f} s = "
            f"{client_cpu / measured_rankings * 1000:.1f} ms per ranking"
        )

    problems = verify(project_id, args.wanted, ranking_ids)
    problems += [f"{len(errors)} failed requests, e.g. {errors[0]}"] if errors else []
    if drained:
        waited, rankings, comparisons, missing = drained
        print(f"worker: {comparisons} comparisons for {rankings} rankings, all in {waited:.1f} s after the run")
        problems += missing
    from django.db import connection

    connection.close()
    if args.redis_url and not args.worker:  # the expansions the server queued: nobody will run them
        import redis

        queue = redis.Redis.from_url(args.redis_url)
        print(
            f"hook: {queue.llen('default')} comparison-expansion messages (batches of rankings) queued on "
            f"{args.redis_url} (deleted)"
        )
        queue.delete("default")
    elif not args.redis_url:
        print("hook: comparisons expanded inside each submit request (no broker)")
    if args.keep:
        print(f"kept database {name}")
    print("checks:", "all passed (no over-ranking, no lost ranking)" if not problems else "; ".join(problems))
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds run first, not counted")
    parser.add_argument("--rate", type=float, default=0.0, help="rankings/s offered in total (0 = flat out)")
    parser.add_argument("--prompts", type=int, default=10000)
    parser.add_argument("--k", type=int, default=4, help="completions per prompt")
    parser.add_argument("--wanted", type=int, default=3, help="rankings wanted per prompt")
    parser.add_argument("--workers", type=int, default=2, help="web server worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per web worker process")
    parser.add_argument(
        "--server", choices=["granian", "gunicorn"], default="granian", help="WSGI server (granian: what docker/ runs)"
    )
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument(
        "--redis-url",
        default="",
        help="broker for the ranking_submitted hook (comparisons); the server only enqueues, and no worker runs "
        "unless --worker (default: none, so the hook's Celery task runs inside the submit request, as without Redis)",
    )
    parser.add_argument(
        "--worker",
        action="store_true",
        help="run a Celery worker that expands the rankings into comparisons as they come (needs --redis-url)",
    )
    parser.add_argument(
        "--strategy",
        choices=["coverage", "uncertainty", "mixed"],
        default="coverage",
        help="the project's active-learning strategy; uncertainty and mixed order the queue by random figures",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    if args.worker and not args.redis_url:
        parser.error("--worker needs --redis-url (the broker the server sends the expansions to)")

    base_url = os.environ.get("DATABASE_URL") or DEFAULT_BASE_URL
    name = f"rankforge_bench_annotate_{os.getpid()}"
    with scratch_database(base_url, name, keep=args.keep) as url:
        return load_test(args, name, url)


if __name__ == "__main__":
    sys.exit(main())
