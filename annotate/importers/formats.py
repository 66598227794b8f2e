"""Turn one decoded record of an import file into prompt rows, checking every field.

Pure functions, no database: each parser takes one record (a JSON object, or a CSV row
already decoded to one) and returns ``PromptRow`` tuples, or raises ``RecordError`` naming
the field that is wrong. The import service adds the line number and the project's rules.

    >>> prompt_record_parse({"prompt": "Hi", "completions": ["Hello", "Hey"]}, max_chars=100).completions
    [CompletionRow(text='Hello', model_name='', external_id='', metadata={}), CompletionRow(...)]

Formats (docs/import.md):
- prompts: ``{"id"?, "prompt", "context"?, "completions": [str | {"text", "model"?, "id"?}], "metadata"?}``
- oasst: one Open Assistant message tree a line; every ranked group becomes a prompt with a ranking
- pairs: TRL ``{"prompt"?, "chosen", "rejected"}`` or Anthropic HH transcripts, each a K=2 ranking
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, NamedTuple

CONTEXT_ROLES = ("user", "assistant", "system")
PROMPT_FIELDS = ("id", "prompt", "context", "completions", "metadata", "gold")
COMPLETION_FIELDS = ("text", "model", "id", "metadata")
MAX_ID_CHARS = 200  # Prompt.external_id / Completion.external_id max_length
CONTENT_ID_PREFIX = "sha256:"


class RecordError(Exception):
    """A field of one record is wrong; ``field`` is a JSON path such as ``completions[2].text``."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


class IdenticalPair(Exception):
    """A preference pair whose chosen and rejected replies are the same text (apart from
    whitespace): skipped, counted."""


class EmptyReplyPair(Exception):
    """A preference pair with an empty (or whitespace-only) reply: skipped, counted. The Anthropic
    HH test splits hold 8 in 4,666 pairs; a ranked prompt with an empty completion is refused."""


class CompletionRow(NamedTuple):
    text: str
    model_name: str = ""
    external_id: str = ""
    metadata: dict = {}  # shared default, never mutated


class PromptRow(NamedTuple):
    text: str
    context: list[dict[str, str]]
    external_id: str
    metadata: dict
    completions: list[CompletionRow]
    # Groups of completion positions, best first, when the source ranked them; else None.
    order: list[list[int]] | None = None
    # The reference (gold) ranking staff give, as groups of completion positions, best first; else None.
    gold: list[list[int]] | None = None


# --- field checks shared by every format ------------------------------------------------


def text_check(value: Any, field: str, *, max_chars: int, allow_blank: bool = True) -> str:
    if value is None:
        raise RecordError(field, "missing")
    if not isinstance(value, str):
        raise RecordError(field, f"must be a string, not {json_type(value)}")
    if not allow_blank and not value.strip():
        raise RecordError(field, "must not be empty or whitespace only")
    if len(value) > max_chars:
        raise RecordError(field, f"is {len(value):,} characters; the limit is {max_chars:,}")
    if "\x00" in value:  # PostgreSQL text cannot hold it
        raise RecordError(field, "contains a NUL character")
    return value


def id_check(value: Any, field: str) -> str:
    """An external id: a non-empty string or an integer (stored as its decimal string)."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise RecordError(field, "must be a non-empty string or an integer")
    if len(value) > MAX_ID_CHARS:
        raise RecordError(field, f"is longer than {MAX_ID_CHARS} characters")
    return value


def metadata_check(value: Any, field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError(field, f"must be an object, not {json_type(value)}")
    return value


def context_check(value: Any, *, max_chars: int) -> list[dict[str, str]]:
    """``[{"role": "user"|"assistant"|"system", "text": str}, ...]``; ``content`` is accepted for ``text``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError("context", f"must be a list of turns, not {json_type(value)}")
    turns = []
    for index, turn in enumerate(value):
        field = f"context[{index}]"
        if not isinstance(turn, dict):
            raise RecordError(field, 'must be an object {"role", "text"}')
        role = turn.get("role")
        if role not in CONTEXT_ROLES:
            raise RecordError(f"{field}.role", f"must be one of {', '.join(CONTEXT_ROLES)}, not {role!r}")
        text = turn.get("text", turn.get("content"))
        turns.append({"role": role, "text": text_check(text, f"{field}.text", max_chars=max_chars)})
    return turns


