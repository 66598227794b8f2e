"""Score completions with a trained artifact, without the database. Load once; safe to share across threads.

Example::

    from rewardtrain.core.scoring import RewardScorer

    scorer = RewardScorer.load("artifacts/rm")
    scorer.score([{"prompt": "Say hi", "completions": ["Hi!", "No."]}])  # [[0.8, -1.1]]
    scorer.score_texts(["User: Say hi\\n\\nAssistant: Hi!"])              # OpenRLHF /get_reward style

Rewards include the artifact's normalization bias (mean 0 over the training completions). An artifact
trained with ``uncertainty_heads`` also gives each reward an uncertainty (the spread of its bootstrap heads,
same forward)::

    rewards, uncertainties = scorer.score(items, with_uncertainty=True)

The model runs
at the artifact's inference precision (``rewardtrain.json`` -> ``inference.precision``: bf16 weights on
bf16-capable devices, else fp32), the very path that computed the artifact's metrics and bias. The reward
head and the returned value are fp32 whatever the body runs in, so distinct texts do not tie on bf16's
8-bit mantissa.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedTokenizerBase

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
    resolve_tokens_per_forward,
    reward_head_in_fp32,
)
from rewardtrain.core.packing import PrefixSharing

ARTIFACT_INFO = "rewardtrain.json"


def head_layout(length_head: bool, uncertainty_heads: int) -> dict[str, Any]:
    """Which output of the score layer is what: the served reward is 0, then the length head (trained, never
    served), then the uncertainty heads. Saved in the artifact as ``heads``."""
    first = 2 if length_head else 1
    return {
        "reward": 0,
        "length": 1 if length_head else None,
        "uncertainty": list(range(first, first + uncertainty_heads)),
    }


class ScoredWithUncertainty(NamedTuple):
    rewards: list[list[float]]  # as RewardScorer.score
    uncertainties: list[list[float]]  # the standard deviation of each reward over the uncertainty heads


class NotTrainedFor(ValueError):
    """Asked of a model for what it was not trained to give (uncertainty heads, a style term)."""


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
        max_tokens_per_forward: int = 0,
        prefix_sharing: bool = True,
        max_packed_length: int = 4096,
    ) -> None:
        self.model = model
        self.encoder = encoder
        self.bias = bias
        self.device = device or next(model.parameters()).device
        self.bf16 = bf16
        self.info = info or {}
        # 0: the device's budget for inference (resolve_tokens_per_forward)
        self.max_tokens_per_forward = resolve_tokens_per_forward(max_tokens_per_forward, self.device, training=False)
        # The completions of one prompt share one forward of their prompt (decoders; see core/packing.py).
        self.sharing = PrefixSharing.for_model(
            model,
            architecture=encoder.architecture,
            max_length=encoder.max_length,
            enabled=prefix_sharing,
            max_packed_length=max_packed_length,
        )
        self.heads: dict[str, Any] = self.info.get("heads") or head_layout(False, 0)
        # each output's own centring (mean 0 over the training completions), for the uncertainty heads
        self.head_bias: list[float] | None = (self.info.get("normalization") or {}).get("head_bias")
        self.include_style = False  # add the style term beta . s(completion) to rewards (style-controlled models)

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
        max_tokens_per_forward: int = 0,
        prefix_sharing: bool = True,
        max_packed_length: int = 4096,
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
            prefix_sharing=prefix_sharing,
            max_packed_length=max_packed_length,
        )

    @classmethod
    def load(
        cls, artifact_dir: str | Path, device: str = "auto", precision: str = "auto", *, include_style: bool = False
    ) -> RewardScorer:
        """Load an artifact written by :func:`rewardtrain.core.train.train`.

        ``precision``: "auto" (the artifact's recorded inference precision where the device supports it,
        else fp32; see :func:`rewardtrain.core.model.resolve_precision`), or force "fp32", "bf16" or
        "fp32-autocast". ``include_style``: for a style-controlled model, serve ``r + beta . s`` (the
        preference including style, as training fitted it) instead of the content reward ``r`` alone.
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
        scorer = cls.for_inference(
            model,
            encoder,
            precision=resolved_precision,
            device=resolved_device,
            bias=float(info["normalization"]["bias"]),
            info=info,
            max_tokens_per_forward=int(info["config"].get("max_tokens_per_forward", 0)),
            prefix_sharing=bool(info["config"].get("prefix_sharing", True)),
            max_packed_length=int(info["config"].get("max_packed_length", 4096)),
        )
        if include_style and not scorer.has_style:
            raise ValueError(f"{artifact_dir} was not trained with style control: there is no style term to include")
        scorer.include_style = include_style
        return scorer

    def score(
        self,
        items: Sequence[dict[str, Any] | RankedRecord],
        batch_size: int = 64,
        *,
        with_uncertainty: bool = False,
    ) -> Any:
        """Rewards for ``[{"prompt", "context"?, "completions": [...]}, ...]`` (or RankedRecords), one list per item.

        ``with_uncertainty=True`` returns ``(rewards, uncertainties)`` (:class:`ScoredWithUncertainty`) from the
        same forward: each reward's standard deviation over the artifact's uncertainty heads. Held-out pairs
        the model orders wrongly get larger uncertainties (AUROC in the artifact's metrics, ``uncertainty``).
        """
        self.check_asked(with_uncertainty=with_uncertainty, include_style=self.include_style)
        sequences, sizes = self.encode_items(items)
        outputs = self.score_outputs(sequences, batch_size, group_sizes=sizes)
        return self.scored(outputs, items, sizes, with_uncertainty=with_uncertainty, include_style=self.include_style)

    def scored(
        self,
        outputs: torch.Tensor,
        items: Sequence[dict[str, Any] | RankedRecord],
        sizes: list[int],
        *,
        with_uncertainty: bool = False,
        include_style: bool = False,
    ) -> Any:
        """What :meth:`score` returns, from the score layer's ``outputs`` for ``items`` (of ``sizes`` completions)."""
        rewards = outputs[:, 0] + self.bias
        if include_style:
            rewards = rewards + torch.tensor(self._style_terms(items))
        scored = split_by_sizes(rewards.tolist(), sizes)
        if not with_uncertainty:
            return scored
        return ScoredWithUncertainty(scored, split_by_sizes(self.uncertainty_of(outputs).tolist(), sizes))

    def check_asked(self, *, with_uncertainty: bool = False, include_style: bool = False) -> None:
        """NotTrainedFor (a ValueError), before any forward, if the model cannot give what is asked of it."""
        if with_uncertainty and not self.has_uncertainty:
            raise NotTrainedFor("this model has no uncertainty heads: train it with uncertainty_heads >= 2")
        if include_style and not self.has_style:
            raise NotTrainedFor("this model was not trained with style control: there is no style term to include")

    @property
    def has_uncertainty(self) -> bool:
        return len(self.heads.get("uncertainty") or []) >= 2

    @property
    def has_style(self) -> bool:
        return bool((self.info.get("style") or {}).get("beta"))

    def uncertainty_of(self, outputs: torch.Tensor) -> torch.Tensor:
        """Per row of ``outputs`` ([n, heads], as :meth:`score_outputs`), the spread of the uncertainty heads."""
        self.check_asked(with_uncertainty=True)
        columns = self.heads["uncertainty"]
        centred = outputs[:, columns] + torch.tensor([self.head_bias[c] for c in columns] if self.head_bias else 0.0)
        return centred.std(dim=1)

    def _style_terms(self, items: Sequence[dict[str, Any] | RankedRecord]) -> list[float]:
        from rewardtrain.core.style import StyleScaler, style_features

        style = self.info["style"]
        scaler, beta = StyleScaler.from_dict(style), style["beta"]
        terms = []
        for item in items:
            completions = item.completions if isinstance(item, RankedRecord) else item["completions"]
            for value in completions:
                features = scaler.transform(style_features(completion_text(value)))
                terms.append(sum(b * f for b, f in zip(beta, features, strict=True)))
        return terms

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

    def score_sequences(
        self, sequences: list[EncodedSequence], batch_size: int = 64, *, group_sizes: list[int] | None = None
    ) -> list[float]:
        """Rewards (bias applied) for encoded sequences, batched by length so little is padded.

        ``group_sizes``: consecutive sequences that are completions of one prompt; each group's common
        prefix is then forwarded once where :attr:`sharing` is on. Groups are never split across batches.
        """
        return (self.score_outputs(sequences, batch_size, group_sizes=group_sizes)[:, 0] + self.bias).tolist()

    def score_outputs(
        self, sequences: list[EncodedSequence], batch_size: int = 64, *, group_sizes: list[int] | None = None
    ) -> torch.Tensor:
        """Every output of the score layer ([sequences, heads], fp32, no bias) for encoded sequences."""
        outputs = torch.empty(len(sequences), self.output_count, dtype=torch.float32)
        groups = _group_ranges(group_sizes or [1] * len(sequences))
        order = sorted(groups, key=lambda group: max((len(sequences[i]) for i in group), default=0), reverse=True)
        with torch.inference_mode(), autocast(self.device, self.bf16):
            for batch in _batches_of_groups(order, batch_size):
                picked = torch.tensor([i for group in batch for i in group], dtype=torch.long)
                rows_of_batch = [sequences[i] for i in picked.tolist()]
                sizes = [len(group) for group in batch]
                for rows, inputs in self.sharing.chunks(rows_of_batch, sizes, self.max_tokens_per_forward):
                    inputs = {name: tensor.to(self.device) for name, tensor in inputs.items()}
                    outputs[picked[rows]] = self.sharing.outputs(self.model, inputs).float().cpu()
        return outputs

    @property
    def output_count(self) -> int:
        return int(getattr(self.model.config, "num_labels", 1))


