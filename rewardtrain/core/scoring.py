"""Score completions with a trained artifact, without the database. Load once; safe to share across threads.

Example::

    from rewardtrain.core.scoring import RewardScorer

    scorer = RewardScorer.load("artifacts/rm")
    scorer.score([{"prompt": "Say hi", "completions": ["Hi!", "No."]}])  # [[0.8, -1.1]]
    scorer.score_texts(["User: Say hi\\n\\nAssistant: Hi!"])              # OpenRLHF /get_reward style

Rewards include the artifact's normalization bias (mean 0 over the training completions).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedTokenizerBase

from rewardtrain.core.batching import padded_chunks
from rewardtrain.core.data import RankedRecord, completion_text, context_turns
from rewardtrain.core.encoding import EncodedSequence, SequenceEncoder
from rewardtrain.core.model import autocast, prepare_tokenizer, quiet_loading, resolve_bf16, resolve_device

ARTIFACT_INFO = "rewardtrain.json"


class RewardScorer:
    """A reward model ready for inference: tokenizer, truncation rule, model and normalization bias."""

    def __init__(
        self,
        model: nn.Module,
        encoder: SequenceEncoder,
        *,
        bias: float = 0.0,
        device: torch.device | None = None,
        bf16: bool = False,
        info: dict[str, Any] | None = None,
        max_tokens_per_forward: int = 16384,
    ) -> None:
        self.model = model
        self.encoder = encoder
        self.bias = bias
        self.device = device or next(model.parameters()).device
        self.bf16 = bf16
        self.info = info or {}
        self.max_tokens_per_forward = max_tokens_per_forward

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return self.encoder.tokenizer

    @classmethod
    def load(cls, artifact_dir: str | Path, device: str = "auto", bf16: str | bool = "auto") -> RewardScorer:
        """Load an artifact written by :func:`rewardtrain.core.train.train`."""
        artifact_dir = Path(artifact_dir)
        info = json.loads((artifact_dir / ARTIFACT_INFO).read_text())
        resolved_device = resolve_device(device)
        tokenizer = AutoTokenizer.from_pretrained(artifact_dir)
        with quiet_loading():
            model = AutoModelForSequenceClassification.from_pretrained(artifact_dir, dtype=torch.float32)
        prepare_tokenizer(tokenizer, model)
        model.to(resolved_device).eval()
        encoder = SequenceEncoder(tokenizer, architecture=info["architecture"], max_length=info["max_length"])
        return cls(
            model,
            encoder,
            bias=float(info["normalization"]["bias"]),
            device=resolved_device,
            bf16=resolve_bf16(bf16, resolved_device),
            info=info,
            max_tokens_per_forward=int(info["config"].get("max_tokens_per_forward", 16384)),
        )

    def score(self, items: Sequence[dict[str, Any] | RankedRecord], batch_size: int = 64) -> list[list[float]]:
        """Rewards for ``[{"prompt", "context"?, "completions": [...]}, ...]`` (or RankedRecords), one list per item."""
        sequences: list[EncodedSequence] = []
        sizes = []
        for item in items:
            if isinstance(item, RankedRecord):
                context, prompt, completions = item.context, item.prompt, item.completions
            else:
                context = context_turns(item.get("context"))
                prompt = item["prompt"]
                completions = [completion_text(value) for value in item["completions"]]
            sequences.extend(self.encoder.encode(context, prompt, completions))
            sizes.append(len(completions))
        flat = self.score_sequences(sequences, batch_size)
        out, start = [], 0
        for size in sizes:
            out.append(flat[start : start + size])
            start += size
        return out

    def score_texts(self, texts: Sequence[str], batch_size: int = 64) -> list[float]:
        """Rewards for raw full texts (prompt and response joined); over-long texts lose their start."""
        return self.score_sequences(self.encoder.encode_texts(list(texts)), batch_size)

    def score_sequences(self, sequences: list[EncodedSequence], batch_size: int = 64) -> list[float]:
        """Rewards (bias applied) for encoded sequences, batched by length so little is padded."""
        rewards = torch.empty(len(sequences), dtype=torch.float32)
        pad_token_id = self.tokenizer.pad_token_id
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]), reverse=True)
        with torch.inference_mode(), autocast(self.device, self.bf16):
            for start in range(0, len(order), batch_size):
                picked = torch.tensor(order[start : start + batch_size])
                rows_of_batch = [sequences[i] for i in picked.tolist()]
                for rows, inputs in padded_chunks(rows_of_batch, self.max_tokens_per_forward, pad_token_id):
                    inputs = {name: tensor.to(self.device) for name, tensor in inputs.items()}
                    logits = self.model(**inputs).logits[:, 0].float().cpu()
                    rewards[picked[rows]] = logits
        return (rewards + self.bias).tolist()
