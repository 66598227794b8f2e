"""Evaluation metrics on an example small enough to compute by hand."""

from __future__ import annotations

import math

import pytest

from rewardtrain.core.data import RankedRecord
from rewardtrain.core.evaluate import evaluate, expected_calibration_error, kendall_tau_b, metrics_from_scores


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@pytest.fixture
def example():
    # Record 1: K=3, humans say 0 > 1 > 2. Lengths 3, 2, 1: the longer always wins.
    # Record 2: K=2, humans say 1 > 0; lengths 4, 1: the longer loses.
    records = [
        RankedRecord(prompt="a", completions=["xxx", "xx", "x"], order=[[0], [1], [2]]),
        RankedRecord(prompt="b", completions=["yyyy", "y"], order=[[1], [0]]),
    ]
    scores = [[2.0, 0.0, 1.0], [0.5, 0.5]]
    return records, scores


def test_the_metrics_match_the_hand_computation(example):
    records, scores = example
    metrics = metrics_from_scores(records, scores)
    # pairs: (0>1) d=2 right, (0>2) d=1 right, (1>2) d=-1 wrong, record 2 (1>0) d=0: a tie counts half
    assert metrics["pairwise_accuracy"] == pytest.approx(2.5 / 4)
    assert metrics["ties"] == 1 and metrics["tie_rate"] == pytest.approx(1 / 4)
    assert metrics["length_baseline_accuracy"] == pytest.approx(3 / 4)
    assert metrics["accuracy_by_k"] == {
        "2": {"pairs": 1, "accuracy": 0.5, "length_baseline_accuracy": 0.0},
        "3": {"pairs": 3, "accuracy": pytest.approx(2 / 3), "length_baseline_accuracy": 1.0},
    }
    # best vs worst: record 1's (0 > 2) right, record 2's (1 > 0) tied: half
    assert metrics["best_vs_worst_accuracy"] == pytest.approx(1.5 / 2)
    # tau-b record 1: pairs (0,1) C, (0,2) C, (1,2) D -> 1/3; record 2: score tie -> denominator 0 -> left out
    assert metrics["kendall_tau"] == pytest.approx(1 / 3)
    assert metrics["counts"]["kendall_tau_records"] == 1
    differences = [2.0, 1.0, -1.0, 0.0]
    assert metrics["log_loss"] == pytest.approx(-sum(math.log(sigmoid(d)) for d in differences) / 4)
    assert metrics["counts"]["pairs"] == 4 and metrics["counts"]["completions"] == 5


def test_ece_by_hand():
    # p = 0.9 twice: points (0.9, 1) x2 in bin 9 and (0.1, 0) x2 in bin 1 -> |1 - 0.9| and |0 - 0.1| -> 0.1
    assert expected_calibration_error([0.9, 0.9]) == pytest.approx(0.1)
    # p = 0.5: both orientations land in bin 5 with confidence 0.5 and half the outcomes 1 -> calibrated
    assert expected_calibration_error([0.5, 0.5, 0.5]) == pytest.approx(0.0)
    # p = 0.7 and 0.3 (one pair right with confidence, one wrong): bin 7 holds (0.7, 1) and (0.7, 0) -> 0.2 off
    assert expected_calibration_error([0.7, 0.3]) == pytest.approx(0.2)


def test_kendall_tau_b_with_human_ties():
    # human ranks 0, 1, 1 (a tie), scores 3, 2, 1: pairs (0,1) C, (0,2) C, (1,2) human tie
    # n0 = 3, n1 = 1, n2 = 0 -> tau_b = 2 / sqrt(2 * 3)
    assert kendall_tau_b([0, 1, 1], [3.0, 2.0, 1.0]) == pytest.approx(2 / math.sqrt(6))
    assert kendall_tau_b([0, 1], [1.0, 2.0]) == pytest.approx(-1.0)


def test_evaluate_accepts_any_scorer(example):
    records, scores = example

    class FixedScorer:
        def score(self, items, batch_size=64):
            return scores

    assert evaluate(FixedScorer(), records)["pairwise_accuracy"] == pytest.approx(2.5 / 4)


def test_equal_lengths_count_half_for_the_length_baseline():
    record = RankedRecord(prompt="p", completions=["ab", "cd", "e"], order=[[0], [1], [2]])
    metrics = metrics_from_scores([record], [[3.0, 2.0, 1.0]])
    # (0>1) equal lengths: half; (0>2) longer wins; (1>2) longer wins
    assert metrics["length_baseline_accuracy"] == pytest.approx(2.5 / 3)
    assert metrics["counts"]["length_ties"] == 1 and metrics["ties"] == 0


