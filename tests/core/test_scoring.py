"""Inference precision choices and the MicroBatcher that scores concurrent requests together."""

from __future__ import annotations

import random
import threading
import time

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from rewardtrain.core.config import TrainConfig
from rewardtrain.core.encoding import EncodedSequence
from rewardtrain.core.model import inference_model, resolve_precision
from rewardtrain.core.scoring import MicroBatcher, RewardScorer
from rewardtrain.core.train import train
from tests.core.conftest import TEST_DEVICE, WORDS, make_records

CPU = torch.device("cpu")


def test_auto_precision_follows_the_artifact_where_the_device_can(monkeypatch):
    monkeypatch.setattr("rewardtrain.core.model.cpu_supports_bf16", lambda: True)
    assert resolve_precision("auto", CPU, "bf16") == "bf16"
    assert resolve_precision("auto", CPU, "fp32") == "fp32"
    assert resolve_precision("auto", CPU, None) == "fp32-autocast"  # older artifacts: as they were evaluated
    monkeypatch.setattr("rewardtrain.core.model.cpu_supports_bf16", lambda: False)
    assert resolve_precision("auto", CPU, "bf16") == "fp32"
    assert resolve_precision("auto", CPU, None) == "fp32"
    assert resolve_precision("bf16", CPU, "fp32") == "bf16"  # forced
    with pytest.raises(ValueError, match="unknown inference precision"):
        resolve_precision("fp16", CPU)


def test_the_bf16_inference_copy_leaves_the_trained_weights_alone():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    model[1].weight = model[0].bias  # a tied parameter stays tied in the copy
    copy = inference_model(model, "bf16")
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(p.dtype == torch.bfloat16 and not p.requires_grad for p in copy.parameters())
    assert copy[1].weight is copy[0].bias
    assert torch.equal(copy[0].weight, model[0].weight.to(torch.bfloat16))
    assert inference_model(model, "fp32") is model


class FakeScorer:
    """Rewards = sum of the ids; the first forward waits for ``release``; an id of -1 fails the forward."""

    bias = 0.0

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.forwards: list[int] = []

    def score_outputs(self, sequences: list[EncodedSequence], group_sizes: list[int] | None = None) -> torch.Tensor:
        self.entered.set()
        self.release.wait(10)
        self.forwards.append(len(sequences))
        if any(-1 in s.input_ids for s in sequences):
            raise ValueError("poisoned")
        return torch.tensor([[float(sum(s.input_ids))] for s in sequences])


def run_concurrently(batcher: MicroBatcher, fake: FakeScorer, jobs: list[list[list[int]]]) -> list[object]:
    """Job 0 starts the first forward; the others queue behind it; then the forward is released."""
    results: list[object] = [None] * len(jobs)

    def call(n: int) -> None:
        try:
            results[n] = batcher.score_sequences([EncodedSequence(ids) for ids in jobs[n]])
        except Exception as error:  # noqa: BLE001 - the test looks at it
            results[n] = error

    threads = [threading.Thread(target=call, args=(n,)) for n in range(len(jobs))]
    threads[0].start()
    assert fake.entered.wait(5)
    for thread in threads[1:]:
        thread.start()
    deadline = time.monotonic() + 5
    while len(batcher._queue) < len(jobs) - 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    fake.release.set()
    for thread in threads:
        thread.join(10)
    return results


def test_queued_requests_share_one_forward_and_each_gets_its_own_rewards_in_order():
    fake = FakeScorer()
    batcher = MicroBatcher(fake)  # type: ignore[arg-type]
    jobs = [[[n, 1], [n, 2], [n]] for n in range(8)]
    results = run_concurrently(batcher, fake, jobs)
    assert results == [[n + 1.0, n + 2.0, float(n)] for n in range(8)]
    assert fake.forwards == [3, 21]  # the first caller alone, then the seven that queued meanwhile, together


def test_a_failing_request_fails_alone():
    fake = FakeScorer()
    batcher = MicroBatcher(fake)  # type: ignore[arg-type]
    jobs = [[[1]], [[2], [3]], [[4], [-1]], [[5]]]
    results = run_concurrently(batcher, fake, jobs)
    assert results[0] == [1.0] and results[1] == [2.0, 3.0] and results[3] == [5.0]
    assert isinstance(results[2], ValueError)
    assert fake.forwards == [1, 5, 2, 2, 1]  # the combined forward failed; its jobs were retried one by one


def test_max_sequences_caps_a_combined_forward_but_never_splits_a_request():
    fake = FakeScorer()
    batcher = MicroBatcher(fake, max_sequences=4)  # type: ignore[arg-type]
    jobs = [[[0]], [[1], [1]], [[2], [2]], [[3]] * 5]
    results = run_concurrently(batcher, fake, jobs)
    assert results == [[0.0], [1.0, 1.0], [2.0, 2.0], [3.0] * 5]
    assert fake.forwards == [1, 4, 5]


def test_the_batcher_scores_like_the_scorer(tiny_encoder, tmp_path):
    config = TrainConfig(model=tiny_encoder, epochs=1, max_length=64, device=TEST_DEVICE, bf16="off")
    train(config, make_records(count=4), [], out_dir=tmp_path / "rm")
    scorer = RewardScorer.load(tmp_path / "rm", device=TEST_DEVICE)
    batcher = MicroBatcher(scorer, gather_seconds=0.002)
    items = [{"prompt": "w1 w2", "completions": ["great great", "awful", "w3 w4 w5"]}]
    assert batcher.score(items) == scorer.score(items)  # one caller: the same forward
    with pytest.raises(ValueError, match="no uncertainty heads"):
        batcher.score(items, with_uncertainty=True)
    assert batcher.forwards == 1  # refused before any forward
    texts = ["User: w1\n\nAssistant: great", "User: w2\n\nAssistant: awful awful"]
    assert batcher.score_texts(texts) == scorer.score_texts(texts)


def test_distinct_texts_do_not_tie_in_bf16_serving(tiny_encoder, tmp_path):
    config = TrainConfig(model=tiny_encoder, epochs=1, max_length=64, device=TEST_DEVICE, bf16="off")
    train(config, make_records(count=4), [], out_dir=tmp_path / "rm")
    scorer = RewardScorer.load(tmp_path / "rm", device=TEST_DEVICE, precision="bf16")
    assert scorer.precision == "bf16"
    rng = random.Random(0)
    texts = list(dict.fromkeys(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) for _ in range(300)))
    rewards = scorer.score_texts(texts)
    assert len(set(rewards)) == len(texts)
    # The check has teeth: the same bf16 body with its head in bf16 too (the old serving copy) ties most texts.
    fp32_model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "rm", dtype=torch.float32)
    old = RewardScorer(fp32_model.to(torch.bfloat16).eval(), scorer.encoder, device=scorer.device, bf16=True)
    assert len(set(old.score_texts(texts))) < len(texts) / 2


def test_the_reward_head_stays_fp32_in_the_bf16_copy_and_the_state_dict_keeps_its_names(tiny_encoder):
    from rewardtrain.core.model import load_backbone, reward_head

    model, _, _ = load_backbone(TrainConfig(model=tiny_encoder))
    served = inference_model(model, "bf16")
    assert reward_head(served).weight.dtype == torch.float32
    assert served.bert.embeddings.word_embeddings.weight.dtype == torch.bfloat16
    assert list(served.state_dict()) == list(model.state_dict())
    assert reward_head(model).weight.dtype == torch.float32 and not hasattr(reward_head(model), "_rewardtrain_fp32")