def _group_ranges(sizes: list[int]) -> list[range]:
    if any(size < 0 for size in sizes):
        raise ValueError("group sizes must not be negative")
    starts = [0]
    for size in sizes:
        starts.append(starts[-1] + size)
    return [range(start, start + size) for start, size in zip(starts, sizes, strict=False) if size]


def _batches_of_groups(groups: list[range], batch_size: int) -> Iterator[list[range]]:
    """Whole groups, about ``batch_size`` sequences at a time (a bigger group is a batch of its own)."""
    batch: list[range] = []
    count = 0
    for group in groups:
        if batch and count + len(group) > batch_size:
            yield batch
            batch, count = [], 0
        batch.append(group)
        count += len(group)
    if batch:
        yield batch


def split_by_sizes(flat: list[float], sizes: list[int]) -> list[list[float]]:
    """``flat`` cut into consecutive lists of ``sizes`` elements."""
    out, start = [], 0
    for size in sizes:
        out.append(flat[start : start + size])
        start += size
    return out


class _Job:
    __slots__ = ("sequences", "group_sizes", "result", "error", "done")

    def __init__(self, sequences: list[EncodedSequence], group_sizes: list[int]) -> None:
        self.sequences = sequences
        self.group_sizes = group_sizes
        self.result: torch.Tensor | None = None  # the score layer's outputs, one row per sequence
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

    def score(
        self,
        items: Sequence[dict[str, Any] | RankedRecord],
        *,
        with_uncertainty: bool = False,
        include_style: bool | None = None,
    ) -> Any:
        """Like :meth:`RewardScorer.score`; tokenization runs in the caller's thread, outside the queue.
        ``include_style`` (None: the scorer's own setting) adds a style-controlled model's style term."""
        include_style = self.scorer.include_style if include_style is None else include_style
        self.scorer.check_asked(with_uncertainty=with_uncertainty, include_style=include_style)
        sequences, sizes = self.scorer.encode_items(items)
        outputs = self.score_outputs(sequences, group_sizes=sizes)
        return self.scorer.scored(outputs, items, sizes, with_uncertainty=with_uncertainty, include_style=include_style)

    def score_texts(self, texts: Sequence[str]) -> list[float]:
        """Like :meth:`RewardScorer.score_texts`."""
        return self.score_sequences(self.scorer.encoder.encode_texts(list(texts)))

    def score_sequences(self, sequences: list[EncodedSequence], *, group_sizes: list[int] | None = None) -> list[float]:
        """``group_sizes`` as in :meth:`RewardScorer.score_sequences` (default: every sequence alone)."""
        return (self.score_outputs(sequences, group_sizes=group_sizes)[:, 0] + self.scorer.bias).tolist()

    def score_outputs(self, sequences: list[EncodedSequence], *, group_sizes: list[int] | None = None) -> torch.Tensor:
        """Like :meth:`RewardScorer.score_outputs`, in a forward shared with whoever else is queued."""
        job = _Job(sequences, group_sizes if group_sizes is not None else [1] * len(sequences))
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
            outputs = self.scorer.score_outputs(
                [sequence for job in batch for sequence in job.sequences],
                group_sizes=[size for job in batch for size in job.group_sizes],
            )
        except Exception as error:
            if len(batch) == 1:
                batch[0].error, batch[0].done = error, True
                return
            for job in batch:  # find whose input fails; the others still get their rewards
                self._run([job])
            return
        for job, rows in zip(batch, outputs.split([len(job.sequences) for job in batch]), strict=True):
            job.result, job.done = rows, True
