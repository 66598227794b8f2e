"""Every benchmark in a quick mode, one after the other, each one's headline figure at the end.

    make bench-quick                       # the same as: .venv/bin/python bench/quick.py
    .venv/bin/python bench/quick.py --only score,train_vs_trl
    .venv/bin/python bench/quick.py --list

A reader checks a claim of docs/BENCHMARKS.md from a fresh clone with this one command: each
benchmark runs as ``python bench/<name>.py`` with the small arguments below (the full run is the same
command without them, named in each section of docs/BENCHMARKS.md), its output goes to the terminal
as it comes, and the lines that carry its figures are printed again in a summary. Quick runs are
small: their figures show that a benchmark works and which way a comparison goes, not the recorded
numbers. The PostgreSQL benchmarks use the server of ``DATABASE_URL`` (default
postgres://postgres@127.0.0.1:5432/postgres) and are reported as not run when it cannot be reached.
The data come from the repository (annotate/fixtures), so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Bench:
    name: str  # bench/<name>.py, unless ``script`` names another
    quick_args: tuple[str, ...]
    headline: str  # regular expression: the output lines that carry the figures
    needs_postgres: bool = False
    script: str = ""  # for a second quick run of one script, in another mode

    @property
    def path(self) -> str:
        return f"bench/{self.script or self.name}.py"


BENCHES = [
    Bench(
        "import",
        ("--prompts", "2000", "--naive-prompts", "200"),
        r"^(bulk import|naive per-row|speed-up)",
        needs_postgres=True,
    ),
    Bench(
        "expand",
        ("--rankings", "2000", "--k", "6", "--naive-rankings", "20", "--database", "rf_bench_quick_expand"),
        r"^(naive ORM|set-based|speed-up)",
        needs_postgres=True,
    ),
    Bench(
        "export",
        ("--rankings", "1000", "--database", "rf_bench_quick_export"),
        r"^(export |goal)",
        needs_postgres=True,
    ),
    Bench(
        "annotate_load",
        ("--annotators", "8", "--seconds", "3", "--warmup", "1", "--prompts", "500"),
        r"rankings/s|p99|checks:",
        needs_postgres=True,
    ),
    Bench("score", ("--requests", "3", "--batch-sizes", "1,8"), r"^\{"),
    Bench(
        "train_vs_trl",
        ("--train-groups", "8", "--eval-groups", "10", "--seeds", "0"),
        r"vs TRL|^\{",
    ),
    Bench(
        "time_to_accuracy",
        ("--data", "hh", "--train-groups", "8", "--eval-groups", "6", "--max-length", "64")
        + ("--epochs", "2", "--evals-per-epoch", "2", "--seeds", "0"),
        r"time to trl_\w+ over",
    ),
    Bench(
        "time_to_accuracy_oasst",  # TRL drops pairs over the max length: Open Assistant needs TrainConfig's 512
        ("--data", "oasst", "--limit", "12", "--epochs", "2", "--evals-per-epoch", "2", "--seeds", "0"),
        r"time to trl_\w+ over",
        script="time_to_accuracy",
    ),
    Bench("oasst_cv", ("--folds", "2", "--epochs", "1", "--max-length", "128"), r"^\{"),
    Bench("forward_size", ("--prompts", "6", "--budgets", "16384,1024", "--rounds", "1"), r"tokens a forward: \{"),
    Bench(
        "prefix_sharing",
        ("--layers", "1", "--max-length", "256", "--steps", "2", "--trl-steps", "1"),
        r"^tokens per epoch|^TRL",
    ),
    Bench("reliability_weighting", ("--labels-only", "--seeds", "0,1"), r"^\{\"summary"),
    Bench(
        "reliability_weighting_probe",
        ("--model", "probe", "--max-length", "64", "--seeds", "0,1", "--careless-share", "1.0")
        + ("--cache", "{scratch}"),
        r"^\{\"summary",
        script="reliability_weighting",
    ),
    Bench("length_probe", ("--folds", "2", "--max-length", "128", "--epochs", "5", "--limit", "60"), r"^\{"),
    Bench(
        "active_learning",
        ("--limit", "40", "--seeds", "0", "--start", "8", "--step", "16", "--max-length", "64", "--epochs", "1")
        + ("--out", "{scratch}/active_learning.jsonl"),
        r"^\{",
    ),
    Bench(
        "active_learning_probe",
        ("--model", "probe", "--max-length", "64", "--seeds", "0", "1", "--start", "16", "--step", "32")
        + ("--out", "{scratch}/active_learning.jsonl", "--cache", "{scratch}"),
        r"^\{",
        script="active_learning",
    ),
]


def postgres_reachable(url: str) -> bool:
    try:
        import psycopg2

        psycopg2.connect(url, connect_timeout=3).close()
        return True
    except Exception:  # any failure to connect means "not run", with the reason printed
        return False


def headline(bench: Bench, output: str, width: int = 400) -> list[str]:
    pattern = re.compile(bench.headline)
    lines = [line.strip() for line in output.splitlines() if pattern.search(line.strip())]
    return [line if len(line) <= width else line[: width - 3] + "..." for line in lines[-6:]]


def run(bench: Bench) -> tuple[str, list[str], float]:
    """(status, headline lines, seconds) of one quick run; its output also goes to the terminal."""
    print(f"\n=== {bench.name}: python {bench.path} {' '.join(bench.quick_args)}", flush=True)
    started = time.perf_counter()
    captured = []
    with tempfile.TemporaryDirectory(prefix=f"bench-quick-{bench.name}-") as scratch:  # for {scratch} in args
        arguments = [argument.replace("{scratch}", scratch) for argument in bench.quick_args]
        command = [sys.executable, str(ROOT / bench.path), *arguments]
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            captured.append(line)
        process.wait()
    seconds = time.perf_counter() - started
    status = "ok" if process.returncode == 0 else f"FAILED (exit {process.returncode})"
    return status, headline(bench, "".join(captured)), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--list", action="store_true", help="print each benchmark's quick command and stop")
    args = parser.parse_args()
    wanted = [name for name in args.only.split(",") if name]
    unknown = sorted(set(wanted) - {bench.name for bench in BENCHES})
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(b.name for b in BENCHES)}")
    benches = [bench for bench in BENCHES if not wanted or bench.name in wanted]
    if args.list:
        for bench in benches:
            print(f"python {bench.path} {' '.join(bench.quick_args)}")
        return 0

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    has_postgres = postgres_reachable(database_url)
    summary = []
    for bench in benches:
        if bench.needs_postgres and not has_postgres:
            summary.append((bench, f"not run: no PostgreSQL at {database_url} (set DATABASE_URL)", [], 0.0))
            continue
        status, lines, seconds = run(bench)
        summary.append((bench, status, lines, seconds))

    print("\n=== summary (quick mode: small runs; the recorded figures come from the full commands)")
    for bench, status, lines, seconds in summary:
        print(f"{bench.name}: {status}" + (f" in {seconds:.0f} s" if seconds else ""))
        for line in lines:
            print(f"    {line}")
    return 0 if all(status == "ok" or status.startswith("not run") for _, status, _, _ in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
