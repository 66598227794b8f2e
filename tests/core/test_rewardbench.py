"""RewardBench v1 scoring on a hand-made file: subsets, count-weighted sections, Prior Sets, the 2:1 average."""

from __future__ import annotations

import json

import pytest

from rewardtrain.core.data import DataError
from rewardtrain.core.rewardbench import Trio, load_trios, rewardbench_scores


def trios_with(results: dict[str, list[bool]]) -> tuple[list[Trio], list[list[float]]]:
    """Trios of each subset, with scores that make the chosen one win (True) or lose/tie (False)."""
    trios, scores = [], []
    for subset, outcomes in results.items():
        for n, right in enumerate(outcomes):
            trios.append(Trio(prompt=f"{subset} {n}", chosen="good", rejected="bad", subset=subset))
            scores.append([1.0, 0.0] if right else [0.0, 0.0 if n % 2 else 1.0])  # odd n: a tie, counted wrong
    return trios, scores


def test_sections_weigh_subsets_by_rewardbench_example_counts_and_prior_sets_count_half():
    trios, scores = trios_with(
        {
            "alpacaeval-easy": [True, True, True, True],  # 1.0, weight 100
            "mt-bench-easy": [True, False, False, False],  # 0.25, weight 28
            "math-prm": [True, False],  # 0.5, weight 984
            "hep-python": [True, True],  # 1.0, weight 164
            "anthropic_helpful": [True, False],  # 0.5
            "shp": [True, True, True, False],  # 0.75
            "anthropic_harmless": [False, False],  # in the prior sets file, not in the leaderboard's average
            "my-own-subset": [True],
        }
    )
    results = rewardbench_scores(trios, scores)

    assert results["subsets"]["mt-bench-easy"] == {"accuracy": 0.25, "trios": 4}
    chat = 100 * (1.0 * 100 + 0.25 * 28) / 128
    reasoning = 100 * (0.5 * 984 + 1.0 * 164) / (984 + 164)
    prior = 100 * (0.5 + 0.75) / 2
    assert results["sections"] == {
        "Chat": round(chat, 2),  # 83.59
        "Chat Hard": None,
        "Safety": None,
        "Reasoning": round(reasoning, 2),  # 57.14
        "Prior Sets": round(prior, 2),  # 62.5
    }
    assert results["score"] == round((2 * chat + 2 * reasoning + 1 * prior) / 5, 2)  # 68.79
    assert results["unmapped_subsets"] == ["my-own-subset"]
    assert results["trios"] == 21


def test_a_file_of_core_subsets_only_averages_the_sections_alike():
    trios, scores = trios_with({"llmbar-natural": [True, False], "donotanswer": [True, True, True, False]})
    results = rewardbench_scores(trios, scores)
    assert results["sections"]["Chat Hard"] == 50.0 and results["sections"]["Safety"] == 75.0
    assert results["sections"]["Prior Sets"] is None
    assert results["score"] == 62.5


def test_a_line_without_the_four_strings_is_refused_with_its_number(tmp_path):
    path = tmp_path / "rb.jsonl"
    good = {"prompt": "p", "chosen": "a", "rejected": "b", "subset": "shp"}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "rejected": ["b"]}) + "\n")
    with pytest.raises(DataError) as caught:
        load_trios(path)
    assert caught.value.line == 2 and "rejected" in str(caught.value)
    path.write_text(json.dumps(good) + "\n")
    assert load_trios(path)[0].record().comparisons()[0].winner == 0
