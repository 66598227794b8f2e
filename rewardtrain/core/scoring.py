"""Score completions with a trained artifact, without the database. Load once; safe to share across threads.

Example::

    from rewardtrain.core.scoring import RewardScorer

    scorer = RewardScorer.load("artifacts/rm")
    scorer.score([{"prompt": "Say hi", "completions": ["Hi!", "No."]}])  # [[0.8, -1.1]]
    scorer.score_texts(["User: Say hi\\n\\nAssistant: Hi!"])              # OpenRLHF /get_reward style

Rewards include the artifact's normalization bias (mean 0 over the training completions). The model runs
at the artifact's inference precision (``rewardtrain.json`` -> ``inference.precision``: bf16 weights on
bf16-capable devices, else fp32), the very path that computed the artifact's metrics and bias. The reward
head and the returned value are fp32 whatever the body runs in, so distinct texts do not tie on bf16's
8-bit mantissa.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedTokenizerBase

from rewardtrain.core.batching import padded_chunks
from rewardtrain.core.data import RankedRecord, completion_text, context_turns
from rewardtrain.core.encoding import EncodedSequence, SequenceEncoder
from rewardtrain.core.model import (
    Precision,
    autocast,
    inference_model,
    prepare_tokenizer,
    quiet_loading,
    resolve_device,
    resolve_precision,
    reward_head_in_fp32,
)

ARTIFACT_INFO = "rewardtrain.json"


class RewardScorer:
    """A reward model ready for inference: tokenizer, truncation rule, model and normalization bias.

    ``bf16`` turns on bf16 autocast; the weights are used in the dtype they have (see :attr:`precision`).
    """

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

    @property
    def precision(self) -> Precision:
        """How the model runs: "bf16" (bf16 weights), "fp32-autocast" or "fp32"."""
        if next(self.model.parameters()).dtype == torch.bfloat16:
            return "bf16"
        return "fp32-autocast" if self.bf16 else "fp32"

    @classmethod
    def for_inference(
        cls,
        model: nn.Module,
        encoder: SequenceEncoder,
        *,
        precision: Precision,
        device: torch.device,
        bias: float = 0.0,
        info: dict[str, Any] | None = None,
        max_tokens_per_forward: int = 16384,
    ) -> RewardScorer:
        """The scorer of fp32 ``model`` at ``precision``: what :meth:`load` builds, and what training's final
        evaluation and normalization bias use, so an artifact serves the scores it was evaluated with."""
        return cls(
            inference_model(model, precision),
            encoder,
            bias=bias,
            device=device,
            bf16=precision != "fp32",
            info=info,
            max_tokens_per_forward=max_tokens_per_forward,
        )

    @classmethod
    def load(cls, artifact_dir: str | Path, device: str = "auto", precision: str = "auto") -> RewardScorer:
        """Load an artifact written by :func:`rewardtrain.core.train.train`.

        ``precision``: "auto" (the artifact's recorded inference precision where the device supports it,
        else fp32; see :func:`rewardtrain.core.model.resolve_precision`), or force "fp32", "bf16" or
        "fp32-autocast".
        """
        artifact_dir = Path(artifact_dir)
        info = json.loads((artifact_dir / ARTIFACT_INFO).read_text())
        resolved_device = resolve_device(device)
        tokenizer = AutoTokenizer.from_pretrained(artifact_dir)
        with quiet_loading():
            model = AutoModelForSequenceClassification.from_pretrained(artifact_dir, dtype=torch.float32)
        prepare_tokenizer(tokenizer, model)
        model.to(resolved_device)
        recorded = (info.get("inference") or {}).get("precision")
        encoder = SequenceEncoder(tokenizer, architecture=info["architecture"], max_length=info["max_length"])
        resolved_precision = resolve_precision(precision, resolved_device, recorded)
        if resolved_precision == "fp32-autocast":
            reward_head_in_fp32(model)  # our own copy; "bf16" gets a fp32 head in inference_model's copy
        return cls.for_inference(
            model,
            encoder,
            precision=resolved_precision,
            device=resolved_device,
            bias=float(info["normalization"]["bias"]),
            info=info,
            max_tokens_per_forward=int(info["config"].get("max_tokens_per_forward", 16384)),
        )

    def score(self, items: Sequence[dict[str, Any] | RankedRecord], batch_size: int = 64) -> list[list[float]]:
        """Rewards for ``[{"prompt", "context"?, "completions": [...]}, ...]`` (or RankedRecords), one list per item."""
        sequences, sizes = self.encode_items(items)
        return split_by_sizes(self.score_sequences(sequences, batch_size), sizes)

    def encode_items(self, items: Sequence[dict[str, Any] | RankedRecord]) -> tuple[list[EncodedSequence], list[int]]:
        """Every item's completions as encoded sequences (in order), and how many each item has."""
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
        return sequences, sizes

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


