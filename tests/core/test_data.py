"""Loaders, record semantics and the prompt-level split."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rewardtrain.core.config import shipped_data_dir
from rewardtrain.core.data import (
    DataError,
    RankedRecord,
    load_oasst_trees,
    load_records,
    records_sha256,
    split_by_prompt,
)

DATA = shipped_data_dir()


def write_lines(path: Path, lines: list, compress: bool = False) -> Path:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    if compress:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def test_the_core_imports_without_django():
    code = (
        "import sys, rewardtrain.core, rewardtrain.core.cli, rewardtrain.core.train, rewardtrain.core.scoring, "
        "rewardtrain.core.evaluate; assert 'django' not in sys.modules, 'django was imported'"
    )
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=Path(__file__).parents[2]
    )
    assert result.returncode == 0, result.stderr


def test_it_reads_rankings_with_ties_text_objects_and_gzip(tmp_path):
    line = {
        "prompt": "Pick one",
        "context": [{"role": "user", "text": "hi"}, {"role": "assistant", "text": "hello"}],
        "completions": ["a", {"text": "bb"}, "ccc"],
        "order": [[2], [0, 1]],
        "id": 7,
    }
    (record,) = load_records(write_lines(tmp_path / "r.jsonl.gz", [line], compress=True))
    assert record.completions == ["a", "bb", "ccc"]
    assert record.id == "7"
    assert record.context[1] == {"role": "assistant", "text": "hello"}
    # the tie 0 = 1 is left out; both lose to 2
    assert sorted((c.winner, c.loser) for c in record.comparisons()) == [(2, 0), (2, 1)]


def test_rank_gap_is_the_distance_between_groups():
    record = RankedRecord(prompt="p", completions=["a", "b", "c", "d"], order=[[0], [1, 2], [3]])
    gaps = {(c.winner, c.loser): c.rank_gap for c in record.comparisons()}
    assert gaps == {(0, 1): 1, (0, 2): 1, (0, 3): 2, (1, 3): 1, (2, 3): 1}


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "not valid JSON"),
        ({"prompt": "p", "completions": ["only one"], "order": [[0]]}, "at least 2 completions"),
        ({"prompt": "p", "completions": ["a", "b"], "order": [[0], [5]]}, "unknown completion 5"),
        ({"prompt": "p", "completions": ["a", "b"], "order": [[0], [0]]}, "completion 0 twice"),
        ({"prompt": "p", "completions": ["a", "b"], "order": [[0], []]}, "non-empty list"),
        ({"prompt": "p", "completions": ["a", "b"]}, "neither 'order' nor 'pairs'"),
        ({"prompt": "p", "completions": ["a", 3], "order": [[0], [1]]}, "completion must be a string"),
    ],
)
def test_bad_rankings_fail_with_their_line_number(tmp_path, bad_line, message):
    good = {"prompt": "p", "completions": ["a", "b"], "order": [[1], [0]]}
    path = write_lines(tmp_path / "r.jsonl", [good, "", bad_line])
    with pytest.raises(DataError, match=message) as raised:
        load_records(path)
    assert raised.value.line == 3
    assert "line 3" in str(raised.value)


def test_trl_pairs_sharing_a_prompt_become_one_record_with_explicit_pairs(tmp_path):
    lines = [
        {"prompt": "Q", "chosen": "a", "rejected": "b"},
        {"prompt": "Q", "chosen": "b", "rejected": "c", "margin": 1.5},
        {"prompt": "Q", "chosen": "c", "rejected": "a"},  # a cycle: no total order exists
        {"prompt": "R", "chosen": "x", "rejected": "y"},
    ]
    first, second = load_records(write_lines(tmp_path / "pairs.jsonl", lines))
    assert first.prompt == "Q" and first.completions == ["a", "b", "c"]
    assert first.pairs == [(0, 1, 0.0), (1, 2, 1.5), (2, 0, 0.0)]
    assert [c.margin for c in first.comparisons()] == [0.0, 1.5, 0.0]
    assert first.rank_of() is None
    assert second.completions == ["x", "y"]


def test_anthropic_style_pairs_split_into_context_prompt_and_replies(tmp_path):
    prefix = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: how are you?\n\nAssistant:"
    lines = [
        {"chosen": prefix + " fine, thanks", "rejected": prefix + " go away"},
        {"chosen": prefix + " fine, thanks", "rejected": prefix + " fine, thanks"},  # identical: skipped
    ]
    (record,) = load_records(write_lines(tmp_path / "hh.jsonl", lines))
    assert record.context == [{"role": "user", "text": "hi"}, {"role": "assistant", "text": "hello"}]
    assert record.prompt == "how are you?"
    assert record.completions == ["fine, thanks", "go away"]


def test_conversational_trl_pairs_are_read(tmp_path):
    line = {
        "prompt": [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}],
        "chosen": [{"role": "assistant", "content": "hello!"}],
        "rejected": [{"role": "assistant", "content": "what"}],
    }
    (record,) = load_records(write_lines(tmp_path / "conv.jsonl", [line]))
    assert record.context == [{"role": "system", "text": "be nice"}]
    assert (record.prompt, record.completions) == ("hi", ["hello!", "what"])


def test_a_bad_pairwise_line_names_its_line(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [{"chosen": "a", "rejected": "b"}, {"chosen": "a"}])
    with pytest.raises(DataError, match="line 2"):
        load_records(path)


def test_open_assistant_trees_give_the_documented_counts():
    records = load_oasst_trees(DATA / "oasst_en100" / "en_100_tree.jsonl")
    assert len(records) == 212
    assert sum(len(r.comparisons()) for r in records) == 754
    assert sum(1 for r in records if r.context) == 113
    follow_up = next(r for r in records if r.context)
    assert follow_up.context[0]["role"] == "user"
    assert [turn["role"] for turn in follow_up.context][-1] == "assistant"
    pairs = [(r, c) for r in records for c in r.comparisons()]
    longer_wins = sum(len(r.completions[c.winner]) > len(r.completions[c.loser]) for r, c in pairs)
    assert round(100 * longer_wins / len(pairs), 1) == 69.8  # the README's length baseline


def test_the_prompt_split_is_deterministic_and_never_splits_a_prompt():
    records = [
        RankedRecord(prompt=f"p{i % 10}", completions=["a", "b"], order=[[0], [1]], id=str(i)) for i in range(30)
    ]
    train, held_out = split_by_prompt(records, 0.3, seed=1)
    assert {r.prompt for r in train}.isdisjoint({r.prompt for r in held_out})
    assert len({r.prompt for r in held_out}) == 3
    again = split_by_prompt(list(reversed(records)), 0.3, seed=1)[1]
    assert {r.prompt for r in again} == {r.prompt for r in held_out}
    assert {r.prompt for r in split_by_prompt(records, 0.3, seed=2)[1]} != {r.prompt for r in held_out}


def test_the_records_fingerprint_follows_content():
    a = [RankedRecord(prompt="p", completions=["a", "b"], order=[[0], [1]])]
    b = [RankedRecord(prompt="p", completions=["a", "b"], order=[[1], [0]])]
    assert records_sha256(a) == records_sha256(list(a)) != records_sha256(b)