def text_key(text: str) -> str:
    """What a reader sees of a text: runs of whitespace (spaces, tabs, line breaks, NBSP) as one
    space, none at the ends. Two texts with the same key look the same on a card."""
    return " ".join(text.split())


def completions_check(completions: list[CompletionRow]) -> list[CompletionRow]:
    """Completion texts and ids must be distinct within a prompt: a ranking tells them apart.

    Texts that differ only in whitespace count as the same text: they would show as two
    identical cards.
    """
    first_text: dict[str, int] = {}
    first_id: dict[str, int] = {}
    for index, completion in enumerate(completions):
        key = text_key(completion.text)
        if key in first_text:
            seen = first_text[key]
            same = "" if completions[seen].text == completion.text else " apart from whitespace"
            raise RecordError(f"completions[{index}]", f"same text as completions[{seen}]{same}")
        first_text[key] = index
        if completion.external_id:
            if completion.external_id in first_id:
                raise RecordError(
                    f"completions[{index}].id", f"same id as completions[{first_id[completion.external_id]}]"
                )
            first_id[completion.external_id] = index
    return completions


def content_id(text: str, context: list[dict[str, str]], completions: list[CompletionRow]) -> str:
    """A stable external id for a prompt that came without one, so re-imports stay idempotent."""
    content = json.dumps([context, text, [completion.text for completion in completions]], ensure_ascii=False)
    return CONTENT_ID_PREFIX + hashlib.sha256(content.encode()).hexdigest()[:40]


def json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


# --- prompts (JSONL / CSV / JSON list) ----------------------------------------------------


def prompt_record_parse(record: Any, *, max_chars: int) -> PromptRow:
    if not isinstance(record, dict):
        raise RecordError(None, f"must be a JSON object, not {json_type(record)}")
    unknown = [key for key in record if key not in PROMPT_FIELDS]
    if unknown:
        raise RecordError(str(unknown[0]), f"unknown field (expected {', '.join(PROMPT_FIELDS)})")
    text = text_check(record.get("prompt"), "prompt", max_chars=max_chars, allow_blank=False)
    context = context_check(record.get("context"), max_chars=max_chars)
    raw_completions = record.get("completions")
    if raw_completions is None:
        raise RecordError("completions", "missing")
    if not isinstance(raw_completions, list):
        raise RecordError("completions", f"must be a list, not {json_type(raw_completions)}")
    completions = completions_check(
        [completion_parse(item, index, max_chars) for index, item in enumerate(raw_completions)]
    )
    external_id = id_check(record.get("id"), "id") or content_id(text, context, completions)
    metadata = metadata_check(record.get("metadata"), "metadata")
    return PromptRow(text, context, external_id, metadata, completions, gold=record.get("gold"))


def completion_parse(item: Any, index: int, max_chars: int) -> CompletionRow:
    field = f"completions[{index}]"
    if isinstance(item, str):
        return CompletionRow(text_check(item, field, max_chars=max_chars, allow_blank=False))
    if not isinstance(item, dict):
        raise RecordError(field, f'must be a string or an object {{"text", "model"?, "id"?}}, not {json_type(item)}')
    unknown = [key for key in item if key not in COMPLETION_FIELDS]
    if unknown:
        raise RecordError(f"{field}.{unknown[0]}", f"unknown field (expected {', '.join(COMPLETION_FIELDS)})")
    model = item.get("model")
    if model is not None and (not isinstance(model, str) or len(model) > 200):
        raise RecordError(f"{field}.model", "must be a string of at most 200 characters")
    return CompletionRow(
        text=text_check(item.get("text"), f"{field}.text", max_chars=max_chars, allow_blank=False),
        model_name=model or "",
        external_id=id_check(item.get("id"), f"{field}.id"),
        metadata=metadata_check(item.get("metadata"), f"{field}.metadata"),
    )


