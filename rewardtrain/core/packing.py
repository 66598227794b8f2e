"""Prefix sharing for decoder reward models: the completions of one prompt in one packed sequence.

A decoder reads left to right, so the K sequences of one group (context + prompt + completion k) all
compute the same hidden states over their common prefix. Packed, the group is one row::

    sequences   a = [p0 p1 p2 a0 a1]      b = [p0 p1 p2 b0]      c = [p0 p1 p2 c0 c1 c2]
    packed row      [p0 p1 p2 a0 a1 b0 c0 c1 c2]
    segments        [ 0  0  0  1  1  2  3  3  3]     0: the shared prefix, k: sequence k's own tokens
    positions       [ 0  1  2  3  4  3  3  4  5]     restarting after the prefix for every sequence

Under a 4D attention mask where a token sees the earlier tokens of its own segment and the prefix only,
every token has the same inputs, positions and visible keys as in its own sequence, so each sequence's
reward, read at the position the model's own pooling reads (its last token that is not the pad token),
is the unshared forward's reward up to rounding, and so are the gradients. The prefix is forwarded once.

What is shared is the longest common prefix of token ids, so truncation needs no special case: sequences
that :func:`rewardtrain.core.encoding.fit_to_budget` cut differently just share less (or sit in rows of
their own). :func:`plan_packing` joins sequences of a group into a row only where the estimated cost
(tokens forwarded plus the dense attention the masked row still computes) goes down, and never past
``max_packed_length`` tokens: a long group becomes several rows, each with its own copy of the prefix,
down to one sequence per row, which is the unshared forward itself.

Example::

    from rewardtrain.core.packing import PrefixSharing

    sharing = PrefixSharing.for_model(model, architecture="decoder", max_length=1024)
    for rows, inputs in sharing.chunks(sequences, group_sizes=[4, 6], max_tokens=16384):
        rewards[rows] = sharing.rewards(model, inputs)  # works for packed and plain inputs alike
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Sized
from dataclasses import dataclass

import torch
from torch import nn

from rewardtrain.core.batching import chunk_plan, padded_chunks, padded_tokens
from rewardtrain.core.encoding import EncodedSequence
from rewardtrain.core.model import attention_implementation, base_model, reward_head

# Attention kernels that honour a custom 4D mask and explicit position ids (flash-attention does not).
PACKING_ATTENTION = ("eager", "sdpa")


@dataclass
class PackedRow:
    """One forward row: a shared prefix, then each member sequence's own tokens."""

    input_ids: list[int]
    position_ids: list[int]
    segment_ids: list[int]  # 0: shared prefix; k >= 1: the k-th member's own tokens

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class PackPlan:
    rows: list[PackedRow]
    read_row: list[int]  # for each sequence: the row that holds it ...
    read_position: list[int]  # ... and the index in that row where its reward is read

    @property
    def tokens(self) -> int:
        return sum(len(row) for row in self.rows)


def reward_position(ids: list[int], pad_token_id: int | None) -> int:
    """Where ``*ForSequenceClassification`` reads a sequence's reward: its last token that is not the pad
    token (decoders often pad with EOS, which chat templates also end turns with), else index 0."""
    if pad_token_id is None:
        return len(ids) - 1
    for index in range(len(ids) - 1, -1, -1):
        if ids[index] != pad_token_id:
            return index
    return 0


def common_prefix_length(a: list[int], b: list[int]) -> int:
    limit = min(len(a), len(b))
    for index in range(limit):
        if a[index] != b[index]:
            return index
    return limit


@dataclass
class _Row:
    members: list[int]  # sequence indices; all share the first ``prefix`` tokens of members[0]
    prefix: int


def _row_cost(lengths: list[int], prefix: int, pairs_per_token: float) -> float:
    """Tokens forwarded plus the row's dense L x L attention, in token equivalents."""
    width = prefix + sum(length - prefix for length in lengths)
    return width + width * width / pairs_per_token


