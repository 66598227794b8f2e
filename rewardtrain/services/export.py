"""Exporting a project's comparisons and rankings as datasets, streamed so memory stays flat.

Formats (``ExportOptions.format``):

- ``trl``: JSONL ``{"prompt", "chosen", "rejected"}`` (+ ``"margin"`` = rank gap with ``margin=True``,
  + ``"tie"`` when tie rows are kept, + ``"split"`` when a test fraction is set and both sides are
  exported). Loads with ``datasets.load_dataset("json", data_files=...)`` and trains with TRL's
  RewardTrainer unchanged. The ``prompt`` string renders the conversation the way the trainer renders
  it for a decoder without a chat template (``rewardtrain.core.encoding``)::

      System: ...\\n\\nUser: earlier turn\\n\\nAssistant: earlier reply\\n\\nUser: <prompt>\\n\\nAssistant: (one space)

  TRL appends ``chosen``/``rejected`` to it, so each sequence reads as one dialogue.
- ``rankings``: JSONL, one line per ranking, in the K-wise format ``rewardtrain.core.data.load_records``
  reads: ``{"prompt", "context", "completions": [text, ...], "order": [[i], [j, k], ...], "id"}``, plus
  ``ranking_id``, ``prompt_id``, ``completion_ids``, ``models``, ``annotator``, ``seconds``,
  ``submitted_at``, ``flags``. ``order`` holds indices into ``completions``; a group of several is a tie.
  Each record lists its completions in a shuffled order drawn from (``seed``, record id), with
  ``order``, ``completion_ids`` and ``models`` mapped alongside: position never gives the answer away.
- ``consensus``: the same format, one line per prompt, ``order`` = the consensus of its rankings
  (``services.agreement.consensus_order``), plus ``rankings`` and ``agreement``; shuffled the same way.
- ``csv`` and ``parquet``: one row per comparison with ids, rank gap, weight, tie flag, time, split and
  the texts. Parquet is written in row groups to a file (it cannot be produced as a stream).

With ``weighting="reliability"`` each ranking counts by its annotator's reliability
(``rewardtrain.services.quality.annotator_reliability``): ``trl`` and ``rankings`` lines get a ``"weight"``
(the reliability, 0..1; ``rewardtrain.core.data`` reads it from a rankings file), and the ``weight``
column of ``csv``/``parquet`` becomes 1/C(K,2) times it. ``consensus`` is not weighted.

Options: pair scheme (``all``, ``adjacent`` = neighbouring groups only, ``best_vs_rest`` = the top
group against the others), ties kept or dropped, a date range, annotators (usernames), a minimum
per-annotator agreement (annotators with no overlap to measure are left out by it), and a
deterministic train/test split by prompt: a prompt is "test" when
``sha256(f"{seed}:{prompt_id}")`` read as a fraction is below ``test_fraction``, so all of a prompt's
pairs land on one side and adding data never moves a prompt.

Example::

    from rewardtrain.services.export import ExportOptions, export_to_path

    meta = export_to_path(project=project, options=ExportOptions(format="trl"), path="pairs.jsonl")
    # writes pairs.jsonl and pairs.jsonl.meta.json
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring as encode_json_string  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from annotate.models import Completion, Project, Prompt, Ranking
from rewardtrain.models import Comparison, ModelVersion
from rewardtrain.services.agreement import agreement_report, consensus_order, prompt_report

FORMATS = ("trl", "rankings", "consensus", "csv", "parquet")
PAIR_SCHEMES = ("all", "adjacent", "best_vs_rest")
WEIGHTINGS = ("none", "reliability")
SPLITS = ("all", "train", "test")
CONTENT_TYPES = {
    "trl": "application/x-ndjson",
    "rankings": "application/x-ndjson",
    "consensus": "application/x-ndjson",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}
EXTENSIONS = {"trl": "jsonl", "rankings": "jsonl", "consensus": "jsonl", "csv": "csv", "parquet": "parquet"}
COMPARISON_COLUMNS = (
    "comparison_id", "ranking_id", "prompt_id", "annotator", "chosen_id", "rejected_id", "chosen_rank", "rank_gap",
    "weight", "is_tie", "submitted_at", "split", "prompt", "chosen", "rejected",
)  # fmt: skip
_ROLE_LABELS = {"user": "User", "assistant": "Assistant", "system": "System"}
_CHUNK_CHARS = 64 * 1024  # what goes out (or to the file) at a time
_ROWS_PER_PARQUET_GROUP = 10_000


@dataclass(frozen=True)
class ExportOptions:
    format: str = "trl"
    pairs: str = "all"  # all | adjacent | best_vs_rest
    ties: bool = False  # keep tie rows (dropped by default, as InstructGPT did)
    margin: bool = False  # trl: add "margin" = rank gap
    since: datetime | None = None
    until: datetime | None = None
    annotators: tuple[str, ...] = ()  # usernames; empty = everyone
    min_agreement: float | None = None  # per annotator, 0..1
    split: str = "all"  # all | train | test
    test_fraction: float = 0.0
    seed: int = 0
    weighting: str = "none"  # none | reliability: weigh each ranking by its annotator's reliability

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ExportOptions:
        """Options from strings (query parameters, command options); ValidationError names the field."""

        def text(name: str, default: str, allowed: tuple[str, ...]) -> str:
            value = str(data.get(name) or default).strip().lower().replace("-", "_")
            if value not in allowed:
                raise ValidationError({name: f"must be one of {', '.join(allowed)}, got {data.get(name)!r}"})
            return value

        def flag(name: str) -> bool:
            value = data.get(name)
            if isinstance(value, bool):
                return value
            return str(value or "").strip().lower() in {"1", "true", "yes", "on", "keep"}

        def number(name: str, default: float | None, low: float, high: float) -> float | None:
            value = data.get(name)
            if value in (None, ""):
                return default
            try:
                parsed = float(value)
            except (TypeError, ValueError):
                raise ValidationError({name: f"must be a number, got {value!r}"}) from None
            if not low <= parsed <= high:
                raise ValidationError({name: f"must be between {low:g} and {high:g}"})
            return parsed

        def moment(name: str, end_of_day: bool) -> datetime | None:
            value = data.get(name)
            if value in (None, ""):
                return None
            if isinstance(value, datetime):
                return value
            wrong = ValidationError({name: f"must be a date or ISO date-time, got {value!r}"})
            try:
                parsed = parse_datetime(str(value))
                if parsed is None:
                    day = parse_date(str(value))
                    if day is None:
                        raise wrong
                    parsed = datetime.combine(day, datetime.max.time() if end_of_day else datetime.min.time())
                parsed = timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed
                # In UTC: PostgreSQL refuses offsets Python takes (beyond ±15:59), and the export must not
                # find that out after its first byte. Out of the calendar's range here is refused too.
                parsed = parsed.astimezone(UTC)
            except (ValueError, OverflowError):
                raise wrong from None
            if not 1 < parsed.year < 9999:
                raise ValidationError({name: f"must be a date between the years 2 and 9998, got {value!r}"})
            return parsed

        annotators = data.get("annotators") or ()
        if isinstance(annotators, str):
            annotators = [name for name in annotators.split(",")]
        seed = number("seed", 0, -(2**31), 2**31)
        return cls(
            format=text("format", "trl", FORMATS),
            pairs=text("pairs", "all", PAIR_SCHEMES),
            ties=flag("ties"),
            margin=flag("margin"),
            since=moment("since", end_of_day=False),
            until=moment("until", end_of_day=True),
            annotators=tuple(sorted({name.strip() for name in annotators if name.strip()})),
            min_agreement=number("min_agreement", None, 0, 1),
            split=text("split", "all", SPLITS),
            test_fraction=number("test_fraction", 0.0, 0, 1) or 0.0,
            seed=int(seed or 0),
            weighting=text("weighting", "none", WEIGHTINGS),
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["annotators"] = list(self.annotators)
        for name in ("since", "until"):
            out[name] = out[name].isoformat() if out[name] else None
        return out


@dataclass
class ExportStats:
    """Counted while the data streams; read it after the last chunk for the metadata."""

    lines: int = 0
    comparisons: int = 0
    ties: int = 0
    prompts: set[int] = field(default_factory=set)
    rankings: set[int] = field(default_factory=set)
    splits: dict[str, int] = field(default_factory=lambda: {"train": 0, "test": 0})
    # Token lengths as TRL tokenizes the lines (rewardtrain.core.encoding.TokenLengths), when asked for.
    lengths: Any = None
    lengths_source: dict[str, Any] = field(default_factory=dict)

    def count(self, *, prompt_id: int, ranking_id: int | None, side: str, tie: bool = False) -> None:
        self.lines += 1
        self.prompts.add(prompt_id)
        if ranking_id is not None:
            self.rankings.add(ranking_id)
        self.splits[side] += 1
        if tie:
            self.ties += 1
        else:
            self.comparisons += 1


# --- shared pieces ---------------------------------------------------------------------------------


def prompt_side(prompt_id: int, *, seed: int, test_fraction: float) -> str:
    """ "train" or "test" for a prompt: a hash of (seed, prompt id), never of a pair."""
    if test_fraction <= 0:
        return "train"
    digest = hashlib.sha256(f"{seed}:{prompt_id}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"


def render_prompt(context: Iterable[Mapping[str, str]], prompt: str) -> str:
    """The ``prompt`` string of the trl format (see the module docstring)."""
    history = "".join(f"{_ROLE_LABELS.get(turn['role'], turn['role'])}: {turn['text']}\n\n" for turn in context)
    return f"{history}User: {prompt}\n\nAssistant: "


class _Selection:
    """The options turned into database filters and a per-prompt side, computed once per export."""

    def __init__(self, project: Project, options: ExportOptions) -> None:
        self.project = project
        self.options = options
        self.annotator_ids: set[int] | None = None
        if options.annotators:
            from django.contrib.auth import get_user_model

            found = dict(get_user_model().objects.filter(username__in=options.annotators).values_list("username", "pk"))
            unknown = sorted(set(options.annotators) - set(found))
            if unknown:
                raise ValidationError({"annotators": f"unknown annotator {unknown[0]!r}"})
            self.annotator_ids = set(found.values())
        if options.min_agreement is not None:
            from rewardtrain.selectors import ranking_facts_for_project

            report = agreement_report(ranking_facts_for_project(project_id=project.pk))
            agreeing = {
                annotator_id
                for annotator_id, stats in report["annotators"].items()
                if stats["agreement"] is not None and stats["agreement"] >= options.min_agreement
            }
            self.annotator_ids = agreeing if self.annotator_ids is None else self.annotator_ids & agreeing
        self.weights: dict[int, float] | None = None
        if options.weighting == "reliability":
            from rewardtrain.services.quality import annotator_reliability

            self.weights = annotator_reliability(project=project)

    def weight_of(self, annotator_id: int) -> float:
        """The annotator's reliability weight (1 without weighting, or for someone never measured)."""
        return 1.0 if self.weights is None else self.weights.get(annotator_id, 1.0)

    def side(self, prompt_id: int) -> str:
        return prompt_side(prompt_id, seed=self.options.seed, test_fraction=self.options.test_fraction)

    def wanted(self, side: str) -> bool:
        return self.options.split in ("all", side)

    @property
    def labels_split(self) -> bool:
        return self.options.split == "all" and self.options.test_fraction > 0

    def time_and_people(self, queryset: QuerySet, time_field: str = "submitted_at") -> QuerySet:
        if self.options.since:
            queryset = queryset.filter(**{f"{time_field}__gte": self.options.since})
        if self.options.until:
            queryset = queryset.filter(**{f"{time_field}__lte": self.options.until})
        if self.annotator_ids is not None:
            queryset = queryset.filter(annotator_id__in=self.annotator_ids)
        return queryset

    def comparisons(self) -> QuerySet:
        queryset = self.time_and_people(Comparison.objects.filter(project_id=self.project.pk))
        if not self.options.ties:
            queryset = queryset.filter(is_tie=False)
        if self.options.pairs == "adjacent":
            queryset = queryset.filter(Q(rank_gap=1) | Q(is_tie=True))
        elif self.options.pairs == "best_vs_rest":
            queryset = queryset.filter(chosen_rank=0)
        return queryset.order_by("id")

    def rankings(self) -> QuerySet:
        return self.time_and_people(Ranking.objects.filter(prompt__project_id=self.project.pk))


