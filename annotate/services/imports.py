"""Importing prompts, completions and existing human rankings into a project.

    from annotate.services.imports import prompts_import
    result = prompts_import(project=project, source="data/prompts.jsonl.gz")
    print(result.summary())  # "1,000 prompts created, 0 already present, 6,000 completions, 0 rankings"

``source`` is a path (plain or gzip'd), an open file (binary or text: an upload) or a list of
dicts (a JSON body). ``format`` is ``jsonl``, ``csv``, ``oasst`` or ``pairs``; left out, it is
read from the file name and the first record. docs/import.md describes the formats.

All or nothing: the whole source is parsed and checked first, into compact rows; then one
transaction writes it in chunks with bulk inserts. Any bad record raises ``ImportFailed``
("line 3: completions: ...") and nothing is written. Prompts already in the project with the
same external id are left as they are, so re-importing a file is idempotent; a prompt that
comes without an id gets a content hash as its id for the same reason.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import chain, islice
from math import comb
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from annotate.importers.copy import CopyWriter
from annotate.importers.formats import (
    CONTENT_ID_PREFIX,
    EmptyReplyPair,
    IdenticalPair,
    PromptRow,
    RecordError,
    csv_row_decode,
    oasst_tree_parse,
    pair_record_parse,
    prompt_record_parse,
)
from annotate.models import Assignment, Completion, Project, Prompt, Ranking, RankingEntry
from annotate.services.rankings import order_validate

FORMATS = ("jsonl", "csv", "oasst", "pairs")
IMPORT_USERNAME = "import"
# K range a new project gets from a ranked import (the shipped Open Assistant groups have K = 2..9).
OASST_COMPLETION_RANGE = (2, 9)
CHUNK_PROMPTS = 5_000  # prompts written per round of bulk inserts
# An import of this many prompts or more may refresh PostgreSQL's statistics (statistics_refresh).
ANALYZE_AFTER_PROMPTS = 100
GZIP_MAGIC = b"\x1f\x8b"
# Fields written per row on PostgreSQL's COPY path (annotate.importers.copy), in tuple order after the id.
PROMPT_COPY_FIELDS = ["project", "text", "context", "external_id", "metadata", "ranking_count"]
COMPLETION_COPY_FIELDS = ["prompt", "text", "model_name", "external_id", "metadata", "position"]

Source = str | Path | IO[bytes] | IO[str] | list[dict[str, Any]]


class ImportFailed(ValidationError):
    """A record of the source is wrong: ``"line 3: completions: 2 given; ..."``. Nothing was written."""

    def __init__(self, reason: str, *, line: int | None = None, field: str | None = None, unit: str = "line") -> None:
        self.line, self.field, self.reason = line, field, reason
        parts = [f"{unit} {line}" if line is not None else None, field, reason]
        super().__init__(": ".join(part for part in parts if part), code="import_failed")

    def __str__(self) -> str:
        return self.message


@dataclass
class ImportResult:
    format: str
    prompts_created: int = 0
    prompts_existing: int = 0  # same external id already in the project: left as it was
    completions_created: int = 0
    rankings_created: int = 0
    comparisons_created: int = 0  # ordered pairs (completions in different groups) of the new rankings
    identical_pairs_skipped: int = 0  # preference pairs whose chosen and rejected texts are the same
    empty_pairs_skipped: int = 0  # preference pairs with an empty (or whitespace-only) reply
    completion_range_set: tuple[int, int] | None = field(default=None)

    def summary(self) -> str:
        text = (
            f"{self.prompts_created:,} prompts created, {self.prompts_existing:,} already present, "
            f"{self.completions_created:,} completions, {self.rankings_created:,} rankings "
            f"({self.comparisons_created:,} pairwise comparisons)"
        )
        skipped = ((self.identical_pairs_skipped, "identical replies"), (self.empty_pairs_skipped, "an empty reply"))
        for count, why in skipped:
            if count:
                text += f", {count:,} {'pair' if count == 1 else 'pairs'} with {why} skipped"
        if self.completion_range_set:
            text += f"; project now takes {self.completion_range_set[0]}..{self.completion_range_set[1]} completions"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "prompts_created": self.prompts_created,
            "prompts_existing": self.prompts_existing,
            "completions_created": self.completions_created,
            "rankings_created": self.rankings_created,
            "comparisons_created": self.comparisons_created,
            "identical_pairs_skipped": self.identical_pairs_skipped,
            "empty_pairs_skipped": self.empty_pairs_skipped,
        }


# progress(phase, done, total): "checking" counts records read (total unknown: None), "writing" counts
# prompts written of the checked rows. Called every PROGRESS_EVERY records and after every chunk written.
Progress = Callable[[str, int, int | None], None]
PROGRESS_EVERY = 500


@dataclass
class CheckedSource:
    """A source read and checked in full, nothing written yet: what ``prompts_import`` will write."""

    format: str
    rows: list[PromptRow]
    lines: list[int]  # the line (or item) each row came from
    result: ImportResult  # counts known before writing (identical pairs skipped)
    completion_range: tuple[int, int] | None  # the K range a ranked import into an empty project sets


def prompts_import(
    *,
    project: Project,
    source: Source,
    format: str | None = None,
    import_user: AbstractBaseUser | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Check the whole source, then write it in one transaction. Raises ``ImportFailed``."""
    checked = source_check(project=project, source=source, format=format, progress=progress)
    rows, result, completion_range = checked.rows, checked.result, checked.completion_range

    with transaction.atomic():
        # Serialises imports into one project: two at once would race on the external ids.
        locked = Project.objects.select_for_update().get(pk=project.pk)
        if completion_range and (locked.min_completions, locked.max_completions) != completion_range:
            locked.min_completions, locked.max_completions = completion_range
            locked.save(update_fields=["min_completions", "max_completions"])
            project.min_completions, project.max_completions = completion_range
            result.completion_range_set = completion_range
        if any(row.order is not None for row in rows):
            import_user = import_user or import_user_get()
        for start in range(0, len(rows), CHUNK_PROMPTS):
            rows_write(project=project, rows=rows[start : start + CHUNK_PROMPTS], annotator=import_user, result=result)
            if progress is not None:
                progress("writing", min(start + CHUNK_PROMPTS, len(rows)), len(rows))
    statistics_refresh(prompts_created=result.prompts_created, rankings=result.rankings_created > 0)
    return result


