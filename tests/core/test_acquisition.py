"""The acquisition functions on hand-computed examples; they import no Django and no torch."""

from __future__ import annotations

import math
import random
import subprocess
import sys

import pytest

from rewardtrain.core.acquisition import (
    annotator_disagreement,
    binary_entropy,
    ensemble_uncertainty,
    order_uncertainty,
    pick,
)


def test_order_uncertainty_is_one_bit_when_the_model_cannot_tell_the_completions_apart():
    assert order_uncertainty([0.3, 0.3, 0.3, 0.3]) == pytest.approx(1.0)


def test_order_uncertainty_is_the_mean_pairwise_entropy_of_the_bradley_terry_probabilities():
    scores = [2.0, 0.0, -1.0]
    p = [1 / (1 + math.exp(-(a - b))) for a, b in ((2.0, 0.0), (2.0, -1.0), (0.0, -1.0))]
    expected = sum(-(q * math.log2(q) + (1 - q) * math.log2(1 - q)) for q in p) / 3
    assert order_uncertainty(scores) == pytest.approx(expected)
    assert order_uncertainty([10.0, 0.0, -10.0]) < 0.01  # sure of every pair


def test_order_uncertainty_does_not_depend_on_the_order_or_the_offset_of_the_scores():
    assert order_uncertainty([1.0, -0.5, 0.2]) == pytest.approx(order_uncertainty([0.2 + 7, 1.0 + 7, -0.5 + 7]))


def test_order_uncertainty_survives_extreme_scores_and_single_completions():
    assert order_uncertainty([1e6, -1e6]) == 0.0
    assert order_uncertainty([0.5]) == 0.0
    assert binary_entropy(0.0) == binary_entropy(1.0) == 0.0


def test_ensemble_uncertainty_separates_disagreeing_members_from_an_unsure_model():
    unsure_alike = [[0.0, 0.0], [0.0, 0.0]]  # every member: a coin flip
    confident_opposite = [[5.0, -5.0], [-5.0, 5.0]]  # each member sure, of opposite orders
    entropy, information = ensemble_uncertainty(unsure_alike)
    assert entropy == pytest.approx(1.0) and information == pytest.approx(0.0)
    entropy, information = ensemble_uncertainty(confident_opposite)
    assert entropy == pytest.approx(1.0) and information > 0.9


def test_ensemble_uncertainty_rejects_samples_of_different_completions():
    with pytest.raises(ValueError, match="same completions"):
        ensemble_uncertainty([[0.0, 1.0], [0.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match="at least one"):
        ensemble_uncertainty([])


def test_annotator_disagreement_counts_opposite_orders_over_pairs_of_rankings():
    # Three annotators rank completions 1, 2, 3. Pairs of rankings x completion pairs both order strictly:
    # (A, B): 3 pairs, 1 opposite (2 vs 3); (A, C): 2 pairs (C ties 2 and 3), 0 opposite; (B, C): 2, 0.
    a = [[1], [2], [3]]
    b = [[1], [3], [2]]
    c = [[1], [2, 3]]
    assert annotator_disagreement([a, b, c]) == pytest.approx(1 / 7)


def test_annotator_disagreement_is_zero_without_two_rankings_and_one_for_reversed_orders():
    assert annotator_disagreement([]) == 0.0
    assert annotator_disagreement([[[1], [2], [3]]]) == 0.0
    assert annotator_disagreement([[[1], [2], [3]], [[3], [2], [1]]]) == 1.0
    assert annotator_disagreement([[[1, 2]], [[2], [1]]]) == 0.0  # a tie says nothing either way


def test_pick_takes_the_highest_scores_first_and_unscored_candidates_last():
    scores = {"a": 0.1, "b": 0.9, "c": 0.5}
    assert pick(["a", "b", "c", "d"], scores, 4, rng=random.Random(0)) == ["b", "c", "a", "d"]
    assert pick(["a", "b", "c"], scores, 2, rng=random.Random(0)) == ["b", "c"]


def test_pick_with_an_exploration_share_takes_about_that_share_at_random():
    candidates = [f"p{n}" for n in range(1000)]
    scores = {key: -n for n, key in enumerate(candidates)}  # p0 best
    picked = pick(candidates, scores, 200, exploration=0.3, rng=random.Random(1))
    assert len(set(picked)) == 200
    off_the_top = sum(1 for key in picked if int(key[1:]) >= 200)
    assert 40 <= off_the_top <= 80  # ~30% explored, nearly all of them outside the top 200
    assert pick(candidates, scores, 5, exploration=1.0, rng=random.Random(2)) != candidates[:5]
    with pytest.raises(ValueError, match="exploration"):
        pick(candidates, scores, 5, exploration=1.5, rng=random.Random(0))


def test_the_module_imports_without_django_or_torch():
    code = (
        "import sys, rewardtrain.core.acquisition; "
        "assert 'django' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