def _comparison_rows(selection: _Selection, stats: ExportStats, chunk_size: int) -> Iterator[tuple[Any, ...]]:
    """(comparison fields..., side, rendered prompt) for each wanted comparison, in id order."""
    # The context comes as text and is decoded once per prompt, not once per row (a third of the time).
    rows = (
        selection.comparisons()
        .annotate(context_text=Cast("prompt__context", output_field=TextField()))
        .values_list(
            "id", "ranking_id", "prompt_id", "annotator__username", "chosen_id", "rejected_id", "chosen_rank",
            "rank_gap", "weight", "is_tie", "submitted_at", "prompt__text", "context_text", "chosen__text",
            "rejected__text", "annotator_id",
        )
    )  # fmt: skip
    last_prompt_id, last_prompt, last_side = None, "", "train"
    for row in rows.iterator(chunk_size=chunk_size):
        prompt_id = row[2]
        if prompt_id != last_prompt_id:  # rows of one ranking come together: render each prompt once
            last_prompt_id, last_side = prompt_id, selection.side(prompt_id)
            last_prompt = render_prompt(json.loads(row[12] or "[]"), row[11])
        if not selection.wanted(last_side):
            continue
        stats.count(prompt_id=prompt_id, ranking_id=row[1], side=last_side, tie=row[9])
        if stats.lengths is not None:
            stats.lengths.add(last_prompt + row[13], last_prompt + row[14])
        yield row, last_side, last_prompt