def source_check(
    *, project: Project, source: Source, format: str | None = None, progress: Progress | None = None
) -> CheckedSource:
    """Read and check a whole source against the project, writing nothing. Raises ``ImportFailed``."""
    if format is not None and format not in FORMATS:
        raise ImportFailed(f"must be one of {', '.join(FORMATS)}, not {format!r}", field="format")
    with ExitStack() as stack:
        format, unit, records = records_open(source, format, stack)
        # Ranked imports into an empty project take every group of the source (Open Assistant: K = 2..9).
        completion_range = None
        if format in ("oasst", "pairs") and not project.prompts.exists():
            completion_range = OASST_COMPLETION_RANGE if format == "oasst" else (2, max(2, project.max_completions))
        k_min, k_max = completion_range or (project.min_completions, project.max_completions)
        result = ImportResult(format=format)
        lines: list[int] = []
        rows = rows_check(
            records, format=format, unit=unit, k_min=k_min, k_max=k_max, result=result, lines=lines, progress=progress
        )
    return CheckedSource(format=format, rows=rows, lines=lines, result=result, completion_range=completion_range)


def statistics_refresh(*, prompts_created: int, rankings: bool) -> bool:
    """PostgreSQL: ``ANALYZE`` the tables an import just filled, as after any bulk load, when it
    added at least ``ANALYZE_AFTER_PROMPTS`` prompts and a tenth of what the statistics last counted
    (close to autovacuum's rule, 50 rows and a tenth, which it applies only once it comes round and
    not at all where it is off). Returns whether it ran. Without the right to analyze a table
    (not its owner) PostgreSQL skips it with a warning; the import stands.

    The task loop's statements are prepared once per connection and keep a generic plan, made from
    the tables' statistics. Without statistics for a project's prompts PostgreSQL guesses 0.5 % of
    the table for ``project_id = $1`` and can plan the claim as "read every prompt of the project and
    sort them": 5 ms a claim at 3,000 prompts and growing with the project, against 0.2 ms for the
    queue index walked in order (docs/BENCHMARKS.md, session 5). The ranking tables are analyzed
    only when the import wrote rankings: statistics taken of an empty table that then grows are
    worse than none (primary-key look-ups planned as sequential scans).
    """
    if connection.vendor != "postgresql" or prompts_created < ANALYZE_AFTER_PROMPTS:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Prompt._meta.db_table])
        counted = cursor.fetchone()[0]  # -1: never analyzed
        if counted >= 0 and prompts_created < counted / 10:
            return False
        tables = [Prompt, Completion] + ([Assignment, Ranking, RankingEntry] if rankings else [])
        cursor.execute("ANALYZE " + ", ".join(connection.ops.quote_name(model._meta.db_table) for model in tables))
    return True


