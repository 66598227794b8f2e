"""Ranked records and the files they come from.

A :class:`RankedRecord` is one prompt (with the conversation above it) and the completions a human
ranked. The ranking is either

- ``order``: groups of completion indices, best group first; a group of several is a tie
  (``[[2], [0, 3], [1]]``: 2 beat everything, 0 and 3 tied, 1 lost to all), or
- ``pairs``: explicit ``(winner, loser, margin)`` preferences, for data that is not a total order --
  TRL pairwise files regrouped by prompt land here, because nothing guarantees their pairs agree.

Both give :meth:`RankedRecord.comparisons`, the list of strict preferences that the loss and the
metrics use; tied completions never appear in it.

Files (plain or gzip, detected by content):

- K-wise rankings JSONL (the ``rankings`` export)::

      {"prompt": "...", "context": [{"role": "user", "text": "..."}], "completions": ["a", {"text": "b"}],
       "order": [[1], [0]], "id": "optional"}

  ``pairs: [[winner, loser], [winner, loser, margin], ...]`` may replace ``order``.
- TRL pairwise JSONL ``{"prompt"?, "chosen", "rejected", "margin"?}``: lines sharing a prompt become one
  record with explicit pairs. Without ``prompt``, an Anthropic-style ``\\n\\nHuman: ... \\n\\nAssistant:``
  common prefix is split off as the prompt and context; TRL's conversational form (lists of
  ``{"role", "content"}`` messages) is read too.
- Open Assistant message trees: :func:`load_oasst_trees`.

Example::

    from rewardtrain.core.data import load_records, split_by_prompt

    records = load_records("rankings.jsonl")
    train_records, eval_records = split_by_prompt(records, eval_fraction=0.2, seed=0)
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

logger = logging.getLogger(__name__)

ROLES = ("user", "assistant", "system")
_ROLE_ALIASES = {"prompter": "user", "human": "user", "gpt": "assistant", "bot": "assistant"}
HH_HUMAN = "\n\nHuman: "
HH_ASSISTANT = "\n\nAssistant:"


class DataError(ValueError):
    """Bad input data; ``line`` is the 1-based line of the file (None for in-memory records)."""

    def __init__(self, message: str, *, line: int | None = None, path: str | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:"
        if line is not None:
            where += f"line {line}: "
        elif where:
            where += " "
        super().__init__(where + message)
        self.line = line
        self.path = path


class Comparison(NamedTuple):
    """One strict preference inside a record: completion ``winner`` beat ``loser``."""

    winner: int
    loser: int
    rank_gap: int = 1  # how many rank groups apart (1 = adjacent); 1 for explicit pairs
    margin: float = 0.0  # explicit margin (TRL's ``margin`` field); rank-gap margins are added by the loss


@dataclass
class RankedRecord:
    """One ranked prompt. Give ``order`` (groups best first) or ``pairs`` (explicit preferences)."""

    prompt: str
    completions: list[str]
    order: list[list[int]] = field(default_factory=list)
    context: list[dict[str, str]] = field(default_factory=list)  # [{"role": "user"|"assistant"|"system", "text"}]
    pairs: list[tuple[int, int, float]] | None = None  # (winner, loser, margin); used instead of order when set
    id: str | None = None
    # How much the record counts in the loss beside the others (e.g. its annotator's reliability); the
    # trainer rescales the weights so they average 1, so only their ratios matter. 0 = ignored.
    weight: float = 1.0

    def validate(self, *, line: int | None = None, path: str | None = None) -> None:
        """Raise DataError unless the record can be trained on."""

        def fail(message: str) -> None:
            raise DataError(message, line=line, path=path)

        if not isinstance(self.prompt, str):
            fail("'prompt' must be a string")
        if (
            isinstance(self.weight, bool)
            or not isinstance(self.weight, int | float)
            or not math.isfinite(self.weight)
            or self.weight < 0
        ):
            fail(f"'weight' must be a finite number >= 0, got {self.weight!r}")
        if len(self.completions) < 2:
            fail(f"a group needs at least 2 completions, got {len(self.completions)}")
        if not all(isinstance(text, str) for text in self.completions):
            fail("every completion must be a string or an object with a 'text' string")
        for turn in self.context:
            if turn.get("role") not in ROLES or not isinstance(turn.get("text"), str):
                fail(f"context turns must be {{'role': one of {ROLES}, 'text': str}}, got {turn!r}")
        if self.pairs is not None:
            if not self.pairs:
                fail("'pairs' is empty")
            for pair in self.pairs:
                winner, loser = pair[0], pair[1]
                for index in (winner, loser):
                    if not isinstance(index, int) or not 0 <= index < len(self.completions):
                        fail(f"pair {list(pair)} names unknown completion {index!r}")
                if winner == loser:
                    fail(f"pair {list(pair)} compares a completion with itself")
            return
        if not self.order:
            fail("the record has neither 'order' nor 'pairs'")
        seen: set[int] = set()
        for group in self.order:
            if not isinstance(group, list) or not group:
                fail(f"each group of 'order' must be a non-empty list of indices, got {group!r}")
            for index in group:
                if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(self.completions):
                    fail(f"'order' names unknown completion {index!r} (there are {len(self.completions)})")
                if index in seen:
                    fail(f"'order' names completion {index} twice")
                seen.add(index)
        if len(seen) < 2:
            fail("'order' ranks fewer than 2 completions")

    def comparisons(self) -> list[Comparison]:
        """Every strict preference of the record; ties are left out."""
        if self.pairs is not None:
            return [Comparison(p[0], p[1], 1, float(p[2]) if len(p) > 2 else 0.0) for p in self.pairs]
        return [
            Comparison(winner, loser, loser_rank - winner_rank)
            for winner_rank, winners in enumerate(self.order)
            for loser_rank in range(winner_rank + 1, len(self.order))
            for winner in winners
            for loser in self.order[loser_rank]
        ]

    def ranked_indices(self) -> list[int]:
        """Completions that take part in at least one comparison, in index order."""
        return sorted({index for comparison in self.comparisons() for index in comparison[:2]})

    def rank_of(self) -> dict[int, int] | None:
        """Group position of each ranked completion (0 = best), or None for explicit pairs."""
        if self.pairs is not None:
            return None
        return {index: rank for rank, group in enumerate(self.order) for index in group}

    def prompt_key(self) -> str:
        """Identity of the prompt (context + prompt): records sharing it stay on one side of a split."""
        return json.dumps([self.context, self.prompt], sort_keys=True, ensure_ascii=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"prompt": self.prompt}
        if self.context:
            out["context"] = self.context
        out["completions"] = self.completions
        if self.pairs is not None:
            out["pairs"] = [list(pair) for pair in self.pairs]
        else:
            out["order"] = self.order
        if self.id is not None:
            out["id"] = self.id
        if self.weight != 1.0:
            out["weight"] = self.weight
        return out


# --- reading files --------------------------------------------------------------------------------


def _open_text(path: str | Path) -> io.TextIOBase:
    """Open plain or gzip'd text, whatever the file's name says."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8")  # type: ignore[return-value]
    return open(path, encoding="utf-8")  # noqa: SIM115 - the caller closes it