def _chunks(pieces: Iterable[str]) -> Iterator[bytes]:
    """Pieces of text joined into blocks of about 64 KB: few writes, and no block ever grows large."""
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= _CHUNK_CHARS:
            yield "".join(buffer).encode()
            buffer.clear()
            size = 0
    if buffer:
        yield "".join(buffer).encode()


# --- the formats -----------------------------------------------------------------------------------


def _trl_lines(selection: _Selection, stats: ExportStats, chunk_size: int) -> Iterator[str]:
    # Built from JSON-encoded strings rather than json.dumps of a dict: the prompt is encoded once per
    # prompt and each completion once per ranking (it appears in K-1 pairs), which halves the time.
    options, labels_split = selection.options, selection.labels_split
    last_prompt, encoded_prompt = None, ""
    last_ranking: int | None = None
    encoded: dict[int, str] = {}
    for row, side, prompt in _comparison_rows(selection, stats, chunk_size):
        if prompt is not last_prompt:
            last_prompt, encoded_prompt = prompt, encode_json_string(prompt)
        if row[1] != last_ranking:
            last_ranking, encoded = row[1], {}
        chosen = encoded.get(row[4]) or encoded.setdefault(row[4], encode_json_string(row[13]))
        rejected = encoded.get(row[5]) or encoded.setdefault(row[5], encode_json_string(row[14]))
        line = f'{{"prompt": {encoded_prompt}, "chosen": {chosen}, "rejected": {rejected}'
        if options.margin:
            line += f', "margin": {float(row[7])}'
        if options.ties:
            line += ', "tie": true' if row[9] else ', "tie": false'
        if labels_split:
            line += f', "split": "{side}"'
        if selection.weights is not None:
            line += f', "weight": {selection.weight_of(row[15])!r}'
        yield line + "}\n"


