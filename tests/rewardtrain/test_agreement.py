"""The pure agreement functions: consensus, pairwise agreement, tau-b, cycles, the project report."""

from __future__ import annotations

import pytest

from rewardtrain.services.agreement import (
    RankingFacts,
    agreement_report,
    consensus_order,
    kendall_tau_b,
    pairwise_agreement,
    seconds_histogram,
    three_cycles,
)


def test_identical_rankings_agree_on_every_strict_pair():
    assert pairwise_agreement([[1], [2], [3]], [[1], [2], [3]]) == (3, 3)


def test_a_swapped_pair_is_one_disagreement():
    assert pairwise_agreement([[1], [2], [3]], [[2], [1], [3]]) == (2, 3)


def test_a_tie_against_a_preference_disagrees_and_a_shared_tie_is_not_counted():
    assert pairwise_agreement([[1, 2], [3]], [[1], [2], [3]]) == (2, 3)
    assert pairwise_agreement([[1, 2], [3]], [[1, 2], [3]]) == (2, 2)


def test_agreement_only_counts_completions_both_ranked():
    assert pairwise_agreement([[1], [2], [9]], [[2], [1]]) == (0, 1)


def test_tau_b_is_one_for_the_same_order_and_minus_one_for_the_reverse():
    assert kendall_tau_b([[1], [2], [3], [4]], [[1], [2], [3], [4]]) == pytest.approx(1.0)
    assert kendall_tau_b([[1], [2], [3], [4]], [[4], [3], [2], [1]]) == pytest.approx(-1.0)


def test_tau_b_corrects_for_ties_and_is_undefined_against_one_big_tie():
    # x: 1 > 2 = 3; y: 1 > 2 > 3. C = 2, D = 0, n0 = 3, n1 = 1, n2 = 0 -> 2 / sqrt(2 * 3)
    assert kendall_tau_b([[1], [2, 3]], [[1], [2], [3]]) == pytest.approx(2 / 6**0.5)
    assert kendall_tau_b([[1, 2, 3]], [[1], [2], [3]]) is None


def test_consensus_follows_the_majority_of_each_pair():
    orders = [[[1], [2], [3]], [[2], [1], [3]], [[1], [3], [2]]]
    assert consensus_order(orders) == [[1], [2], [3]]


def test_consensus_of_a_condorcet_cycle_drops_the_weakest_majority():
    # 1 > 2 by 5:2, 2 > 3 by 5:2, 3 > 1 by 4:3: ranked pairs locks 1>2, 2>3 and skips 3>1.
    orders = [[[1], [2], [3]]] * 3 + [[[3], [1], [2]]] * 2 + [[[2], [3], [1]]] * 2
    assert consensus_order(orders) == [[1], [2], [3]]


def test_consensus_of_an_evenly_balanced_cycle_is_a_tie_whatever_the_ids():
    orders = [[[1], [2], [3]], [[2], [3], [1]], [[3], [1], [2]]]
    assert consensus_order(orders) == [[1, 2, 3]]


def test_consensus_keeps_a_tie_when_nothing_separates_two_completions():
    assert consensus_order([[[1], [2], [3]], [[2], [1], [3]]]) == [[1, 2], [3]]
    assert consensus_order([[[1, 2], [3]]]) == [[1, 2], [3]]


def test_three_cycles_are_found_once_each():
    wins = {("a", "b"): 2, ("b", "a"): 1, ("b", "c"): 2, ("c", "a"): 3, ("a", "d"): 1}
    assert three_cycles(wins) == [("a", "b", "c")]
    assert three_cycles({("a", "b"): 1, ("b", "c"): 1, ("a", "c"): 1}) == []


def test_seconds_histogram_puts_each_value_in_its_bin():
    bins = seconds_histogram([5, 12, 12, 700], bins=(0, 10, 60))
    assert [entry["count"] for entry in bins] == [1, 2, 1]
    assert bins[-1]["to"] is None


def facts(ranking_id, prompt_id, annotator_id, order, seconds=10.0, shown_first=None):
    return RankingFacts(ranking_id, prompt_id, annotator_id, order, seconds, shown_first)


def test_the_report_measures_each_annotator_against_the_others():
    rankings = [
        facts(1, 100, 1, [[1], [2], [3]], 10, shown_first=1),
        facts(2, 100, 2, [[1], [2], [3]], 20, shown_first=1),
        facts(3, 100, 3, [[3], [2], [1]], 30, shown_first=2),
        facts(4, 200, 1, [[4], [5]], 40, shown_first=5),  # a prompt ranked once: counts, no agreement
    ]
    report = agreement_report(rankings)

    assert report["summary"]["rankings"] == 4
    assert report["summary"]["prompts_with_several_rankings"] == 1
    # pairs of rankings: (1,2) agree 3/3, (1,3) 0/3, (2,3) 0/3
    assert report["summary"]["agreement"] == pytest.approx(3 / 9)
    first, second, third = (report["annotators"][annotator] for annotator in (1, 2, 3))
    assert first["agreement"] == pytest.approx(3 / 6)
    assert third["agreement"] == 0
    assert first["mean_tau"] is None  # the others (2 and 3) cancel out: their consensus is one tie
    assert second["mean_tau"] is None
    assert third["mean_tau"] == pytest.approx(-1.0)
    assert first["rankings"] == 2
    assert first["median_seconds"] == 25
    assert first["position_bias"]["shown_first_ranked_first"] == 0.5
    assert first["position_bias"]["chance"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert third["position_bias"]["shown_first_ranked_first"] == 0
    pair = next(pair for pair in report["annotator_pairs"] if pair["annotators"] == [1, 2])
    assert pair["agreement"] == 1.0


def test_the_report_lists_prompt_and_model_cycles():
    cyclic = [[[1], [2], [3]], [[2], [3], [1]], [[3], [1], [2]]]
    rankings = [facts(index, 100, index, order) for index, order in enumerate(cyclic, start=1)]
    report = agreement_report(rankings, model_wins={("x", "y"): 3, ("y", "z"): 3, ("z", "x"): 3})

    assert report["cycles"]["prompt_cycles"] == 1
    assert report["cycles"]["prompt_examples"] == [{"prompt_id": 100, "cycles": [[1, 2, 3]]}]
    assert report["cycles"]["model_cycles"] == [["x", "y", "z"]]
    assert report["prompts"][0]["consensus"] == [[1, 2, 3]]