def plan_packing(
    sequences: list[EncodedSequence],
    group_sizes: list[int],
    *,
    pad_token_id: int | None,
    max_packed_length: int,
    pairs_per_token: float,
) -> PackPlan:
    """Pack each group (consecutive ``group_sizes`` sequences) into as few rows as pay off.

    Greedy, sequence by sequence: join the existing row of the group where the estimated cost falls the
    most (the row's shared prefix shrinks to what the newcomer has in common with it), or open a new row.
    Every member keeps at least one token of its own, so each reward is read from its own segment or,
    when all its own tokens are pad tokens, from the prefix position its unshared forward reads.
    """
    if sum(group_sizes) != len(sequences):
        raise ValueError(f"group sizes add up to {sum(group_sizes)}, not to the {len(sequences)} sequences")
    rows: list[_Row] = []
    start = 0
    for size in group_sizes:
        group_rows: list[_Row] = []
        for index in range(start, start + size):
            ids = sequences[index].input_ids
            best, best_gain, best_prefix = None, 0.0, 0
            for row in group_rows:
                lengths = [len(sequences[m]) for m in row.members]
                prefix = min(row.prefix, common_prefix_length(sequences[row.members[0]].input_ids, ids), len(ids) - 1)
                joined = [*lengths, len(ids)]
                if prefix <= 0 or prefix + sum(length - prefix for length in joined) > max_packed_length:
                    continue
                gain = (
                    _row_cost(lengths, row.prefix, pairs_per_token)
                    + _row_cost([len(ids)], 0, pairs_per_token)
                    - _row_cost(joined, prefix, pairs_per_token)
                )
                if gain > best_gain:
                    best, best_gain, best_prefix = row, gain, prefix
            if best is None:
                group_rows.append(_Row([index], max(len(ids) - 1, 0)))
            else:
                best.members.append(index)
                best.prefix = best_prefix
        rows.extend(group_rows)
        start += size
    return _assemble(sequences, rows, pad_token_id)


def _assemble(sequences: list[EncodedSequence], rows: list[_Row], pad_token_id: int | None) -> PackPlan:
    read_row = [0] * len(sequences)
    read_position = [0] * len(sequences)
    packed = []
    for row_index, row in enumerate(rows):
        prefix = row.prefix if len(row.members) > 1 else len(sequences[row.members[0]])
        ids = list(sequences[row.members[0]].input_ids[:prefix])
        positions = list(range(prefix))
        segments = [0] * prefix
        for segment, member in enumerate(row.members, start=1):
            own = sequences[member].input_ids[prefix:]
            offset = len(ids)
            read = reward_position(sequences[member].input_ids, pad_token_id)
            read_row[member] = row_index
            read_position[member] = read if read < prefix else offset + read - prefix
            ids.extend(own)
            positions.extend(range(prefix, prefix + len(own)))
            segments.extend([segment] * len(own))
        packed.append(PackedRow(ids, positions, segments))
    return PackPlan(packed, read_row, read_position)


def packed_chunks(
    plan: PackPlan, max_tokens: int, pad_token_id: int
) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """Yield (sequence indices, model inputs) for each forward: rows padded to a common width, with
    ``segment_ids`` (-1 on padding) from which :func:`packed_attention_mask` builds the mask on the device,
    and ``read_index``: where in the flattened [rows x width] output each listed sequence's reward is."""
    members: dict[int, list[int]] = {}
    for sequence, row in enumerate(plan.read_row):
        members.setdefault(row, []).append(sequence)
    for picked in chunk_plan(plan.rows, max_tokens):
        width = len(plan.rows[picked[0]])
        input_ids = torch.full((len(picked), width), pad_token_id, dtype=torch.long)
        position_ids = torch.zeros((len(picked), width), dtype=torch.long)
        segment_ids = torch.full((len(picked), width), -1, dtype=torch.long)
        sequences, read_index = [], []
        for slot, row_index in enumerate(picked):
            row = plan.rows[row_index]
            input_ids[slot, : len(row)] = torch.tensor(row.input_ids)
            position_ids[slot, : len(row)] = torch.tensor(row.position_ids)
            segment_ids[slot, : len(row)] = torch.tensor(row.segment_ids)
            for sequence in members.get(row_index, []):
                sequences.append(sequence)
                read_index.append(slot * width + plan.read_position[sequence])
        inputs = {
            "input_ids": input_ids,
            "position_ids": position_ids,
            "segment_ids": segment_ids,
            "read_index": torch.tensor(read_index, dtype=torch.long),
        }
        yield torch.tensor(sequences, dtype=torch.long), inputs