def _csv_lines(selection: _Selection, stats: ExportStats, chunk_size: int) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COMPARISON_COLUMNS)
    for index, (row, side, prompt) in enumerate(_comparison_rows(selection, stats, chunk_size)):
        weight = row[8] * selection.weight_of(row[15])
        writer.writerow([*row[:8], weight, int(row[9]), row[10].isoformat(), side, prompt, row[13], row[14]])
        if index % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _ranked_prompts(selection: _Selection, batch_prompts: int = 200) -> Iterator[tuple[dict[str, Any], list[dict]]]:
    """(prompt with its completions, its wanted rankings in id order), prompt by prompt, in batches."""
    prompt_ids = selection.rankings().order_by("prompt_id").values_list("prompt_id", flat=True).distinct().iterator()
    batch: list[int] = []

    def load(ids: list[int]) -> Iterator[tuple[dict[str, Any], list[dict]]]:
        prompts = {
            row["id"]: {**row, "completions": []}
            for row in Prompt.objects.filter(pk__in=ids).values("id", "text", "context", "external_id")
        }
        for prompt_id, completion_id, text, model_name in (
            Completion.objects.filter(prompt_id__in=ids)
            .order_by("prompt_id", "position", "id")
            .values_list("prompt_id", "id", "text", "model_name")
        ):
            prompts[prompt_id]["completions"].append((completion_id, text, model_name))
        rankings: dict[int, list[dict]] = {prompt_id: [] for prompt_id in ids}
        for ranking in (
            selection.rankings()
            .filter(prompt_id__in=ids)
            .order_by("id")
            .values(
                "id", "prompt_id", "annotator_id", "annotator__username", "order", "seconds", "submitted_at", "flags"
            )
        ):
            rankings[ranking["prompt_id"]].append(ranking)
        for prompt_id in ids:
            yield prompts[prompt_id], rankings[prompt_id]

    for prompt_id in prompt_ids:
        if selection.wanted(selection.side(prompt_id)):
            batch.append(prompt_id)
        if len(batch) >= batch_prompts:
            yield from load(batch)
            batch = []
    if batch:
        yield from load(batch)