def import_user_get() -> AbstractBaseUser:
    """The ``import`` account that owns imported human rankings: not staff, cannot log in."""
    user, created = get_user_model().objects.get_or_create(username=IMPORT_USERNAME, defaults={"is_staff": False})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


# --- reading ------------------------------------------------------------------------------

Record = tuple[int, Any]  # (line or item number, decoded record or the RecordError met decoding it)


def records_open(source: Source, format: str | None, stack: ExitStack) -> tuple[str, str, Iterator[Record]]:
    """(format, "line" or "item", records) for any kind of source; files are closed by ``stack``."""
    if isinstance(source, list):
        records: Iterator[Record] = iter(enumerate(source, start=1))
        if format is None:
            format = format_sniff(source[0]) if source else "jsonl"
        if format == "csv":
            raise ImportFailed("a JSON list is read as jsonl, oasst or pairs, not csv", field="format")
        return format, "item", records
    lines, name = text_lines_open(source, stack)
    head = list(islice(lines, 1))
    while head and not head[-1].strip():  # sniff the first non-blank line
        head += list(islice(lines, 1))
        if len(head) > 1000:
            break
    lines = chain(head, lines)
    if format is None:
        format = format_detect(name, head[-1] if head else "")
    if format == "csv":
        return format, "line", csv_records(lines)
    return format, "line", json_lines_records(lines)


def text_lines_open(source: str | Path | IO, stack: ExitStack) -> tuple[Iterator[str], str]:
    """Lines of a path or file object, gunzipped when it starts with the gzip magic, as UTF-8 text."""
    if isinstance(source, (str, Path)):
        try:
            stream: IO = stack.enter_context(open(source, "rb"))  # noqa: SIM115 - closed by the stack
        except OSError as error:
            raise ImportFailed(f"cannot open {source}: {error.strerror}", field="file") from None
        name = str(source)
    elif hasattr(source, "read"):
        stream, name = source, str(getattr(source, "name", "") or "")
        size, limit = getattr(source, "size", None), settings.IMPORT_MAX_UPLOAD_BYTES
        if isinstance(size, int) and size > limit:  # an upload (the web server refuses larger bodies first)
            raise ImportFailed(f"the upload is larger than the limit of {limit} bytes (IMPORT_MAX_UPLOAD_BYTES)")
        if hasattr(stream, "seek") and getattr(stream, "seekable", lambda: True)():
            stream.seek(0)
    else:
        raise ImportFailed(f"must be a path, a file or a list of records, not {type(source).__name__}", field="source")
    if isinstance(stream.read(0), str):
        return iter(stream), name
    if not (hasattr(stream, "seekable") and stream.seekable()):
        stream = io.BytesIO(stream.read())
    magic = stream.read(2)
    stream.seek(-len(magic), io.SEEK_CUR)
    if magic == GZIP_MAGIC:
        stream = stack.enter_context(gzip.GzipFile(fileobj=stream, mode="rb"))
    return binary_line_iterator(stream), name


class BlankRun(str):
    """Blank lines read as one block (at most 64 KiB): readers count ``lines`` and skip them."""

    lines: int


def blank_run(raw: bytes) -> BlankRun:
    run = BlankRun(raw.decode("ascii"))
    run.lines = raw.count(b"\n")
    return run