def split_by_sizes(flat: list[float], sizes: list[int]) -> list[list[float]]:
    """``flat`` cut into consecutive lists of ``sizes`` elements."""
    out, start = [], 0
    for size in sizes:
        out.append(flat[start : start + size])
        start += size
    return out


class _Job:
    __slots__ = ("sequences", "result", "error", "done")

    def __init__(self, sequences: list[EncodedSequence]) -> None:
        self.sequences = sequences
        self.result: list[float] | None = None
        self.error: BaseException | None = None
        self.done = False


class MicroBatcher:
    """Scores concurrent callers' sequences together: one forward for many small requests. Thread-safe.

    While a forward runs, new callers queue; when it ends, one waiting caller takes every queued job (up
    to ``max_sequences``; at least one job) into the next forward, and each caller gets its own rewards
    in its own order. With one caller at a time it is a plain lock around the scorer (no added wait);
    ``gather_seconds`` > 0 makes a caller who finds the model idle wait that long for others first.
    When a combined forward fails, its jobs are retried one by one, so an error reaches only the
    request that causes it.

    A reward can differ in the last bits with what else shares its forward (padding, kernel blocking),
    as it already does with the other completions of one request.
    """

    def __init__(self, scorer: RewardScorer, *, max_sequences: int = 256, gather_seconds: float = 0.0) -> None:
        self.scorer = scorer
        self.max_sequences = max_sequences
        self.gather_seconds = gather_seconds
        self._queue: list[_Job] = []
        self._busy = False
        self._changed = threading.Condition()
        self.forwards = 0  # combined model calls so far (for tests and benchmarks)

    def score(self, items: Sequence[dict[str, Any] | RankedRecord]) -> list[list[float]]:
        """Like :meth:`RewardScorer.score`; tokenization runs in the caller's thread, outside the queue."""
        sequences, sizes = self.scorer.encode_items(items)
        return split_by_sizes(self.score_sequences(sequences), sizes)

    def score_texts(self, texts: Sequence[str]) -> list[float]:
        """Like :meth:`RewardScorer.score_texts`."""
        return self.score_sequences(self.scorer.encoder.encode_texts(list(texts)))

    def score_sequences(self, sequences: list[EncodedSequence]) -> list[float]:
        job = _Job(sequences)
        with self._changed:
            self._queue.append(job)
            while not job.done:
                if self._busy:
                    self._changed.wait()
                    continue
                self._busy = True
                if self.gather_seconds > 0:
                    self._changed.wait(self.gather_seconds)  # others may queue meanwhile (the model stays ours)
                batch = self._take()
                self._changed.release()
                try:
                    self._run(batch)
                finally:
                    for taken in batch:  # only after an interrupt (KeyboardInterrupt...): no caller waits forever
                        if not taken.done:
                            taken.error, taken.done = RuntimeError("scoring was interrupted"), True
                    self._changed.acquire()
                    self._busy = False
                    self._changed.notify_all()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _take(self) -> list[_Job]:
        """Queued jobs, oldest first, up to ``max_sequences`` sequences (always at least one job)."""
        count, taken = 0, 0
        for job in self._queue:
            if taken and count + len(job.sequences) > self.max_sequences:
                break
            count += len(job.sequences)
            taken += 1
        batch, self._queue = self._queue[:taken], self._queue[taken:]
        return batch

    def _run(self, batch: list[_Job]) -> None:
        self.forwards += 1
        try:
            flat = self.scorer.score_sequences([sequence for job in batch for sequence in job.sequences])
        except Exception as error:
            if len(batch) == 1:
                batch[0].error, batch[0].done = error, True
                return
            for job in batch:  # find whose input fails; the others still get their rewards
                self._run([job])
            return
        for job, rewards in zip(batch, split_by_sizes(flat, [len(job.sequences) for job in batch]), strict=True):
            job.result, job.done = rewards, True