def shuffled_positions(count: int, *, seed: int, key: str) -> list[int]:
    """A permutation of ``range(count)`` fixed by (seed, key): the same export lists the same order."""
    rng = random.Random(hashlib.sha256(f"{seed}:{key}".encode()).digest())
    positions = list(range(count))
    rng.shuffle(positions)
    return positions


def _ranked_record(prompt: dict[str, Any], order: list[list[int]], *, seed: int, key: str) -> dict[str, Any]:
    """The K-wise record of one prompt: the ranked completions in a shuffled order, groups as indices.

    Completions are listed in an order drawn from (seed, key), not best first nor in import order (which
    is often the source's rank order), so nothing a consumer reads from a completion's position tells
    the answer; ``order`` names the same groups through the shuffled indices.
    """
    ranked = {completion_id for group in order for completion_id in group}
    in_position = [entry for entry in prompt["completions"] if entry[0] in ranked]
    completions = [in_position[i] for i in shuffled_positions(len(in_position), seed=seed, key=key)]
    index = {entry[0]: position for position, entry in enumerate(completions)}
    return {
        "prompt": prompt["text"],
        "context": prompt["context"],
        "completions": [text for _, text, _ in completions],
        "order": [[index[completion_id] for completion_id in group] for group in order],
        "prompt_id": prompt["id"],
        "completion_ids": [completion_id for completion_id, _, _ in completions],
        "models": [model_name for _, _, model_name in completions],
    }


def _measure_completions(stats: ExportStats, record: dict[str, Any]) -> None:
    if stats.lengths is not None:
        rendered = render_prompt(record["context"], record["prompt"])
        for text in record["completions"]:
            stats.lengths.add(rendered + text)


def _rankings_lines(selection: _Selection, stats: ExportStats, chunk_size: int) -> Iterator[str]:
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    for prompt, rankings in _ranked_prompts(selection):
        side = selection.side(prompt["id"])
        for ranking in rankings:
            record_id = f"ranking-{ranking['id']}"
            record = _ranked_record(prompt, ranking["order"], seed=selection.options.seed, key=record_id)
            record.update(
                id=record_id,
                ranking_id=ranking["id"],
                annotator=ranking["annotator__username"],
                seconds=ranking["seconds"],
                submitted_at=ranking["submitted_at"].isoformat(),
                flags=ranking["flags"],
            )
            if selection.labels_split:
                record["split"] = side
            if selection.weights is not None:
                record["weight"] = selection.weight_of(ranking["annotator_id"])
            stats.count(prompt_id=prompt["id"], ranking_id=ranking["id"], side=side)
            _measure_completions(stats, record)
            yield dumps(record) + "\n"