def iter_json_lines(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; DataError names the line that does not parse."""
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"not valid JSON ({error.msg})", line=number, path=str(path)) from None
            if not isinstance(value, dict):
                raise DataError("each line must be a JSON object", line=number, path=str(path))
            yield number, value


def load_records(path: str | Path) -> list[RankedRecord]:
    """Read a K-wise rankings or TRL pairwise JSONL file (plain or gzip) into records.

    The format is decided by the first line (``completions`` -> rankings, ``chosen`` -> pairwise); a line
    of the other format later in the file is an error.
    """
    lines = iter_json_lines(path)
    first = next(lines, None)
    if first is None:
        raise DataError("the file holds no records", path=str(path))
    if "completions" in first[1]:
        return [_ranking_record(number, obj, str(path)) for number, obj in _chain_first(first, lines)]
    if "chosen" in first[1]:
        return _regroup_pairs(_chain_first(first, lines), str(path))
    if "message_tree_id" in first[1] or ("prompt" in first[1] and isinstance(first[1]["prompt"], dict)):
        return load_oasst_trees(path)
    raise DataError(
        "unknown format: expected 'completions' (rankings) or 'chosen'/'rejected' (pairwise)",
        line=first[0],
        path=str(path),
    )


def _chain_first(first: tuple[int, dict[str, Any]], rest: Iterable[tuple[int, dict[str, Any]]]):
    yield first
    yield from rest


def completion_text(value: Any, number: int | None = None, path: str | None = None) -> str:
    """A completion given as a string or as ``{"text": ...}``."""
    if isinstance(value, dict):
        value = value.get("text")
    if not isinstance(value, str):
        raise DataError("a completion must be a string or an object with a 'text' string", line=number, path=path)
    return value


def context_turns(raw: Any, number: int | None = None, path: str | None = None) -> list[dict[str, str]]:
    """Context turns as ``{role, text}``; also reads ``content`` and Open Assistant's ``prompter`` role."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise DataError("'context' must be a list of {role, text} turns", line=number, path=path)
    turns = []
    for turn in raw:
        if not isinstance(turn, dict):
            raise DataError("'context' must be a list of {role, text} turns", line=number, path=path)
        role = _ROLE_ALIASES.get(str(turn.get("role")), turn.get("role"))
        text = turn.get("text", turn.get("content"))
        if role not in ROLES or not isinstance(text, str):
            raise DataError(
                f"a context turn needs a role in {ROLES} and a 'text' string, got {turn!r}", line=number, path=path
            )
        turns.append({"role": role, "text": text})
    return turns


def _ranking_record(number: int, obj: dict[str, Any], path: str) -> RankedRecord:
    if "completions" not in obj:
        raise DataError("a rankings line needs 'completions'", line=number, path=path)
    if not isinstance(obj.get("prompt"), str):
        raise DataError("a rankings line needs a 'prompt' string", line=number, path=path)
    completions = obj["completions"]
    if not isinstance(completions, list):
        raise DataError("'completions' must be a list", line=number, path=path)
    raw_pairs = obj.get("pairs")
    pairs = None
    if raw_pairs is not None:
        if not isinstance(raw_pairs, list) or not all(isinstance(p, list) and len(p) in (2, 3) for p in raw_pairs):
            raise DataError(
                "'pairs' must be a list of [winner, loser] or [winner, loser, margin]", line=number, path=path
            )
        pairs = [(p[0], p[1], float(p[2]) if len(p) == 3 else 0.0) for p in raw_pairs]
    order = obj.get("order", [])
    if not isinstance(order, list):
        raise DataError("'order' must be a list of groups of indices", line=number, path=path)
    record = RankedRecord(
        prompt=obj["prompt"],
        completions=[completion_text(value, number, path) for value in completions],
        order=order,
        context=context_turns(obj.get("context"), number, path),
        pairs=pairs,
        id=None if obj.get("id") is None else str(obj["id"]),
        weight=obj.get("weight", 1.0),
    )
    record.validate(line=number, path=path)
    return record


def split_hh_conversation(text: str) -> tuple[list[dict[str, str]], str] | None:
    """Split an Anthropic HH prefix ``\\n\\nHuman: a\\n\\nAssistant: b\\n\\nHuman: c\\n\\nAssistant:``
    into (context turns, last human message); None if the text is not in that form."""
    if not text.startswith(HH_HUMAN) or not text.endswith(HH_ASSISTANT):
        return None
    body = text[: -len(HH_ASSISTANT)]
    turns: list[dict[str, str]] = []
    for chunk in body.split(HH_HUMAN)[1:]:
        human, *assistant = chunk.split(HH_ASSISTANT + " ")
        turns.append({"role": "user", "text": human})
        turns.extend({"role": "assistant", "text": reply} for reply in assistant)
    if not turns or turns[-1]["role"] != "user":
        return None
    return turns[:-1], turns[-1]["text"]


def _split_implicit_prompt(chosen: str, rejected: str) -> tuple[list[dict[str, str]], str, str, str]:
    """(context, prompt, chosen reply, rejected reply) from two full conversations sharing a prefix."""
    shared = 0
    for a, b in zip(chosen, rejected, strict=False):
        if a != b:
            break
        shared += 1
    cut = chosen.rfind(HH_ASSISTANT, 0, shared)
    if cut >= 0:
        end = cut + len(HH_ASSISTANT)
        parsed = split_hh_conversation(chosen[:end])
        if parsed is not None:
            context, prompt = parsed
            return context, prompt, chosen[end:].removeprefix(" "), rejected[end:].removeprefix(" ")
    return [], "", chosen, rejected


def _message_text(value: Any) -> str | None:
    """Text of a conversational TRL field: the last message of a list of {role, content} messages."""
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        content = value[-1].get("content")
        return content if isinstance(content, str) else None
    return value if isinstance(value, str) else None


def _pair_parts(number: int, obj: dict[str, Any], path: str) -> tuple[list[dict[str, str]], str, str, str, float]:
    if "chosen" not in obj or "rejected" not in obj:
        raise DataError("a pairwise line needs 'chosen' and 'rejected'", line=number, path=path)
    chosen, rejected = _message_text(obj["chosen"]), _message_text(obj["rejected"])
    if chosen is None or rejected is None:
        raise DataError("'chosen' and 'rejected' must be strings or lists of messages", line=number, path=path)
    margin = obj.get("margin", 0.0)
    if not isinstance(margin, int | float) or isinstance(margin, bool) or not math.isfinite(margin):
        raise DataError("'margin' must be a finite number", line=number, path=path)
    prompt = obj.get("prompt")
    if prompt is None:
        context, prompt_text, chosen, rejected = _split_implicit_prompt(chosen, rejected)
    elif isinstance(prompt, list):  # conversational: the last user message is the prompt
        turns = context_turns(prompt, number, path)
        if not turns or turns[-1]["role"] != "user":
            raise DataError("a conversational 'prompt' must end with a user message", line=number, path=path)
        context, prompt_text = turns[:-1], turns[-1]["text"]
    elif isinstance(prompt, str):
        context, prompt_text = [], prompt
    else:
        raise DataError("'prompt' must be a string or a list of messages", line=number, path=path)
    return context, prompt_text, chosen, rejected, float(margin)


def _regroup_pairs(lines: Iterable[tuple[int, dict[str, Any]]], path: str) -> list[RankedRecord]:
    """Pairs sharing a prompt become one record with explicit pairs (completions deduplicated by text)."""
    records: dict[str, RankedRecord] = {}
    first_line: dict[str, int] = {}
    skipped = 0
    for number, obj in lines:
        if "completions" in obj:
            raise DataError("a rankings line in a pairwise file", line=number, path=path)
        context, prompt, chosen, rejected, margin = _pair_parts(number, obj, path)
        if chosen == rejected:
            skipped += 1  # identical texts carry no preference (HH-RLHF has a couple)
            continue
        key = json.dumps([context, prompt], ensure_ascii=False)
        record = records.get(key)
        if record is None:
            record = records[key] = RankedRecord(prompt=prompt, completions=[], context=context, pairs=[])
            first_line[key] = number
        indices = []
        for text in (chosen, rejected):
            if text not in record.completions:
                record.completions.append(text)
            indices.append(record.completions.index(text))
        assert record.pairs is not None
        record.pairs.append((indices[0], indices[1], margin))
    if skipped:
        logger.warning("%s: skipped %d pairs whose chosen and rejected texts are identical", path, skipped)
    for key, record in records.items():
        record.id = f"line-{first_line[key]}"
        record.validate(line=first_line[key], path=path)
    if not records:
        raise DataError("the file holds no usable pairs", path=path)
    return list(records.values())


def load_oasst_trees(path: str | Path) -> list[RankedRecord]:
    """Open Assistant message trees -> one record per prompter message with >= 2 ranked replies.

    The context is the conversation from the root down to the ranked prompter message's parent.
    Replies that are deleted or carry no rank are left out; equal ranks are ties. The record id is the
    prompter message id.
    """
    records: list[RankedRecord] = []
    for number, tree in iter_json_lines(path):
        root = tree.get("prompt")
        if not isinstance(root, dict):
            raise DataError("an Open Assistant tree needs a 'prompt' message node", line=number, path=str(path))
        _walk_oasst(root, [], records)
    return records


def _walk_oasst(node: dict[str, Any], above: list[dict[str, str]], out: list[RankedRecord]) -> None:
    role = _ROLE_ALIASES.get(node.get("role", ""), node.get("role", ""))
    replies = [reply for reply in node.get("replies") or [] if not reply.get("deleted")]
    if role == "user":
        ranked = [reply for reply in replies if reply.get("rank") is not None and reply.get("role") == "assistant"]
        if len(ranked) >= 2:
            ranks = sorted({reply["rank"] for reply in ranked})
            out.append(
                RankedRecord(
                    prompt=node["text"],
                    completions=[reply["text"] for reply in ranked],
                    order=[[i for i, reply in enumerate(ranked) if reply["rank"] == rank] for rank in ranks],
                    context=list(above),
                    id=node.get("message_id"),
                )
            )
    turn = {"role": role, "text": node.get("text", "")}
    for reply in replies:
        _walk_oasst(reply, [*above, turn], out)


# --- splitting and fingerprints -------------------------------------------------------------------


def prompt_keys_in_hash_order(records: Iterable[RankedRecord], seed: int) -> list[str]:
    """The records' distinct prompt keys, ordered by a hash of (seed, key): a shuffle that does not depend on
    the records' order, and in which adding records never moves the prompts already there."""
    return sorted(
        {record.prompt_key() for record in records},
        key=lambda key: hashlib.sha256(f"{seed}\0{key}".encode()).hexdigest(),
    )


def split_by_prompt(
    records: list[RankedRecord], eval_fraction: float, seed: int
) -> tuple[list[RankedRecord], list[RankedRecord]]:
    """Hold out ``eval_fraction`` of the distinct prompts; all records of a prompt go to the same side.

    Deterministic for a given seed and independent of the records' order: each prompt is placed by a
    hash of (seed, prompt), so adding records never moves an existing prompt across the split.
    """
    if eval_fraction <= 0:
        return list(records), []
    keys = prompt_keys_in_hash_order(records, seed)
    held_out = set(keys[: max(1, round(eval_fraction * len(keys)))]) if len(keys) > 1 else set()
    train = [record for record in records if record.prompt_key() not in held_out]
    evaluation = [record for record in records if record.prompt_key() in held_out]
    return train, evaluation


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def records_sha256(records: Iterable[RankedRecord]) -> str:
    """Fingerprint of the records' content (canonical JSON), whatever file or database they came from."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(record.to_json(), sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def records_summary(records: list[RankedRecord]) -> dict[str, Any]:
    """Counts for the data manifest."""
    sizes: dict[str, int] = {}
    for record in records:
        k = str(len(record.ranked_indices()))
        sizes[k] = sizes.get(k, 0) + 1
    return {
        "records": len(records),
        "prompts": len({record.prompt_key() for record in records}),
        "completions": sum(len(record.ranked_indices()) for record in records),
        "pairs": sum(len(record.comparisons()) for record in records),
        "records_by_k": dict(sorted(sizes.items(), key=lambda item: int(item[0]))),
        "sha256": records_sha256(records),
    }
