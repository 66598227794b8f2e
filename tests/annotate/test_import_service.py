"""prompts_import: every format, every error (with line and field, nothing written), idempotence."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from annotate.models import Assignment, Completion, Project, Prompt, Ranking, RankingEntry
from annotate.services.imports import ImportFailed, prompts_import

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OASST = Path(__file__).resolve().parents[2] / "annotate" / "fixtures" / "oasst_en100" / "en_100_tree.jsonl"
FOUR = ["First reply", "Second reply", "Third reply", "Fourth reply"]


def jsonl(path: Path, records: list) -> Path:
    path.write_text("".join((record if isinstance(record, str) else json.dumps(record)) + "\n" for record in records))
    return path


def nothing_written() -> bool:
    return not (Prompt.objects.exists() or Completion.objects.exists() or Ranking.objects.exists())


def hh(*turns: str) -> str:
    return "".join(f"\n\n{'Human' if index % 2 == 0 else 'Assistant'}: {text}" for index, text in enumerate(turns))


# --- prompts: JSONL, CSV, JSON lists, file objects ------------------------------------------


def test_it_imports_jsonl_with_ids_context_models_and_metadata(project, tmp_path):
    path = jsonl(
        tmp_path / "prompts.jsonl",
        [
            {
                "id": "p1",
                "prompt": "Explain recursion.",
                "context": [{"role": "user", "text": "Hi"}, {"role": "assistant", "text": "Hello!"}],
                "completions": ["A", {"text": "B", "model": "gpt-x", "id": "c2"}, "C", "D"],
                "metadata": {"topic": "cs"},
            },
            {"id": 7, "prompt": "Say hi.", "completions": FOUR},
        ],
    )
    result = prompts_import(project=project, source=path)
    assert (result.format, result.prompts_created, result.completions_created, result.rankings_created) == (
        "jsonl",
        2,
        8,
        0,
    )
    prompt = Prompt.objects.get(external_id="p1")
    assert prompt.context == [{"role": "user", "text": "Hi"}, {"role": "assistant", "text": "Hello!"}]
    assert prompt.metadata == {"topic": "cs"}
    assert list(prompt.completions.values_list("text", "model_name", "external_id", "position")) == [
        ("A", "", "", 0),
        ("B", "gpt-x", "c2", 1),
        ("C", "", "", 2),
        ("D", "", "", 3),
    ]
    assert Prompt.objects.filter(external_id="7").exists()
    assert "2 prompts created" in result.summary()


def test_reimporting_the_same_ids_changes_nothing(project, tmp_path):
    path = jsonl(tmp_path / "prompts.jsonl", [{"id": "p1", "prompt": "Q", "completions": FOUR}])
    prompts_import(project=project, source=path)
    Prompt.objects.update(text="edited in the meantime")
    again = prompts_import(project=project, source=path)
    assert (again.prompts_created, again.prompts_existing, again.completions_created) == (0, 1, 0)
    assert Prompt.objects.get().text == "edited in the meantime"
    assert Completion.objects.count() == 4


def test_prompts_without_an_id_get_a_content_hash_so_reimports_stay_idempotent(project, tmp_path):
    path = jsonl(
        tmp_path / "prompts.jsonl", [{"prompt": "Q", "completions": FOUR}, {"prompt": "R", "completions": FOUR}]
    )
    prompts_import(project=project, source=path)
    assert all(
        external_id.startswith("sha256:") for external_id in Prompt.objects.values_list("external_id", flat=True)
    )
    again = prompts_import(project=project, source=path)
    assert (again.prompts_created, again.prompts_existing) == (0, 2)


def test_it_imports_csv_with_json_columns_and_multiline_cells(project, tmp_path):
    path = tmp_path / "prompts.csv"
    path.write_text(
        "id,prompt,context,completions,metadata\n"
        'a,"Two\nlines",,"[""A"", ""B"", ""C"", ""D""]","{""k"": 1}"\n'
        'b,Plain,"[{""role"": ""user"", ""text"": ""Hi""}]","[""A"", ""B"", ""C"", ""D""]",\n'
    )
    result = prompts_import(project=project, source=path)
    assert result.prompts_created == 2
    first, second = Prompt.objects.order_by("external_id")
    assert (first.text, first.metadata, second.context) == ("Two\nlines", {"k": 1}, [{"role": "user", "text": "Hi"}])


def test_csv_errors_name_the_line_a_record_starts_on(project, tmp_path):
    path = tmp_path / "prompts.csv"
    path.write_text('prompt,completions\n"Two\nlines","[""A"", ""B"", ""C"", ""D""]"\nBad,"[""A"", ""B""]"\n')
    with pytest.raises(ImportFailed, match=r"^line 4: completions: 2 given"):
        prompts_import(project=project, source=path)
    assert nothing_written()


def test_csv_without_a_completions_column_is_refused(project, tmp_path):
    path = tmp_path / "prompts.csv"
    path.write_text("prompt,answers\nQ,A\n")
    with pytest.raises(ImportFailed, match="line 1: header: missing column 'completions'"):
        prompts_import(project=project, source=path)


def test_a_bad_json_cell_in_csv_names_line_and_column(project, tmp_path):
    path = tmp_path / "prompts.csv"
    path.write_text('prompt,completions\nQ,"[""A"", ""B"", ""C"", ""D""]"\nR,[not json\n')
    with pytest.raises(ImportFailed, match=r"^line 3: completions: bad JSON"):
        prompts_import(project=project, source=path)


def test_it_imports_a_list_of_dicts_and_numbers_items(project):
    result = prompts_import(project=project, source=[{"prompt": "Q", "completions": FOUR}])
    assert result.prompts_created == 1
    with pytest.raises(ImportFailed, match=r"^item 2: prompt: missing"):
        prompts_import(project=project, source=[{"prompt": "R", "completions": FOUR}, {"completions": FOUR}])


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("binary", [False, True])
def test_it_reads_file_objects_plain_or_gzipped(project, compress, binary):
    data = json.dumps({"prompt": "Q", "completions": FOUR}) + "\n"
    if compress:
        source: io.IOBase = io.BytesIO(gzip.compress(data.encode()))
    else:
        source = io.BytesIO(data.encode()) if binary else io.StringIO(data)
    assert prompts_import(project=project, source=source).prompts_created == 1


def test_it_reads_gzipped_paths(project, tmp_path):
    path = tmp_path / "prompts.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps({"prompt": "Q", "completions": FOUR}) + "\n").encode()))
    assert prompts_import(project=project, source=path).prompts_created == 1


# --- errors: line number and field, nothing written ------------------------------------------

GOOD = json.dumps({"prompt": "Fine", "completions": FOUR})


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"prompt": "Q", "completions": [', r"^line 2: bad JSON"),
        (json.dumps({"completions": FOUR}), r"^line 2: prompt: missing"),
        (json.dumps({"prompt": "   ", "completions": FOUR}), r"^line 2: prompt: must not be empty"),
        (json.dumps({"prompt": 5, "completions": FOUR}), r"^line 2: prompt: must be a string, not a number"),
        (json.dumps({"prompt": "Q"}), r"^line 2: completions: missing"),
        (json.dumps({"prompt": "Q", "completions": "A"}), r"^line 2: completions: must be a list"),
        (
            json.dumps({"prompt": "Q", "completions": ["A", "B", "C"]}),
            r"^line 2: completions: 3 given; this project takes 4 to 9",
        ),
        (json.dumps({"prompt": "Q", "completions": [str(i) for i in range(10)]}), r"^line 2: completions: 10 given"),
        (
            json.dumps({"prompt": "Q", "completions": ["A", "B", "A", "C"]}),
            r"^line 2: completions\[2\]: same text as completions\[0\]",
        ),
        (
            json.dumps({"prompt": "Q", "completions": ["A", " \n\t ", "B", "C"]}),
            r"^line 2: completions\[1\]: must not be empty or whitespace only",
        ),
        (
            json.dumps({"prompt": "Q", "completions": ["A", "B", "C", {"text": "", "model": "m"}]}),
            r"^line 2: completions\[3\].text: must not be empty or whitespace only",
        ),
        (
            json.dumps({"prompt": "Q", "completions": ["A", "Hello  world.\n", "B", "Hello world."]}),
            r"^line 2: completions\[3\]: same text as completions\[1\] apart from whitespace$",
        ),
        (
            json.dumps({"prompt": "Q", "completions": ["A", "B", "x\u00a0y", "\tx\r\ny"]}),
            r"^line 2: completions\[3\]: same text as completions\[2\] apart from whitespace$",
        ),
        (
            json.dumps({"prompt": "Q", "completions": ["A", "B", 3, "C"]}),
            r"^line 2: completions\[2\]: must be a string or an object",
        ),
        (
            json.dumps({"prompt": "Q", "completions": ["A", "B", {"model": "m"}, "C"]}),
            r"^line 2: completions\[2\].text: missing",
        ),
        (
            json.dumps({"prompt": "Q", "completions": ["A", "B", "C", {"text": "D", "score": 1}]}),
            r"^line 2: completions\[3\].score: unknown field",
        ),
        (
            json.dumps({"prompt": "Q", "completions": FOUR, "context": [{"role": "bot", "text": "x"}]}),
            r"^line 2: context\[0\].role: must be one of user, assistant, system",
        ),
        (json.dumps({"prompt": "Q", "completions": FOUR, "context": "Hi"}), r"^line 2: context: must be a list"),
        (json.dumps({"prompt": "Q", "completions": FOUR, "metadata": [1]}), r"^line 2: metadata: must be an object"),
        (json.dumps({"prompt": "Q", "completion": FOUR}), r"^line 2: completion: unknown field"),
        (json.dumps({"prompt": "Q", "completions": FOUR, "id": ""}), r"^line 2: id: must be a non-empty string"),
        (json.dumps(["Q", FOUR]), r"^line 2: must be a JSON object, not a list"),
    ],
)
def test_one_bad_line_fails_the_whole_import_and_writes_nothing(project, tmp_path, bad_line, message):
    path = jsonl(tmp_path / "prompts.jsonl", [GOOD, bad_line, GOOD.replace("Fine", "Also fine")])
    with pytest.raises(ImportFailed, match=message):
        prompts_import(project=project, source=path)
    assert nothing_written()


def test_error_carries_line_and_field(project, tmp_path):
    path = jsonl(tmp_path / "prompts.jsonl", [GOOD, "", {"prompt": "Q", "completions": ["A"]}])
    with pytest.raises(ImportFailed) as caught:
        prompts_import(project=project, source=path)
    assert (caught.value.line, caught.value.field) == (3, "completions")


def test_text_over_the_size_limit_is_refused(project, tmp_path, settings):
    settings.MAX_TEXT_CHARS = 50
    path = jsonl(tmp_path / "prompts.jsonl", [GOOD, {"prompt": "Q", "completions": ["A", "B", "C", "x" * 51]}])
    with pytest.raises(ImportFailed, match=r"^line 2: completions\[3\]: is 51 characters; the limit is 50"):
        prompts_import(project=project, source=path)
    assert nothing_written()


def test_an_id_repeated_in_one_file_is_refused(project, tmp_path):
    path = jsonl(tmp_path / "prompts.jsonl", [{"id": "x", "prompt": "Q", "completions": FOUR}] * 2)
    with pytest.raises(ImportFailed, match=r"^line 2: id: 'x' is also the id of line 1"):
        prompts_import(project=project, source=path)


def test_a_record_repeated_without_an_id_is_refused(db):
    project = Project.objects.create(name="Pairs")
    pair = {"prompt": "Q", "chosen": "A", "rejected": "B"}
    with pytest.raises(ImportFailed, match=r"^item 3: same prompt, context and completions as item 1"):
        prompts_import(project=project, source=[pair, {**pair, "chosen": "C"}, pair])


def test_invalid_utf8_is_refused_with_its_line(project, tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(GOOD.encode() + b"\n" + b'{"prompt": "\xff\xfe"}\n')
    with pytest.raises(ImportFailed, match=r"^line 2: not valid UTF-8"):
        prompts_import(project=project, source=path)
    assert nothing_written()


def test_an_unknown_format_is_refused(project):
    with pytest.raises(ImportFailed, match=r"^format: must be one of jsonl, csv, oasst, pairs"):
        prompts_import(project=project, source=[], format="xml")


# --- Open Assistant trees --------------------------------------------------------------------


def test_the_shipped_oasst_trees_give_212_rankings_and_754_comparisons(db):
    project = Project.objects.create(name="OA")  # default K range 4..9: a new project takes 2..9
    result = prompts_import(project=project, source=OASST)
    assert result.format == "oasst"
    assert (result.prompts_created, result.completions_created, result.rankings_created) == (212, 641, 212)
    assert result.comparisons_created == 754
    project.refresh_from_db()
    assert (project.min_completions, project.max_completions) == (2, 9)

    rankings = Ranking.objects.filter(prompt__project=project)
    assert sum(len(ranking.pairs()) for ranking in rankings) == 754
    assert set(rankings.values_list("source", flat=True)) == {Ranking.Source.IMPORT}
    importer = get_user_model().objects.get(username="import")
    assert not importer.is_staff and not importer.has_usable_password()
    assert set(rankings.values_list("annotator", flat=True)) == {importer.pk}
    assert set(Assignment.objects.values_list("state", flat=True)) == {Assignment.State.SUBMITTED}
    # Nobody was shown these replies: no shown order, so no position bias is read into them.
    assert set(map(tuple, Assignment.objects.values_list("shown_order", flat=True))) == {()}
    assert set(Prompt.objects.values_list("ranking_count", "open_assignment_count")) == {(1, 0)}
    # Every ranking puts OASST rank 0 first and agrees with its entries.
    for ranking in rankings[:20]:
        oasst_ranks = {c.pk: c.metadata["oasst_rank"] for c in ranking.prompt.completions.all()}
        flat = [completion_id for group in ranking.order for completion_id in group]
        assert [oasst_ranks[completion_id] for completion_id in flat] == sorted(oasst_ranks.values())
        entries = {entry.completion_id: entry.rank for entry in ranking.entries.all()}
        assert entries == {cid: rank for rank, group in enumerate(ranking.order) for cid in group}
    follow_ups = Prompt.objects.filter(project=project).exclude(context=[])
    assert follow_ups.count() == 113
    assert follow_ups.first().context[0]["role"] == "user"

    again = prompts_import(project=project, source=OASST)
    assert (again.prompts_created, again.prompts_existing, again.rankings_created) == (0, 212, 0)
    assert Ranking.objects.count() == 212


def oasst_tree(replies: list[dict]) -> dict:
    return {
        "message_tree_id": "t1",
        "prompt": {"message_id": "m0", "role": "prompter", "text": "Question?", "replies": replies},
    }


def reply(message_id: str, rank: int | None, text: str | None = None, deleted: bool = False) -> dict:
    return {
        "message_id": message_id,
        "role": "assistant",
        "text": text or f"Reply {message_id}",
        "rank": rank,
        "deleted": deleted,
        "replies": [],
    }


def test_oasst_equal_ranks_become_a_tie_and_unranked_or_deleted_replies_are_left_out(db, tmp_path):
    project = Project.objects.create(name="OA")
    tree = oasst_tree([reply("a", 1), reply("b", 0), reply("c", 1), reply("d", None), reply("e", 2, deleted=True)])
    prompts_import(project=project, source=jsonl(tmp_path / "t.jsonl", [tree]))
    prompt = Prompt.objects.get(external_id="m0")
    ids = dict(prompt.completions.values_list("external_id", "id"))
    assert sorted(ids) == ["a", "b", "c"]
    assert Ranking.objects.get().order == [[ids["b"]], [ids["a"], ids["c"]]]
    assert RankingEntry.objects.count() == 3


def test_oasst_into_a_project_with_prompts_keeps_its_range_and_refuses_small_groups(project, make_prompt, tmp_path):
    make_prompt(project, k=4)
    path = jsonl(tmp_path / "t.jsonl", [oasst_tree([reply("a", 0), reply("b", 1)])])
    with pytest.raises(ImportFailed, match=r"^line 1: completions: 2 given; this project takes 4 to 9"):
        prompts_import(project=project, source=path)
    assert Prompt.objects.count() == 1


def test_oasst_structure_errors_name_the_node(db, tmp_path):
    project = Project.objects.create(name="OA")
    bad = oasst_tree([reply("a", 0), {**reply("b", 1), "text": None}])
    with pytest.raises(ImportFailed, match=r"^line 1: prompt.replies\[1\].text: missing"):
        prompts_import(project=project, source=jsonl(tmp_path / "t.jsonl", [bad]), format="oasst")
    with pytest.raises(ImportFailed, match=r"^line 1: prompt: missing"):
        prompts_import(project=project, source=jsonl(tmp_path / "u.jsonl", [{"x": 1}]), format="oasst")
    assert nothing_written()


def test_oasst_replies_that_are_blank_or_equal_apart_from_whitespace_are_refused(db, tmp_path):
    project = Project.objects.create(name="OA")
    blank = oasst_tree([reply("a", 0), {**reply("b", 1), "text": " \n "}])
    with pytest.raises(ImportFailed, match=r"^line 1: prompt.replies\[1\].text: must not be empty or whitespace only"):
        prompts_import(project=project, source=jsonl(tmp_path / "t.jsonl", [blank]), format="oasst")
    twins = oasst_tree([{**reply("a", 0), "text": "Same  reply"}, {**reply("b", 1), "text": "Same reply\n"}])
    with pytest.raises(ImportFailed, match=r"^line 1: completions\[1\]: same text as completions\[0\] apart from"):
        prompts_import(project=project, source=jsonl(tmp_path / "u.jsonl", [twins]), format="oasst")
    assert nothing_written()


# --- preference pairs ----------------------------------------------------------------------


def test_trl_pairs_become_k2_rankings_chosen_first(db, tmp_path):
    project = Project.objects.create(name="Pairs")
    path = jsonl(tmp_path / "pairs.jsonl", [{"prompt": "Q", "chosen": "Good", "rejected": "Bad", "margin": 2.0}])
    result = prompts_import(project=project, source=path)
    assert (result.format, result.rankings_created, result.comparisons_created) == ("pairs", 1, 1)
    project.refresh_from_db()
    assert project.min_completions == 2
    prompt = Prompt.objects.get()
    assert (prompt.text, prompt.metadata) == ("Q", {"margin": 2.0})
    good, bad = prompt.completions.all()
    assert (good.text, bad.text) == ("Good", "Bad")
    assert Ranking.objects.get().order == [[good.pk], [bad.pk]]


def test_hh_transcripts_split_into_context_prompt_and_two_replies(db, tmp_path):
    project = Project.objects.create(name="HH")
    conversation = ("Hi", "Hello! How can I help?", "Name a color.")
    record = {"chosen": hh(*conversation, "Blue."), "rejected": hh(*conversation, "No.\n\nHuman: ok")}
    prompts_import(project=project, source=jsonl(tmp_path / "hh.jsonl", [record]))
    prompt = Prompt.objects.get()
    assert prompt.text == "Name a color."
    assert prompt.context == [{"role": "user", "text": "Hi"}, {"role": "assistant", "text": "Hello! How can I help?"}]
    assert list(prompt.completions.values_list("text", flat=True)) == ["Blue.", "No.\n\nHuman: ok"]


def test_a_trl_prompt_in_hh_form_is_split_too(db):
    project = Project.objects.create(name="HH")
    prompts_import(
        project=project,
        source=[{"prompt": hh("Hi", "Hey", "Sum 2+2") + "\n\nAssistant:", "chosen": " 4", "rejected": " 5"}],
    )
    prompt = Prompt.objects.get()
    assert (prompt.text, len(prompt.context)) == ("Sum 2+2", 2)


def test_the_hh_fixture_imports_gzipped_and_skips_identical_pairs(db):
    project = Project.objects.create(name="HH")
    result = prompts_import(project=project, source=FIXTURES / "hh_pairs.jsonl.gz")
    counts = (result.prompts_created, result.rankings_created)
    assert counts + (result.identical_pairs_skipped, result.empty_pairs_skipped) == (17, 17, 2, 1)
    assert "2 pairs with identical replies skipped, 1 pair with an empty reply skipped" in result.summary()
    assert not Completion.objects.filter(text__regex=r"^\s*$").exists()
    # Its replies contain Human: turns of their own; the split is at the shared prefix.
    assert Prompt.objects.filter(text="What are some famous world music artists?", context=[]).exists()
    again = prompts_import(project=project, source=FIXTURES / "hh_pairs.jsonl.gz")
    assert (again.prompts_created, again.rankings_created, Ranking.objects.count()) == (0, 0, 17)


def test_pairs_equal_apart_from_whitespace_or_with_an_empty_reply_are_skipped_and_counted(db):
    project = Project.objects.create(name="Pairs")
    records = [
        {"prompt": "Q1", "chosen": "Same answer.", "rejected": "Same  answer.\n"},
        {"prompt": "Q2", "chosen": "A real answer.", "rejected": "   "},
        {"prompt": "Q3", "chosen": "", "rejected": "Only this side."},
        {"prompt": "Q4", "chosen": "Good.", "rejected": "Bad."},
    ]
    result = prompts_import(project=project, source=records, format="pairs")
    assert (result.prompts_created, result.identical_pairs_skipped, result.empty_pairs_skipped) == (1, 1, 2)
    assert Prompt.objects.get().text == "Q4"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"prompt": "Q", "rejected": "B"}, r"^item 1: chosen: missing"),
        ({"prompt": "Q", "chosen": ["A"], "rejected": "B"}, r"^item 1: chosen: must be a string"),
        ({"chosen": "Just text", "rejected": "Other text"}, r"^item 1: chosen: chosen and rejected share no"),
        ({"chosen": "Intro" + hh("Q", "A"), "rejected": "Intro" + hh("Q", "B")}, r"^item 1: chosen: an HH transcript"),
    ],
)
def test_bad_pairs_fail_with_item_and_field(db, record, message):
    project = Project.objects.create(name="Pairs")
    with pytest.raises(ImportFailed, match=message):
        prompts_import(project=project, source=[record], format="pairs")
    assert nothing_written()


def test_the_import_user_can_be_given(db, admin_user):
    project = Project.objects.create(name="Pairs")
    prompts_import(project=project, source=[{"prompt": "Q", "chosen": "A", "rejected": "B"}], import_user=admin_user)
    assert Ranking.objects.get().annotator == admin_user


def test_a_truncated_gzip_file_is_refused(project, tmp_path):
    data = gzip.compress(("\n".join([GOOD.replace("Fine", str(i)) for i in range(200)]) + "\n").encode())
    path = tmp_path / "prompts.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImportFailed, match=r"unreadable gzip data"):
        prompts_import(project=project, source=path)
    assert nothing_written()


def test_awkward_characters_survive_the_round_trip(project):
    awkward = 'tab\there, back\\slash \\N, new\nline, cr\r, "quotes", ünïcödé 🎉'
    prompts_import(
        project=project,
        source=[
            {
                "id": awkward[:20],
                "prompt": awkward,
                "completions": [awkward, "B", "C", {"text": "D", "model": awkward}],
                "context": [{"role": "system", "text": awkward}],
                "metadata": {"note": awkward},
            }
        ],
    )
    prompt = Prompt.objects.get()
    assert (prompt.text, prompt.context[0]["text"], prompt.metadata["note"]) == (awkward, awkward, awkward)
    assert list(prompt.completions.values_list("text", flat=True)) == [awkward, "B", "C", "D"]
    assert prompt.completions.get(text="D").model_name == awkward


def test_a_nul_character_is_refused(project):
    with pytest.raises(ImportFailed, match=r"^item 1: prompt: contains a NUL character"):
        prompts_import(project=project, source=[{"prompt": "a\x00b", "completions": FOUR}])


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is the PostgreSQL path")
def test_postgresql_writes_prompts_and_completions_with_copy(project):
    from annotate.importers.copy import CopyWriter
    from annotate.services.imports import COMPLETION_COPY_FIELDS, PROMPT_COPY_FIELDS

    assert CopyWriter.for_model(Prompt, PROMPT_COPY_FIELDS) is not None
    assert CopyWriter.for_model(Completion, COMPLETION_COPY_FIELDS) is not None
    prompts_import(project=project, source=[{"prompt": "Q", "completions": FOUR}])
    # Ids came from the sequences: ordinary inserts afterwards do not collide with them.
    later = Prompt.objects.create(project=project, text="later")
    assert later.pk > Prompt.objects.exclude(pk=later.pk).get().pk
    assert Completion.objects.create(prompt=later, text="x").pk > max(
        Completion.objects.values_list("pk", flat=True)[:4]
    )


# --- statistics after a large import (PostgreSQL) --------------------------------------------


def claim_plan(project: Project, annotator) -> str:
    """The generic plan of task_next's prepared statement (what a connection keeps after five runs),
    the part that picks the prompt ("CTE claimed")."""
    from django.utils import timezone

    from annotate.db import _positional
    from annotate.services.tasks import TASK_NEXT_POSTGRESQL_SQL

    text, names = _positional(TASK_NEXT_POSTGRESQL_SQL)
    params = {"project": project.pk, "user": annotator.pk, "staff": False, "annotator": annotator.pk}
    params["now"] = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")  # until the test's transaction ends
        cursor.execute(f"PREPARE claim_plan_probe AS {text}")
        try:
            placeholders = ", ".join(["%s"] * len(names))
            cursor.execute(f"EXPLAIN EXECUTE claim_plan_probe ({placeholders})", [params[name] for name in names])
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE claim_plan_probe")
    return plan.split("CTE claimed", 1)[1].split("CTE shown", 1)[0]


def test_a_large_import_gives_the_claim_a_plan_that_walks_the_queue_index(project, annotator):
    """Without statistics PostgreSQL planned the claim as "read every prompt of the project, then
    sort" (5 ms a claim at 3,000 prompts, and growing); the import's ANALYZE keeps it a walk of
    prompt_claim_order that stops at the first free prompt. (Fails with statistics_refresh off.)"""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's planner")
    prompts_import(project=project, source=[{"prompt": f"Question {i}", "completions": FOUR} for i in range(3000)])
    plan = claim_plan(project, annotator)
    assert "Index Scan using prompt_claim_order" in plan, plan
    assert "Sort" not in plan, plan


def test_statistics_are_refreshed_after_imports_that_grow_the_table_by_a_tenth(project):
    from annotate.services.imports import ANALYZE_AFTER_PROMPTS, statistics_refresh

    if connection.vendor != "postgresql":
        assert not statistics_refresh(prompts_created=10**6, rankings=True)  # nothing to do elsewhere
        return
    assert not statistics_refresh(prompts_created=ANALYZE_AFTER_PROMPTS - 1, rankings=False)
    prompts_import(project=project, source=[{"prompt": f"Question {i}", "completions": FOUR} for i in range(2000)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'annotate_prompt'::regclass")
        counted = cursor.fetchone()[0]
    assert counted == Prompt.objects.count() == 2000  # the import analyzed the table (all of it: it is small)
    assert not statistics_refresh(prompts_created=199, rankings=False)  # under a tenth of what was counted
    assert statistics_refresh(prompts_created=200, rankings=False)