def _consensus_lines(selection: _Selection, stats: ExportStats, chunk_size: int) -> Iterator[str]:
    from rewardtrain.services.agreement import RankingFacts

    dumps = json.JSONEncoder(ensure_ascii=False).encode
    for prompt, rankings in _ranked_prompts(selection):
        if not rankings:
            continue
        side = selection.side(prompt["id"])
        facts = [
            RankingFacts(ranking["id"], prompt["id"], ranking["annotator_id"], ranking["order"]) for ranking in rankings
        ]
        report = prompt_report(facts) if len(facts) > 1 else {"agreement": None}
        record_id = f"prompt-{prompt['id']}"
        order = consensus_order([ranking["order"] for ranking in rankings])
        record = _ranked_record(prompt, order, seed=selection.options.seed, key=record_id)
        record.update(id=record_id, rankings=len(rankings), agreement=report["agreement"])
        if selection.labels_split:
            record["split"] = side
        stats.count(prompt_id=prompt["id"], ranking_id=None, side=side)
        _measure_completions(stats, record)
        yield dumps(record) + "\n"


_LINE_FORMATS = {"trl": _trl_lines, "rankings": _rankings_lines, "consensus": _consensus_lines, "csv": _csv_lines}


def export_stream(
    *, project: Project, options: ExportOptions, stats: ExportStats | None = None, chunk_size: int = 2000
) -> Iterator[bytes]:
    """The export as byte chunks (every format but parquet). Filters are checked before the first chunk."""
    if options.format == "parquet":
        raise ValueError("parquet is written to a file: use export_parquet")
    selection = _Selection(project, options)  # raises ValidationError now, not halfway through a response
    return _chunks(_LINE_FORMATS[options.format](selection, stats or ExportStats(), chunk_size))