def csv_row_decode(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as the JSON record it stands for: empty cells are absent, JSON columns decoded."""
    record: dict[str, Any] = {}
    for column, cell in row.items():
        if cell is None or cell == "":
            continue
        if column in ("context", "completions", "metadata"):
            try:
                record[column] = json.loads(cell)
            except json.JSONDecodeError as error:
                raise RecordError(column, f"bad JSON ({error.msg} at character {error.pos + 1})") from None
            except RecursionError:
                raise RecordError(column, "JSON nested too deeply") from None
        else:
            record[column] = cell
    return record


# --- Open Assistant message trees ---------------------------------------------------------


def oasst_tree_parse(record: Any, *, max_chars: int) -> list[PromptRow]:
    """Every ranked group of one tree: a prompter message with 2+ non-deleted, ranked assistant replies.

    The group's context is the conversation from the root to the prompter's parent; equal
    ranks are a tie. External ids are the Open Assistant message ids.
    """
    if not isinstance(record, dict) or not isinstance(record.get("prompt"), dict):
        raise RecordError("prompt", "missing: an Open Assistant tree line is {message_tree_id, prompt: NODE}")
    tree_id = record.get("message_tree_id")
    rows = []
    stack: list[tuple[dict, str, list[dict[str, str]]]] = [(record["prompt"], "prompt", [])]
    while stack:
        node, path, conversation = stack.pop()
        role, text = oasst_node_check(node, path, max_chars)
        replies = node.get("replies") or []
        if not isinstance(replies, list):
            raise RecordError(f"{path}.replies", "must be a list")
        if role == "prompter":
            ranked = [
                (index, reply)
                for index, reply in enumerate(replies)
                if isinstance(reply, dict)
                and reply.get("role") == "assistant"
                and not reply.get("deleted")
                and reply.get("rank") is not None
            ]
            if len(ranked) >= 2:
                rows.append(oasst_group_row(node, text, conversation, ranked, path, tree_id, max_chars))
        turn = {"role": "user" if role == "prompter" else "assistant", "text": text}
        # Reversed so the stack pops replies in file order: prompts come out in a stable order.
        for index in reversed(range(len(replies))):
            stack.append((replies[index], f"{path}.replies[{index}]", [*conversation, turn]))
    return rows


def oasst_node_check(node: Any, path: str, max_chars: int) -> tuple[str, str]:
    if not isinstance(node, dict):
        raise RecordError(path, "must be a message object")
    id_check(node.get("message_id"), f"{path}.message_id")
    if node.get("message_id") is None:
        raise RecordError(f"{path}.message_id", "missing")
    role = node.get("role")
    if role not in ("prompter", "assistant"):
        raise RecordError(f"{path}.role", f"must be prompter or assistant, not {role!r}")
    return role, text_check(node.get("text"), f"{path}.text", max_chars=max_chars)


def oasst_group_row(
    node: dict,
    text: str,
    conversation: list[dict[str, str]],
    ranked: list[tuple[int, dict]],
    path: str,
    tree_id: Any,
    max_chars: int,
) -> PromptRow:
    completions = []
    ranks = []
    for index, reply in ranked:
        reply_path = f"{path}.replies[{index}]"
        oasst_node_check(reply, reply_path, max_chars)
        if not reply["text"].strip():
            raise RecordError(f"{reply_path}.text", "must not be empty or whitespace only")
        rank = reply["rank"]
        if not isinstance(rank, int) or isinstance(rank, bool) or rank < 0:
            raise RecordError(f"{reply_path}.rank", "must be a non-negative integer")
        ranks.append(rank)
        completions.append(
            CompletionRow(
                text=reply["text"],
                model_name=str(reply.get("model_name") or "")[:200],
                external_id=str(reply["message_id"]),
                metadata={"oasst_rank": rank},
            )
        )
    if not text.strip():
        raise RecordError(f"{path}.text", "must not be empty or whitespace only")
    completions_check(completions)
    order = [[position for position, rank in enumerate(ranks) if rank == value] for value in sorted(set(ranks))]
    metadata = {"source": "oasst", "message_tree_id": tree_id, "lang": node.get("lang")}
    return PromptRow(text, conversation, str(node["message_id"]), metadata, completions, order)


# --- preference pairs: TRL {"prompt"?, "chosen", "rejected"} and Anthropic HH transcripts ----

ASSISTANT_MARK = "\n\nAssistant:"
TURN_MARK = re.compile(r"\n\n(Human|Assistant): ?")
PAIR_FIELDS = ("prompt", "chosen", "rejected", "id")


def pair_record_parse(record: Any, *, max_chars: int) -> PromptRow:
    """One preference pair as a K=2 prompt ranked chosen over rejected.

    Without ``prompt`` both sides are whole HH transcripts; the prompt is their shared prefix
    up to its last ``\\n\\nAssistant:``, and the turns before the final human one are context.
    Other keys (``margin``, ``subset``, ...) are kept as the prompt's metadata.
    """
    if not isinstance(record, dict):
        raise RecordError(None, f"must be a JSON object, not {json_type(record)}")
    chosen = text_check(record.get("chosen"), "chosen", max_chars=max_chars)
    rejected = text_check(record.get("rejected"), "rejected", max_chars=max_chars)
    prompt = record.get("prompt")
    if prompt is None:
        prefix, chosen, rejected = hh_transcripts_split(chosen, rejected)
        context, text = hh_turns_split(prefix, "chosen")
    else:
        text_check(prompt, "prompt", max_chars=max_chars, allow_blank=False)
        if prompt.lstrip("\n").startswith("Human:"):
            prefix = re.sub(r"\n\nAssistant: ?$", "", prompt if prompt.startswith("\n\n") else "\n\n" + prompt)
            context, text = hh_turns_split(prefix, "prompt")
        else:
            context, text = [], prompt
    if text_key(chosen) == text_key(rejected):
        raise IdenticalPair
    if not chosen.strip() or not rejected.strip():
        raise EmptyReplyPair
    completions = [CompletionRow(chosen), CompletionRow(rejected)]
    metadata = {key: value for key, value in record.items() if key not in PAIR_FIELDS}
    external_id = id_check(record.get("id"), "id") or content_id(text, context, completions)
    return PromptRow(text, context, external_id, metadata, completions, [[0], [1]])


def hh_transcripts_split(chosen: str, rejected: str) -> tuple[str, str, str]:
    """(shared conversation, chosen reply, rejected reply) of two HH transcripts.

    The split is at the last assistant mark inside the common prefix, not the last one of
    each side: some HH replies themselves contain ``Human:``/``Assistant:`` turns.
    """
    split = chosen.rfind(ASSISTANT_MARK, 0, common_prefix_length(chosen, rejected))
    if split < 0:
        raise RecordError(
            "chosen",
            'chosen and rejected share no "\\n\\nAssistant:" turn; give a "prompt" field for TRL-style pairs',
        )
    start = split + len(ASSISTANT_MARK)
    return chosen[:split], strip_one_space(chosen[start:]), strip_one_space(rejected[start:])


def hh_turns_split(prefix: str, field: str) -> tuple[list[dict[str, str]], str]:
    """``"\\n\\nHuman: a\\n\\nAssistant: b\\n\\nHuman: c"`` -> ([user a, assistant b], "c")."""
    parts = TURN_MARK.split(prefix)
    if parts[0].strip():
        raise RecordError(field, 'an HH transcript must start with "\\n\\nHuman: "')
    turns = [
        {"role": "user" if speaker == "Human" else "assistant", "text": text}
        for speaker, text in zip(parts[1::2], parts[2::2], strict=True)
    ]
    if not turns or turns[-1]["role"] != "user" or not turns[-1]["text"].strip():
        raise RecordError(field, "the turn before the last assistant reply must be a non-empty Human turn")
    return turns[:-1], turns[-1]["text"]


def common_prefix_length(left: str, right: str) -> int:
    # Binary search over slice comparisons: C-speed, where a character loop would dominate the import.
    low, high = 0, min(len(left), len(right))
    while low < high:
        middle = (low + high + 1) // 2
        if left[:middle] == right[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def strip_one_space(text: str) -> str:
    return text[1:] if text.startswith(" ") else text
