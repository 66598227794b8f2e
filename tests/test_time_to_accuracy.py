"""bench/time_to_accuracy.py's arithmetic and its file modes, without training: when each curve first reaches
TRL's targets, the medians over seeds, ``--report`` on a file of finished seeds, and ``--trl-from`` refusing
TRL curves of another data draw (the training itself is run by ``make bench-quick``)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("bench_time_to_accuracy", ROOT / "bench" / "time_to_accuracy.py")
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.path.remove(str(ROOT / "bench"))


def curve(*points: tuple[float, int, float]) -> list[dict]:
    return [{"seconds": seconds, "step": step, "accuracy": accuracy} for seconds, step, accuracy in points]


def seed_record(bench, seed: int, ours: list[dict]) -> dict:
    # TRL: 4 steps an epoch; 0.70 at the end of epoch 1 (40 s), first reached at 20 s; its best 0.74 at 60 s; it
    # ends at 0.72, first reached at 60 s too.
    points = curve((10, 2, 0.66), (20, 3, 0.70), (40, 4, 0.70), (60, 6, 0.74), (90, 8, 0.72))
    trl = {"points": points, "steps_per_epoch": 4}
    comparison = bench.compare(trl, {"points": ours})
    return {"regime": "hh", "max_length": 128, "seed": seed, "curves": {"trl": trl, "rankforge": {"points": ours}},
            **comparison}  # fmt: skip


def test_targets_come_from_trls_curve_and_the_speedup_from_the_first_evaluation_that_reaches_them(bench):
    record = seed_record(bench, 0, curve((2, 6, 0.60), (4, 12, 0.71), (8, 18, 0.73)))
    assert record["trl_one_epoch"] == {"accuracy": 0.70, "trl_seconds": 20, "rankforge_seconds": 4, "speedup": 5.0}
    assert record["trl_best"] == {"accuracy": 0.74, "trl_seconds": 60, "rankforge_seconds": None, "speedup": 0.0}
    assert record["trl_final"] == {"accuracy": 0.72, "trl_seconds": 60, "rankforge_seconds": 8, "speedup": 7.5}
    assert record["best_accuracy"] == {"trl": 0.74, "rankforge": 0.73}


def test_report_summarizes_the_seeds_a_file_holds_and_draws_their_curves(bench, tmp_path):
    records = [
        seed_record(bench, 0, curve((2, 6, 0.60), (4, 12, 0.71), (8, 18, 0.75))),  # 5x, 7.5x, 7.5x
        seed_record(bench, 1, curve((2, 6, 0.69), (10, 12, 0.70), (12, 18, 0.72))),  # 2x, never, 5x
        seed_record(bench, 2, curve((5, 6, 0.70), (10, 12, 0.74))),  # 4x, 6x, 6x
    ]
    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records) + "\n")
    result = subprocess.run(
        [sys.executable, "bench/time_to_accuracy.py", "--report", str(path), "--plot", str(tmp_path / "c.png")],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])["regimes"]["hh"]
    assert summary["trl_one_epoch"]["speedups_by_seed"] == [5.0, 2.0, 4.0]
    assert summary["trl_one_epoch"]["median_speedup"] == 4.0
    assert summary["trl_one_epoch"]["goal"] == ">= 5.0x: not met"
    assert summary["trl_best"]["speedups_by_seed"] == [7.5, 0.0, 6.0]
    assert summary["trl_best"]["rankforge_reached"] == "2 of 3 seeds"
    assert summary["trl_best"]["median_speedup"] == 6.0 and summary["trl_best"]["goal"] == ">= 3.0x: met"
    assert summary["trl_final"]["speedups_by_seed"] == [7.5, 5.0, 6.0] and "goal" not in summary["trl_final"]
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("content", "error"),
    [('\n{"regime": \n', ":2: not a JSON line"), ('{"regime": "hh", "seed": 0}\n', ":1: not a seed record")],
)
def test_report_names_the_line_of_a_broken_file(content, error, tmp_path):
    path = tmp_path / "seeds.jsonl"
    path.write_text(content)
    result = subprocess.run(
        [sys.executable, "bench/time_to_accuracy.py", "--report", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert f"{path}{error}" in result.stderr


def test_trl_from_refuses_curves_of_another_data_draw(bench, tmp_path):
    record = seed_record(bench, 0, curve((2, 6, 0.71)))
    record["data"] = {"train_groups": 400, "eval_groups": 100}  # this run asks for the default 60 groups
    path = tmp_path / "trl.jsonl"
    path.write_text(json.dumps(record) + "\n")
    result = subprocess.run(
        [sys.executable, "bench/time_to_accuracy.py", "--data", "hh", "--seeds", "0", "--trl-from", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert f"{path}:1: hh seed 0 was run with other data settings" in result.stderr
