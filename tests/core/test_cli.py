"""``python -m rewardtrain train -> evaluate -> score`` end to end on a tiny model; the last stdout line is JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.core.conftest import TEST_DEVICE, make_records

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> tuple[int, list[str], str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-m", "rewardtrain", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    return result.returncode, result.stdout.strip().splitlines(), result.stderr


def test_train_evaluate_and_score_end_to_end(tiny_encoder, tmp_path):
    data = tmp_path / "rankings.jsonl"
    data.write_text("".join(json.dumps(record.to_json()) + "\n" for record in make_records(count=10)))
    out = tmp_path / "rm"

    code, lines, stderr = run_cli(
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        "--model",
        tiny_encoder,
        "--epochs",
        "2",
        "--lr",
        "5e-3",
        "--prompts-per-batch",
        "4",
        "--max-length",
        "64",
        "--eval-fraction",
        "0.2",
        "--device",
        "cpu",
    )
    assert code == 0, stderr
    trained = json.loads(lines[-1])
    assert trained["out_dir"] == str(out.resolve()) and trained["train"]["steps"] == 4
    assert trained["metrics"]["counts"]["pairs"] == 12  # 2 held-out prompts x C(4,2)
    assert "train" in stderr  # the progress bar went to stderr
    info = json.loads((out / "rewardtrain.json").read_text())
    assert info["data"]["sources"]["train"]["sha256"] and info["data"]["sources"]["train"]["path"] == str(data)

    code, lines, stderr = run_cli("evaluate", "--model", str(out), "--data", str(data), "--device", TEST_DEVICE)
    assert code == 0, stderr
    evaluated = json.loads(lines[-1])
    assert evaluated["counts"]["pairs"] == 60 and 0 <= evaluated["pairwise_accuracy"] <= 1
    assert 0 <= evaluated["length_balanced_accuracy"] <= 1 and "prefers_longer_share" in evaluated

    bench = tmp_path / "rewardbench.jsonl"
    trio = {"prompt": "w1 w2", "chosen": "great", "rejected": "awful awful"}
    subsets = ["alpacaeval-easy", "alpacaeval-easy", "hep-go", "shp", "somewhere-else"]
    bench.write_text("".join(json.dumps({**trio, "subset": subset}) + "\n" for subset in subsets))
    code, lines, stderr = run_cli(
        "evaluate", "--model", str(out), "--data", str(bench), "--format", "rewardbench", "--device", TEST_DEVICE
    )
    assert code == 0, stderr
    scored = json.loads(lines[-1])
    assert scored["format"] == "rewardbench" and scored["trios"] == 5
    assert scored["subsets"]["alpacaeval-easy"]["trios"] == 2 and scored["unmapped_subsets"] == ["somewhere-else"]
    assert scored["sections"]["Safety"] is None and scored["score"] is not None
    assert "Chat" in stderr and scored["length"]["humans_longer_wins_share"] == 0.0

    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"id": "a", "prompt": "w1", "completions": ["great", {"text": "awful"}]}) + "\n")
    code, lines, stderr = run_cli("score", "--model", str(out), "--data", str(items), "--device", TEST_DEVICE)
    assert code == 0, stderr
    assert len(json.loads(lines[0])["rewards"]) == 2 and json.loads(lines[0])["id"] == "a"
    assert json.loads(lines[-1])["completions"] == 2


def test_a_bad_rewardbench_line_fails_with_its_number(tmp_path):
    data = tmp_path / "rb.jsonl"
    data.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n")
    code, lines, stderr = run_cli("evaluate", "--model", str(tmp_path), "--data", str(data), "--format", "rewardbench")
    assert code == 2
    assert json.loads(lines[-1])["line"] == 1 and "subset" in stderr


def test_bad_data_fails_with_the_line_number(tmp_path):
    data = tmp_path / "bad.jsonl"
    good = {"prompt": "p", "completions": ["a", "b"], "order": [[0], [1]]}
    one_completion = {"prompt": "p", "completions": ["a"], "order": [[0]]}
    data.write_text(json.dumps(good) + "\n" + json.dumps(one_completion) + "\n")
    code, lines, stderr = run_cli("train", "--data", str(data), "--out", str(tmp_path / "rm"))
    assert code == 2
    assert json.loads(lines[-1])["line"] == 2 and "line 2" in stderr
    assert not (tmp_path / "rm").exists()


def test_several_weighted_sources_are_mixed_and_recorded_and_only_the_first_is_held_out(tmp_path):
    from rewardtrain.core.cli import _parser, _training_data
    from rewardtrain.core.config import TrainConfig

    own, other = tmp_path / "own.jsonl", tmp_path / "other.jsonl"
    own_records, other_records = make_records(count=10), make_records(count=6, seed=3)
    other_records.append(own_records[0])  # a prompt both sources rank
    own.write_text("".join(json.dumps(record.to_json()) + "\n" for record in own_records))
    other.write_text("".join(json.dumps(record.to_json()) + "\n" for record in other_records))
    args = _parser().parse_args(
        [
            "train",
            "--data",
            str(own),
            "--data",
            f"{other}:0.25",
            "--out",
            str(tmp_path / "rm"),
            "--eval-fraction",
            "0.5",
        ]
    )
    config = TrainConfig(eval_fraction=args.eval_fraction)

    train_records, eval_records, manifest = _training_data(args, config)

    held_out = {record.prompt_key() for record in eval_records}
    assert len(held_out) == 5 and not held_out & {record.prompt_key() for record in train_records}
    sources = manifest["train_sources"]
    assert [source["weight"] for source in sources] == [1.0, 0.25]
    assert sources[1]["path"] == str(other) and sources[1]["sha256"]
    dropped = sources[1]["dropped_held_out_prompts"]
    assert dropped == (1 if own_records[0].prompt_key() in held_out else 0)
    assert sources[1]["records"] == 7 - dropped
    assert sorted({record.weight for record in train_records}) == [0.25, 1.0]
    assert manifest["train"] == sources[0]


def test_a_bad_source_weight_is_refused(tmp_path):
    data = tmp_path / "r.jsonl"
    data.write_text(json.dumps(make_records(count=1)[0].to_json()) + "\n")
    code, lines, stderr = run_cli("train", "--data", f"{data}:-1", "--out", str(tmp_path / "rm"))
    assert code == 2 and "weight" in json.loads(lines[-1])["error"]
    assert not (tmp_path / "rm").exists()
