"""Benchmark: exporting 1,000,000 comparisons to TRL JSONL on PostgreSQL -- time and peak memory.

Creates its own database (``rf_bench_export``, dropped at the end), loads 27,778 rankings of K=9
(1,000,008 comparisons) with COPY, expands them, then runs the export in a fresh subprocess
(``python bench/export.py --child ...``) so that its peak RSS (VmHWM, else ``resource.getrusage``) is
the export's alone. The child also reports the peak of Python allocations (``tracemalloc``) when asked.

Run::

    .venv/bin/python bench/export.py                    # 1,000,008 comparisons, completions of ~300 chars
    .venv/bin/python bench/export.py --rankings 3000    # quick check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from math import comb
from pathlib import Path

from scratch import django_setup, scratch_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux keeps ``ru_maxrss`` across ``execve``, so a child
    forked from the (large) loading parent would report the parent's size; VmHWM starts afresh."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(database_url: str, out: str, fmt: str, trace: bool) -> None:
    """The export alone, as the command runs it; prints one JSON line of figures."""
    if trace:
        import tracemalloc

        tracemalloc.start()
    django_setup(database_url)
    from annotate.models import Project
    from rewardtrain.services.export import ExportOptions, export_to_path

    started = time.perf_counter()
    meta = export_to_path(project=Project.objects.get(name="bench"), options=ExportOptions(format=fmt), path=out)
    seconds = time.perf_counter() - started
    figures = {
        "seconds": seconds,
        "lines": meta["counts"]["lines"],
        "bytes": os.path.getsize(out),
        "peak_rss_mb": peak_rss_mb(),
    }
    if trace:
        figures["peak_traced_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rankings", type=int, default=27_778)
    parser.add_argument("--k", type=int, default=9)
    parser.add_argument("--text-chars", type=int, default=300, help="length of each completion")
    parser.add_argument("--format", default="trl")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    parser.add_argument("--server", default=os.environ.get("BENCH_SERVER_URL", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--database", default="rf_bench_export")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("--child", nargs=2, metavar=("DATABASE_URL", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.format, args.tracemalloc)
        return

    with scratch_database(f"{args.server}/postgres", args.database, keep=args.keep) as database_url:
        django_setup(database_url)
        from django.core.management import call_command
        from django.db import connection
        from expand import load_rankings

        from rewardtrain.services.comparisons import comparisons_expand

        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        load_rankings(args.rankings, args.k, raters=50, seed=0, text_chars=args.text_chars)
        inserted = comparisons_expand()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE rewardtrain_comparison")
        connection.close()
        assert inserted == args.rankings * comb(args.k, 2)
        print(f"loaded and expanded {inserted:,} comparisons in {time.perf_counter() - started:.1f} s")

        with tempfile.TemporaryDirectory() as folder:
            out = os.path.join(folder, f"export.{args.format}")
            command = [sys.executable, __file__, "--child", database_url, out, "--format", args.format]
            if args.tracemalloc:
                command.append("--tracemalloc")
            result = subprocess.run(command, capture_output=True, text=True, check=True)
            figures = json.loads(result.stdout.strip().splitlines()[-1])
        rate = figures["lines"] / figures["seconds"]
        print(
            f"export {args.format}: {figures['lines']:,} lines, {figures['bytes'] / 2**20:,.0f} MiB "
            f"in {figures['seconds']:.1f} s = {rate:,.0f} lines/s; peak RSS {figures['peak_rss_mb']:.0f} MB"
            + (f", peak traced {figures['peak_traced_mb']:.1f} MB" if "peak_traced_mb" in figures else "")
        )
        ok = figures["seconds"] < 30 and figures["peak_rss_mb"] < 300
        print(f"goal: under 30 s and under 300 MB -> {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