def binary_line_iterator(stream: IO[bytes]) -> Iterator[str]:
    """UTF-8 lines of a binary stream, decoded one by one so that an error names its line.

    Memory stays flat whatever arrives: a line is read up to ``IMPORT_MAX_LINE_BYTES`` and refused
    beyond it, the whole (after gunzip) is refused past ``IMPORT_MAX_DECOMPRESSED_BYTES``, and runs of
    blank lines come as ``BlankRun`` blocks (100 MiB of newlines took 36 s line by line).
    """
    max_line, max_total = settings.IMPORT_MAX_LINE_BYTES, settings.IMPORT_MAX_DECOMPRESSED_BYTES
    number = total = 0

    def counted(raw: bytes, lines: int) -> None:
        nonlocal number, total
        number, total = number + lines, total + len(raw)
        if total > max_total:
            raise ImportFailed(
                f"the data is larger than the limit of {max_total} bytes (IMPORT_MAX_DECOMPRESSED_BYTES)",
                line=number,
            )

    try:
        while True:
            raw = stream.readline(max_line + 1)
            if not raw:
                return
            counted(raw, 1)
            if len(raw) > max_line and not raw.endswith(b"\n"):
                raise ImportFailed(f"longer than the limit of {max_line} bytes (IMPORT_MAX_LINE_BYTES)", line=number)
            if not raw.strip():
                yield blank_run(raw)
                for block in _blank_blocks(stream):
                    counted(block, block.count(b"\n"))
                    yield blank_run(block)
                continue
            try:
                line = raw.decode()
            except UnicodeDecodeError:
                raise ImportFailed("not valid UTF-8 text", line=number) from None
            # Drop the byte-order mark spreadsheet programs put in front of CSV files.
            yield line.removeprefix("\ufeff") if number == 1 else line
    except (OSError, EOFError, zlib.error) as error:
        raise ImportFailed(f"unreadable gzip data ({error})", line=number + 1) from None


BLANK = b"\r\n \t"


def _blank_blocks(stream: IO[bytes]) -> Iterator[bytes]:
    """The whole blank lines that follow, a block at a time, where the stream can peek."""
    if not hasattr(stream, "peek"):
        return
    while True:
        block = stream.peek(64 * 1024)[: 64 * 1024]
        blank = len(block) - len(block.lstrip(BLANK))
        cut = block.rfind(b"\n", 0, blank) + 1  # whole lines only: the next line keeps its own indent
        if cut == 0:
            return
        yield stream.read(cut)


def format_detect(name: str, first_line: str) -> str:
    name = name.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    try:
        first = json.loads(first_line)
    except (json.JSONDecodeError, RecursionError):
        looks_like_csv_header = "," in first_line and "prompt" in first_line and not first_line.lstrip().startswith("{")
        return "csv" if looks_like_csv_header else "jsonl"
    return format_sniff(first)


def format_sniff(first: Any) -> str:
    if isinstance(first, dict):
        if "message_tree_id" in first or isinstance(first.get("prompt"), dict):
            return "oasst"
        if "chosen" in first and "rejected" in first:
            return "pairs"
    return "jsonl"


def json_lines_records(lines: Iterable[str]) -> Iterator[Record]:
    number = 0
    for line in lines:
        if isinstance(line, BlankRun):
            number += line.lines
            continue
        number += 1
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as error:
            yield number, RecordError(None, f"bad JSON ({error.msg} at column {error.colno})")
        except RecursionError:
            yield number, RecordError(None, "JSON nested too deeply")


def csv_records(lines: Iterable[str]) -> Iterator[Record]:
    """CSV rows as records, numbered by the line each starts on (a quoted cell may span lines)."""
    csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))  # cells hold JSON lists of long texts
    # Blank lines one by one again: inside a quoted cell they are part of its text.
    lines = chain.from_iterable(
        line.splitlines(keepends=True) if isinstance(line, BlankRun) else (line,) for line in lines
    )
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return
    header = [column.strip() for column in header]
    for required in ("prompt", "completions"):
        if required not in header:
            raise ImportFailed(
                f"missing column {required!r} (columns: id, prompt, context, completions, metadata)",
                line=1,
                field="header",
            )
    end = reader.line_num
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num
            if not cells:
                continue
            if len(cells) > len(header):
                yield start, RecordError(None, f"{len(cells)} cells, but the header names {len(header)} columns")
                continue
            try:
                yield start, csv_row_decode(dict(zip(header, cells, strict=False)))
            except RecordError as error:
                yield start, error
    except csv.Error as error:
        raise ImportFailed(f"bad CSV ({error})", line=end + 1) from None