def packed_attention_mask(segment_ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive [rows, 1, width, width] mask: a token sees the earlier tokens of its own segment and of the
    shared prefix (segment 0). Padding (-1) sees earlier padding only, so no row of the softmax is empty."""
    width = segment_ids.shape[1]
    index = torch.arange(width, device=segment_ids.device)
    causal = index[:, None] >= index[None, :]
    same_segment = segment_ids[:, :, None] == segment_ids[:, None, :]
    prefix_key = (segment_ids[:, None, :] == 0) & (segment_ids[:, :, None] >= 0)
    allowed = causal[None] & (same_segment | prefix_key)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=segment_ids.device)
    return mask.masked_fill_(~allowed, torch.finfo(dtype).min)[:, None]


def packed_rewards(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Rewards of the sequences of one packed forward (order of ``read_index``): the body once over the
    packed rows, the score head at each sequence's read position."""
    return packed_outputs(model, inputs)[:, 0]


def packed_outputs(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Every output of the score head ([sequences, heads]) for one packed forward (reward = output 0)."""
    base = base_model(model)
    body = getattr(base, base.base_model_prefix)
    dtype = body.get_input_embeddings().weight.dtype  # what the model's own causal mask would use
    hidden = body(
        input_ids=inputs["input_ids"],
        attention_mask=packed_attention_mask(inputs["segment_ids"], dtype),
        position_ids=inputs["position_ids"],
        use_cache=False,
    ).last_hidden_state
    head = reward_head(base)
    assert head is not None  # PrefixSharing.for_model checked it
    return head(hidden.flatten(0, 1)[inputs["read_index"]])


def sequence_rewards(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Rewards of one forward's sequences: packed inputs (from :func:`packed_chunks`) or plain padded ones."""
    return sequence_outputs(model, inputs)[:, 0]


def sequence_outputs(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Every output of the score head ([sequences, heads]; the reward is 0, then the length and uncertainty
    heads a model may have) for one forward, packed or plain."""
    if "segment_ids" in inputs:
        return packed_outputs(model, inputs)
    return model(**inputs).logits


def attention_pairs_per_token(config: object) -> float:
    """How many query-key pairs of attention cost as much as one token through the linear layers.

    Per layer, a token costs about 2 x (q, k, v, o and MLP weights) multiply-adds, a query-key pair
    about 4 x hidden (scores and weighted values). A packed row's masked attention is computed densely
    (eager and SDPA alike), so a long row pays for pairs that the mask throws away.
    """
    hidden = getattr(config, "hidden_size", None) or 1024
    intermediate = getattr(config, "intermediate_size", None) or 4 * hidden
    heads = getattr(config, "num_attention_heads", None) or 1
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    kv_width = hidden * kv_heads // heads
    weights = 2 * hidden * hidden + 2 * hidden * kv_width + 3 * hidden * intermediate
    return 2 * weights / (4 * hidden)


def sliding_window(config: object) -> int | None:
    """The attention window of models that restrict attention to recent tokens (None: full attention)."""
    if getattr(config, "use_sliding_window", True) is False:
        return None
    window = getattr(config, "sliding_window", None)
    return window if isinstance(window, int) and window > 0 else None


@dataclass
class PrefixSharing:
    """Whether and how a model's forwards share each group's prefix; ``enabled`` False: the plain path."""

    enabled: bool
    pad_token_id: int
    max_packed_length: int = 4096
    pairs_per_token: float = 1024.0
    reason: str = ""  # why it is off, for logs and the artifact

    @classmethod
    def for_model(
        cls,
        model: nn.Module,
        *,
        architecture: str,
        max_length: int,
        enabled: bool = True,
        max_packed_length: int = 4096,
    ) -> PrefixSharing:
        """On where it is exact: a decoder with a ``score`` head on a body that takes a 4D mask and position
        ids (eager or SDPA attention), no sliding window shorter than ``max_length``, and a probe forward
        that gives the unshared rewards. Otherwise off, with the reason."""
        base = base_model(model)
        config = getattr(base, "config", None)
        pad_token_id = getattr(config, "pad_token_id", None)
        sharing = cls(
            False,
            pad_token_id if isinstance(pad_token_id, int) else 0,
            max(max_packed_length, max_length),
            attention_pairs_per_token(config),
        )
        window = sliding_window(config)
        if not enabled:
            sharing.reason = "switched off (prefix_sharing=False)"
        elif architecture != "decoder":
            sharing.reason = "encoders attend both ways: a shared prefix would see the completions"
        elif not isinstance(pad_token_id, int):
            sharing.reason = "the model has no pad token id (its pooling reads the last position then)"
        elif reward_head(base) is None or not isinstance(getattr(base, base.base_model_prefix, None), nn.Module):
            sharing.reason = f"{type(base).__name__} has no reward head on a `base_model_prefix` body"
        elif (attention_implementation(base) or "eager") not in PACKING_ATTENTION:
            sharing.reason = f"attention {attention_implementation(base)!r} takes no custom 4D mask"
        elif window is not None and window < max_length:
            sharing.reason = f"sliding-window attention ({window} < max_length {max_length})"
        elif not _probe_is_exact(model, sharing):
            sharing.reason = "a probe forward differed from the unshared rewards"
        else:
            sharing.enabled = True
        return sharing

    def plan(self, sequences: list[EncodedSequence], group_sizes: list[int]) -> PackPlan:
        return plan_packing(
            sequences,
            group_sizes,
            pad_token_id=self.pad_token_id,
            max_packed_length=self.max_packed_length,
            pairs_per_token=self.pairs_per_token,
        )

    def chunks(
        self, sequences: list[EncodedSequence], group_sizes: list[int] | None, max_tokens: int
    ) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        """(sequence indices, inputs) of each forward: packed where on and it costs less, else padded."""
        plan = self.choose(sequences, group_sizes, max_tokens)
        if plan is None:
            return padded_chunks(sequences, max_tokens, self.pad_token_id)
        return packed_chunks(plan, max_tokens, self.pad_token_id)

    def choose(
        self, sequences: list[EncodedSequence], group_sizes: list[int] | None, max_tokens: int
    ) -> PackPlan | None:
        """The packing plan of these sequences, or None where the plain forwards cost less: packed rows
        are padded to a common width per forward too, and their attention is L x L."""
        if not self.enabled or group_sizes is None or all(size <= 1 for size in group_sizes):
            return None
        if any(sequence.token_type_ids for sequence in sequences):
            return None
        plan = self.plan(sequences, group_sizes)
        return plan if self.cost(plan.rows, max_tokens) < self.cost(sequences, max_tokens) else None

    def cost(self, rows: Sequence[Sized], max_tokens: int) -> float:
        """Padded tokens of the forwards plus their dense attention, in token equivalents."""
        total = 0.0
        for chunk in chunk_plan(rows, max_tokens):
            width = len(rows[chunk[0]])
            total += len(chunk) * (width + width * width / self.pairs_per_token)
        return total

    def tokens_forwarded(self, sequences: list[EncodedSequence], group_sizes: list[int] | None, max_tokens: int) -> int:
        """Tokens the model reads for these sequences, padding included."""
        plan = self.choose(sequences, group_sizes, max_tokens)
        return padded_tokens(sequences if plan is None else plan.rows, max_tokens)

    @staticmethod
    def rewards(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return sequence_rewards(model, inputs)

    @staticmethod
    def outputs(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return sequence_outputs(model, inputs)


def _probe_is_exact(model: nn.Module, sharing: PrefixSharing) -> bool:
    """Score a small made-up group both ways (eval mode, no gradients) and compare."""
    base = base_model(model)
    vocabulary = base.get_input_embeddings().weight.shape[0]
    device = base.get_input_embeddings().weight.device
    generator = torch.Generator().manual_seed(0)
    tokens = [t for t in torch.randint(0, vocabulary, (64,), generator=generator).tolist() if t != sharing.pad_token_id]
    prefix = tokens[:7]
    sequences = [EncodedSequence(prefix + tokens[start:end]) for start, end in ((7, 10), (10, 15), (15, 16))]
    probe = PrefixSharing(True, sharing.pad_token_id, sharing.max_packed_length, float("inf"))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            plain = torch.empty(len(sequences))
            for rows, inputs in padded_chunks(sequences, 1 << 20, sharing.pad_token_id):
                inputs = {name: tensor.to(device) for name, tensor in inputs.items()}
                plain[rows] = model(**inputs).logits[:, 0].float().cpu()
            shared = torch.empty(len(sequences))
            for rows, inputs in probe.chunks(sequences, [len(sequences)], 1 << 20):
                inputs = {name: tensor.to(device) for name, tensor in inputs.items()}
                shared[rows] = packed_rewards(model, inputs).float().cpu()
    except Exception:  # a body that rejects 4D masks or position ids: not exact, the plain path stays
        return False
    finally:
        model.train(was_training)
    low_precision = base.get_input_embeddings().weight.dtype != torch.float32
    tolerance = 5e-2 if low_precision else 1e-3
    return bool(torch.allclose(plain, shared, rtol=tolerance, atol=tolerance * (1 + float(plain.abs().max()))))
