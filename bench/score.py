"""Throughput and latency of the score endpoint over real HTTP, with the default MiniLM on CPU.

    .venv/bin/python bench/score.py                    # batch sizes 1, 8, 64 at 256 tokens
    .venv/bin/python bench/score.py --requests 20 --server web
    .venv/bin/python bench/score.py --batch-sizes 1 --concurrency 8   # 8 callers at once, each sequential
    .venv/bin/python bench/score.py --precision fp32-autocast         # the serving numerics before bf16 weights

Builds a throwaway SQLite database under a temp dir, trains a MiniLM reward model for a few steps
(the weights' quality does not matter for speed), makes it the active version, starts
``manage.py serve_rewards`` (or gunicorn with the whole web app: ``--server web``) and sends
``--requests`` sequential requests per batch size from each of ``--concurrency`` callers (threads, each
with its own item), each completion about 256 tokens. Prints one JSON line per batch size:
completions/s over all callers, p50 and p99 latency in ms, the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORDS = ["the", "model", "reward", "human", "answer", "explains", "because", "clearly", "example", "steps"]


def text_of(tokens: int, rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(tokens))


def setup(var_dir: Path) -> tuple[int, str]:
    os.environ.update(VAR_DIR=str(var_dir), RANKFORGE_TESTING="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from annotate.models import Project
    from rewardtrain.core.config import TrainConfig
    from rewardtrain.core.data import RankedRecord
    from rewardtrain.core.train import train
    from rewardtrain.models import ModelVersion

    rng = random.Random(0)
    records = [
        RankedRecord(
            prompt=text_of(20, rng), completions=[text_of(60, rng) for _ in range(4)], order=[[0], [1], [2], [3]]
        )
        for _ in range(8)
    ]
    result = train(TrainConfig(epochs=1, max_length=256), records, [], out_dir=var_dir / "artifact")
    project = Project.objects.create(name="Bench")
    ModelVersion.objects.create(project=project, version=1, artifact_path=str(result.out_dir), is_active=True)
    user = get_user_model().objects.create_user("bench", is_staff=True)
    return project.pk, Token.objects.create(user=user).key


def post(url: str, token: str, payload: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", default="1,8,64")
    parser.add_argument("--tokens", type=int, default=256, help="approximate tokens per completion (prompt included)")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per batch size (after 3 warm-ups)")
    parser.add_argument("--server", choices=["serve_rewards", "web"], default="serve_rewards")
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--concurrency", type=int, default=1, help="callers sending requests at the same time")
    parser.add_argument("--precision", default="auto", help="SCORING_PRECISION: auto, bf16, fp32, fp32-autocast")
    parser.add_argument("--gather-ms", type=float, default=0.0, help="SCORING_GATHER_MS of the server")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="rankforge-bench-"))
    project_id, token = setup(var_dir)
    env = {**os.environ, "SCORING_PRECISION": args.precision, "SCORING_GATHER_MS": str(args.gather_ms)}
    if args.server == "serve_rewards":
        command = [sys.executable, "manage.py", "serve_rewards", "--port", str(args.port), "--project", str(project_id)]
        command.append("--quiet")
    else:
        command = [str(REPO / ".venv/bin/gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{args.port}"]
        command += ["--workers", "1", "--threads", "4"]
    server = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{args.port}/api/v1/projects/{project_id}/score"
    rng = random.Random(1)
    try:
        for _ in range(600):
            try:
                post(url, token, {"items": [{"prompt": "hi", "completions": ["warm up"]}]})
                break
            except OSError:
                time.sleep(0.2)
        for batch in (int(size) for size in args.batch_sizes.split(",")):
            # ~20 prompt tokens + completion tokens ≈ --tokens per sequence (one word ≈ one token here).
            items = [
                {"prompt": text_of(20, rng), "completions": [text_of(args.tokens - 24, rng) for _ in range(batch)]}
                for _ in range(args.concurrency)
            ]
            for _ in range(3):
                post(url, token, {"items": [items[0]]})
            latencies: list[float] = []
            load_before = os.getloadavg()[0]

            def caller(item: dict, latencies: list[float] = latencies) -> None:
                for _ in range(args.requests):
                    begin = time.perf_counter()
                    post(url, token, {"items": [item]})
                    latencies.append((time.perf_counter() - begin) * 1000)

            threads = [threading.Thread(target=caller, args=(item,)) for item in items]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            latencies.sort()
            print(json.dumps({
                "server": args.server, "batch": batch, "tokens": args.tokens, "requests": args.requests,
                "concurrency": args.concurrency, "precision": args.precision,
                "completions_per_second": round(batch * len(latencies) / elapsed, 1),
                "p50_ms": round(statistics.median(latencies), 1),
                "p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1),
                "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
            }), flush=True)  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