# --- checking -----------------------------------------------------------------------------

PARSERS: dict[str, Callable[..., PromptRow | list[PromptRow]]] = {
    "jsonl": prompt_record_parse,
    "csv": prompt_record_parse,
    "oasst": oasst_tree_parse,
    "pairs": pair_record_parse,
}


def rows_check(
    records: Iterable[Record],
    *,
    format: str,
    unit: str,
    k_min: int,
    k_max: int,
    result: ImportResult,
    lines: list[int] | None = None,
    progress: Progress | None = None,
) -> list[PromptRow]:
    """Parse and check every record against the project; the first problem raises ``ImportFailed``.

    ``lines``, when given, receives the line (or item) number of every row returned."""
    parse = PARSERS[format]
    max_chars = settings.MAX_TEXT_CHARS
    rows: list[PromptRow] = []
    first_line_of_id: dict[str, int] = {}
    for read, (number, record) in enumerate(records, start=1):
        if progress is not None and read % PROGRESS_EVERY == 0:
            progress("checking", read, None)
        try:
            if isinstance(record, RecordError):
                raise record
            try:
                parsed = parse(record, max_chars=max_chars)
            except IdenticalPair:
                result.identical_pairs_skipped += 1
                continue
            except EmptyReplyPair:
                result.empty_pairs_skipped += 1
                continue
            for row in parsed if isinstance(parsed, list) else [parsed]:
                row_check(row, k_min=k_min, k_max=k_max)
                if row.external_id in first_line_of_id:
                    seen = first_line_of_id[row.external_id]
                    if row.external_id.startswith(CONTENT_ID_PREFIX):
                        raise RecordError(None, f"same prompt, context and completions as {unit} {seen}")
                    raise RecordError("id", f"{row.external_id!r} is also the id of {unit} {seen}")
                first_line_of_id[row.external_id] = number
                rows.append(row)
                if lines is not None:
                    lines.append(number)
        except RecordError as error:
            raise ImportFailed(error.reason, line=number, field=error.field, unit=unit) from None
    return rows


def row_check(row: PromptRow, *, k_min: int, k_max: int) -> None:
    k = len(row.completions)
    if not k_min <= k <= k_max:
        raise RecordError("completions", f"{k} given; this project takes {k_min} to {k_max} per prompt")
    if row.order is not None:
        # The one rule for valid orders; imported human ties are kept whatever the project allows.
        try:
            order_validate(order=row.order, completion_ids=list(range(k)), allow_ties=True)
        except ValidationError as error:
            raise RecordError("rank", "; ".join(error.messages)) from None
    if row.gold is not None:
        # Positions of the record's completions, 0 = first listed; every one once, ties allowed.
        try:
            order_validate(order=row.gold, completion_ids=list(range(k)), allow_ties=True)
        except ValidationError as error:
            raise RecordError("gold", "; ".join(error.messages)) from None


# --- writing ------------------------------------------------------------------------------