def test_best_of_k_by_hand(example):
    records, scores = example
    records = [
        *records,
        # K=4, the humans' top group is {1, 3}; the model's favourite is 0, the longest is 2: both miss.
        RankedRecord(prompt="c", completions=["aa", "b", "cccc", "dd"], order=[[1, 3], [0], [2]]),
        # Explicit pairs have no top group: left out.
        RankedRecord(prompt="d", completions=["u", "v"], pairs=[(0, 1, 0.0)]),
    ]
    scores = [*scores, [3.0, 1.0, 0.0, 2.0], [1.0, 0.0]]
    metrics = metrics_from_scores(records, scores)
    # Record 1: the model's top (0) is the humans' best: 1; the longest (0) too: 1; random: 1/3.
    # Record 2: the model ties 0 and 1, and only 1 is best: 1/2; the longest (0) lost: 0; random: 1/2.
    # Record 3: model 0, longest 0, random 2/4.
    assert metrics["best_of_k_accuracy"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert metrics["best_of_k_longest"] == pytest.approx((1 + 0 + 0) / 3)
    assert metrics["best_of_k_random"] == pytest.approx((1 / 3 + 1 / 2 + 2 / 4) / 3)
    assert metrics["counts"]["best_of_k_records"] == 3


def test_calibration_bins_count_both_orientations_of_each_pair():
    record = RankedRecord(prompt="p", completions=["a", "b"], order=[[0], [1]])
    bins = metrics_from_scores([record], [[2.0, 0.0]])["calibration_bins"]
    assert sum(b["count"] for b in bins) == 2
    high = next(b for b in bins if b["count"] and b["observed"] == 1.0)
    assert 0.8 <= high["predicted"] < 0.9


def test_length_metrics_match_the_hand_computation(example):
    records, scores = example
    metrics = metrics_from_scores(records, scores)
    # Longer wins in record 1's three pairs (model right on 2 of them), shorter wins in record 2 (tie: half).
    assert metrics["accuracy_when_longer_wins"] == pytest.approx(2 / 3)
    assert metrics["accuracy_when_shorter_wins"] == 0.5
    assert metrics["length_balanced_accuracy"] == pytest.approx(7 / 12)
    # The model scores the longer one higher in (0, 1) and (0, 2), ties in record 2; humans: the longer in 3 of 4.
    assert metrics["prefers_longer_share"] == 0.625
    assert metrics["humans_longer_wins_share"] == 0.75
    # Record 1: scores [2, 0, 1] against lengths [3, 2, 1] -> rho 0.5; record 2's equal scores have none.
    assert metrics["reward_length_correlation"] == pytest.approx(0.5)
    assert metrics["human_length_correlation"] == pytest.approx(0.0)  # +1 in record 1, -1 in record 2
    assert metrics["length_counts"] == {
        "pairs_of_unequal_length": 4,
        "longer_wins_pairs": 3,
        "shorter_wins_pairs": 1,
        "correlation_records": 1,
    }


def test_a_judge_that_reads_only_length_scores_one_half_length_balanced():
    records = [
        RankedRecord(prompt=f"p{n}", completions=["a" * (n + 2), "b" * (n + 1), "c"], order=order)
        for n, order in enumerate([[[0], [1], [2]], [[2], [0], [1]], [[1], [2], [0]], [[0], [2], [1]]])
    ]
    by_length = [[float(len(text)) for text in record.completions] for record in records]
    metrics = metrics_from_scores(records, by_length)
    assert metrics["length_balanced_accuracy"] == 0.5
    assert metrics["prefers_longer_share"] == 1.0
    assert metrics["pairwise_accuracy"] == metrics["length_baseline_accuracy"]
    assert metrics["reward_length_correlation"] == 1.0


def test_pairs_of_equal_length_and_one_sided_data_leave_the_balanced_accuracy_undefined():
    records = [RankedRecord(prompt="p", completions=["aaa", "bbb", "cc"], order=[[0], [1], [2]])]
    metrics = metrics_from_scores(records, [[3.0, 2.0, 1.0]])
    assert metrics["length_counts"]["pairs_of_unequal_length"] == 2  # (0, 1) is of equal length
    assert metrics["accuracy_when_longer_wins"] == 1.0 and metrics["accuracy_when_shorter_wins"] is None
    assert metrics["length_balanced_accuracy"] is None
