"""Tiny models and data for the training-core tests, all built in-process (no downloads).

The encoder is a 2-layer random BERT using the shipped MiniLM tokenizer; the decoder a 2-layer random
Llama with a word-level tokenizer that has a chat template and no pad token (as most decoders).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rewardtrain.core.config import default_model_path  # noqa: E402
from rewardtrain.core.data import RankedRecord  # noqa: E402

# Device for the training tests: bench/gpu_check.sh sets RANKFORGE_TEST_DEVICE=cuda.
TEST_DEVICE = os.environ.get("RANKFORGE_TEST_DEVICE", "cpu")


WORDS = [f"w{i}" for i in range(60)]
GOOD, BAD = "great", "awful"
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|> {{ message['content'] }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


def build_tiny_encoder(path: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_word_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"]
    vocabulary = specials + WORDS + [GOOD, BAD, "User", "Assistant", "System", ":"]
    backend = Tokenizer(models.WordLevel({word: i for i, word in enumerate(vocabulary)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    tokenizer.add_special_tokens({"additional_special_tokens": specials[3:]})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_decoder(path: Path, family: str = "llama") -> Path:
    """A 2-layer random Llama (or Qwen2, with grouped-query attention) reward model and its tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification, Qwen2Config, Qwen2ForSequenceClassification

    torch.manual_seed(0)
    tokenizer = build_word_tokenizer()
    config_class, model_class = {
        "llama": (LlamaConfig, LlamaForSequenceClassification),
        "qwen2": (Qwen2Config, Qwen2ForSequenceClassification),
    }[family]
    config = config_class(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2 if family == "llama" else 4,
        num_key_value_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
        num_labels=1,
        pad_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    model_class(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> str:
    return str(build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder")))


@pytest.fixture(scope="session")
def tiny_decoder(tmp_path_factory) -> str:
    return str(build_tiny_decoder(tmp_path_factory.mktemp("tiny-decoder")))


@pytest.fixture(scope="session")
def tiny_qwen2(tmp_path_factory) -> str:
    """Load its tokenizer with PreTrainedTokenizerFast: AutoTokenizer would rebuild it as Qwen2's BPE one."""
    return str(build_tiny_decoder(tmp_path_factory.mktemp("tiny-qwen2"), family="qwen2"))


def make_records(count: int = 12, k: int = 4, seed: int = 0, with_ties: bool = False) -> list[RankedRecord]:
    """Learnable toy rankings: the more times a completion says 'great' (and the fewer 'awful'), the better."""
    rng = random.Random(seed)
    records = []
    for n in range(count):
        completions, quality = [], []
        for j in range(k):
            words = [rng.choice(WORDS) for _ in range(rng.randint(3, 8))]
            goods = k - j
            text = " ".join(words[:2] + [GOOD] * goods + [BAD] * j + words[2:])
            completions.append(text)
            quality.append(goods)
        shuffled = list(range(k))
        rng.shuffle(shuffled)
        completions = [completions[i] for i in shuffled]
        best_first = sorted(range(k), key=lambda i: -quality[shuffled[i]])
        order = [[i] for i in best_first]
        if with_ties and k >= 3:
            order = [order[0], order[1] + order[2], *order[3:]]
        context = [{"role": "user", "text": " ".join(rng.choice(WORDS) for _ in range(4))}] if n % 2 else []
        records.append(
            RankedRecord(
                prompt=" ".join(rng.choice(WORDS) for _ in range(5)),
                completions=completions,
                order=order,
                context=context,
                id=f"r{n}",
            )
        )
    return records


@pytest.fixture
def toy_records() -> list[RankedRecord]:
    return make_records()