def rows_write(
    *, project: Project, rows: list[PromptRow], annotator: AbstractBaseUser | None, result: ImportResult
) -> None:
    """Bulk-insert one chunk: prompts not yet in the project, their completions, their rankings."""
    existing = set(
        Prompt.objects.filter(project=project, external_id__in=[row.external_id for row in rows]).values_list(
            "external_id", flat=True
        )
    )
    new_rows = [row for row in rows if row.external_id not in existing]
    result.prompts_existing += len(rows) - len(new_rows)
    if not new_rows:
        return
    completion_count = sum(len(row.completions) for row in new_rows)
    prompt_writer = CopyWriter.for_model(Prompt, PROMPT_COPY_FIELDS)
    completion_writer = CopyWriter.for_model(Completion, COMPLETION_COPY_FIELDS)
    if prompt_writer and completion_writer:
        prompt_ids = prompt_writer.ids_reserve(len(new_rows))
        completion_ids = completion_writer.ids_reserve(completion_count)
        prompt_writer.insert(
            (prompt_id, project.pk, row.text, row.context, row.external_id, row.metadata, ranking_count(row))
            for prompt_id, row in zip(prompt_ids, new_rows, strict=True)
        )
        completion_id = iter(completion_ids)
        completion_writer.insert(
            (next(completion_id), prompt_id, c.text, c.model_name, c.external_id, c.metadata, position)
            for prompt_id, row in zip(prompt_ids, new_rows, strict=True)
            for position, c in enumerate(row.completions)
        )
    else:
        prompts = Prompt.objects.bulk_create(
            Prompt(
                project=project,
                text=row.text,
                context=row.context,
                external_id=row.external_id,
                metadata=row.metadata,
                ranking_count=ranking_count(row),
            )
            for row in new_rows
        )
        prompt_ids = [prompt.pk for prompt in prompts]
        completions = Completion.objects.bulk_create(
            (
                Completion(
                    prompt_id=prompt_id,
                    text=c.text,
                    model_name=c.model_name,
                    external_id=c.external_id,
                    metadata=c.metadata,
                    position=position,
                )
                for prompt_id, row in zip(prompt_ids, new_rows, strict=True)
                for position, c in enumerate(row.completions)
            ),
            batch_size=CHUNK_PROMPTS,
        )
        completion_ids = [completion.pk for completion in completions]
    result.prompts_created += len(new_rows)
    result.completions_created += completion_count

    ranked = []
    offset = 0
    for prompt_id, row in zip(prompt_ids, new_rows, strict=True):
        ids = completion_ids[offset : offset + len(row.completions)]
        offset += len(row.completions)
        if row.order is not None:
            ranked.append((prompt_id, ids, [[ids[position] for position in group] for group in row.order]))
        if row.gold is not None:  # gold prompts are few: one update each
            gold = [[ids[position] for position in group] for group in row.gold]
            Prompt.objects.filter(pk=prompt_id).update(gold_order=gold)
    if ranked:
        rankings_write(ranked=ranked, annotator=annotator, result=result)


def ranking_count(row: PromptRow) -> int:
    """Prompt.ranking_count, the queue counter ranking_record keeps: a new prompt gets one imported ranking."""
    return 0 if row.order is None else 1


def rankings_write(
    *, ranked: list[tuple[int, list[int], list[list[int]]]], annotator: AbstractBaseUser, result: ImportResult
) -> None:
    """The bulk form of ``ranking_record``: a submitted assignment, a ranking and its entries per prompt."""
    now = timezone.now()
    assignments = Assignment.objects.bulk_create(
        Assignment(
            prompt_id=prompt_id,
            annotator=annotator,
            state=Assignment.State.SUBMITTED,
            started_at=now,
            expires_at=now,
            finished_at=now,
            # Nobody was shown these replies here, and source files often list them best first:
            # an unknown order keeps imported rankings out of the position-bias figures.
            shown_order=[],
        )
        for prompt_id, _ids, _ in ranked
    )
    rankings = Ranking.objects.bulk_create(
        Ranking(
            assignment_id=assignment.pk,
            annotator=annotator,
            prompt_id=prompt_id,
            order=order,
            flags={},
            source=Ranking.Source.IMPORT,
        )
        for assignment, (prompt_id, _, order) in zip(assignments, ranked, strict=True)
    )
    RankingEntry.objects.bulk_create(
        (
            RankingEntry(ranking_id=ranking.pk, prompt_id=prompt_id, completion_id=completion_id, rank=rank, flags=[])
            for ranking, (prompt_id, _, order) in zip(rankings, ranked, strict=True)
            for rank, group in enumerate(order)
            for completion_id in group
        ),
        batch_size=CHUNK_PROMPTS,
    )
    result.rankings_created += len(rankings)
    result.comparisons_created += sum(order_comparisons(order) for _, _, order in ranked)


def order_comparisons(order: list[list[int]]) -> int:
    """Ordered pairs of a ranking: pairs of completions in different groups (ties give none)."""
    return comb(sum(map(len, order)), 2) - sum(comb(len(group), 2) for group in order)