def export_parquet(
    *,
    project: Project,
    options: ExportOptions,
    path: str | Path,
    stats: ExportStats | None = None,
    chunk_size: int = 2000,
) -> None:
    """Write the comparisons to a Parquet file, one row group per 10,000 rows (memory stays flat)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    stats = stats or ExportStats()
    selection = _Selection(project, options)
    schema = pa.schema([
        ("comparison_id", pa.int64()), ("ranking_id", pa.int64()), ("prompt_id", pa.int64()),
        ("annotator", pa.string()), ("chosen_id", pa.int64()), ("rejected_id", pa.int64()),
        ("chosen_rank", pa.int16()), ("rank_gap", pa.int16()), ("weight", pa.float64()), ("is_tie", pa.bool_()),
        ("submitted_at", pa.timestamp("us", tz="UTC")), ("split", pa.string()), ("prompt", pa.string()),
        ("chosen", pa.string()), ("rejected", pa.string()),
    ])  # fmt: skip
    columns: list[list[Any]] = [[] for _ in COMPARISON_COLUMNS]
    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:

        def flush() -> None:
            writer.write_table(pa.table(columns, schema=schema))
            for column in columns:
                column.clear()

        for row, side, prompt in _comparison_rows(selection, stats, chunk_size):
            weight = row[8] * selection.weight_of(row[15])
            values = (*row[:8], weight, row[9], row[10], side, prompt, row[13], row[14])
            for column, value in zip(columns, values, strict=True):
                column.append(value)
            if len(columns[0]) >= _ROWS_PER_PARQUET_GROUP:
                flush()
        if columns[0] or stats.lines == 0:
            flush()


def export_metadata(
    *, project: Project, options: ExportOptions, stats: ExportStats | None, seconds: float | None
) -> dict:
    """The small JSON written beside the data: what was asked, what came out, and when."""
    meta: dict[str, Any] = {
        "project": {"id": project.pk, "name": project.name},
        "format": options.format,
        "options": options.to_dict(),
        "split": {
            "by": "prompt",
            "method": "sha256(f'{seed}:{prompt_id}') as a fraction < test_fraction -> test",
            "seed": options.seed,
            "test_fraction": options.test_fraction,
            "exported": options.split,
        },
        "created_at": timezone.now().isoformat(),
    }
    if options.format in ("rankings", "consensus"):
        meta["note"] = "pair scheme and ties do not apply: records keep whole orders, tie groups included"
    if options.weighting == "reliability":
        meta["weighting"] = {
            "by": "annotator reliability: mean leave-one-out consensus tau clipped to [0, 1], over the largest",
            "where": "consensus: not applied"
            if options.format == "consensus"
            else (
                "weight column = 1/C(K,2) x reliability"
                if options.format in ("csv", "parquet")
                else "weight field = the ranking's annotator's reliability"
            ),
        }
    if options.format == "trl":
        meta["prompt_rendering"] = "context turns as 'Role: text\\n\\n', then 'User: <prompt>\\n\\nAssistant: '"
    if stats is not None:
        meta["counts"] = {
            "lines": stats.lines,
            "comparisons": stats.comparisons if options.format not in ("rankings", "consensus") else None,
            "ties": stats.ties if options.format not in ("rankings", "consensus") else None,
            "prompts": len(stats.prompts),
            "rankings": len(stats.rankings) if options.format != "consensus" else None,
            "train": stats.splits["train"],
            "test": stats.splits["test"],
        }
    if stats is not None and (stats.lengths is not None or stats.lengths_source):
        meta["token_lengths"] = {
            **stats.lengths_source,
            "unit": "completion" if options.format in ("rankings", "consensus") else "pair (its longer side)",
            "measured": "the rendered prompt + completion + EOS with the tokenizer's special tokens, as TRL's "
            "RewardTrainer tokenizes a line; TRL drops a pair when either side is over its max_length (default "
            "1024) and the backbone reads at most max_positions tokens",
            **(stats.lengths.summary() if stats.lengths is not None else {}),
        }
    if seconds is not None:
        meta["seconds"] = round(seconds, 3)
    return meta


def export_token_lengths(*, project: Project) -> tuple[Any, dict[str, Any]]:
    """(TokenLengths or None, where its tokenizer came from): the tokenizer of the project's active model
    (else its base model, else the shipped default), so the metadata speaks of the backbone in use."""
    from rewardtrain.core.config import default_model_path

    active = ModelVersion.objects.filter(project=project, is_active=True).only("version", "artifact_path").first()
    if active is not None:
        path, source = active.artifact_path, {"tokenizer": f"active model version {active.version}"}
    else:
        path = project.base_model or default_model_path()
        source = {"tokenizer": "the project's base model" if project.base_model else "the default base model"}
    source["model"] = path if active is None else (active.base_model or path)
    try:
        from transformers import AutoConfig, AutoTokenizer

        from rewardtrain.core.encoding import TokenLengths

        tokenizer = AutoTokenizer.from_pretrained(path)
        positions = getattr(AutoConfig.from_pretrained(path), "max_position_embeddings", None)
        return TokenLengths(tokenizer, max_positions=positions if isinstance(positions, int) else None), source
    except Exception as error:  # a missing artifact or an offline hub id must not fail the export
        return None, {**source, "error": f"could not load the tokenizer: {str(error)[:300]}"}


def export_stats_with_lengths(*, project: Project) -> ExportStats:
    """Stats that also measure token lengths (for the metadata; the plain data stream skips the cost)."""
    lengths, source = export_token_lengths(project=project)
    return ExportStats(lengths=lengths, lengths_source=source)


def export_to_path(*, project: Project, options: ExportOptions, path: str | Path, chunk_size: int = 2000) -> dict:
    """Write the export to ``path`` and its metadata to ``path.meta.json``; return the metadata."""
    path = Path(path)
    stats = export_stats_with_lengths(project=project)
    started = time.perf_counter()
    if options.format == "parquet":
        export_parquet(project=project, options=options, path=path, stats=stats, chunk_size=chunk_size)
    else:
        chunks = export_stream(project=project, options=options, stats=stats, chunk_size=chunk_size)
        with open(path, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
    meta = export_metadata(project=project, options=options, stats=stats, seconds=time.perf_counter() - started)
    Path(f"{path}.meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return meta
