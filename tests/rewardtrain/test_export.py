"""export_comparisons and the export service: formats, options, split and metadata."""

from __future__ import annotations

import csv
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from annotate.models import Completion, Ranking
from rewardtrain.core.data import load_records
from rewardtrain.models import Comparison
from rewardtrain.services.comparisons import comparisons_expand
from rewardtrain.services.export import ExportOptions, export_to_path, prompt_side, render_prompt
from tests.rewardtrain.ranking_factory import annotators, rank


@pytest.fixture
def ranked(project, make_prompt):
    """Two prompts of K=4, each ranked by three raters (rater2 disagrees); one tie; expanded."""
    raters = annotators(3)
    first = make_prompt(
        project,
        k=4,
        text="First prompt",
        context=[{"role": "user", "text": "Hi"}, {"role": "assistant", "text": "Hello!"}],
    )
    second = make_prompt(project, k=4, text="Second prompt")
    for prompt in (first, second):
        rank(prompt, raters[0], [[0], [1], [2], [3]], seconds=10)
        rank(prompt, raters[1], [[0], [1, 2], [3]], seconds=20)
        rank(prompt, raters[2], [[3], [2], [1], [0]], seconds=30)
    comparisons_expand()
    return {"raters": raters, "prompts": [first, second]}


def read_jsonl(path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def export(project, tmp_path, name="out.jsonl", **options) -> tuple[list[dict], dict]:
    path = tmp_path / name
    meta = export_to_path(project=project, options=ExportOptions(**options), path=path)
    return (read_jsonl(path) if path.suffix == ".jsonl" else path), meta


@pytest.mark.django_db
def test_trl_lines_hold_the_rendered_prompt_and_both_texts(project, ranked, tmp_path):
    lines, meta = export(project, tmp_path, format="trl")

    strict = Comparison.objects.filter(project=project, is_tie=False).count()
    assert len(lines) == strict == meta["counts"]["comparisons"] == meta["counts"]["lines"]
    assert set(lines[0]) == {"prompt", "chosen", "rejected"}
    assert lines[0]["prompt"] == "User: Hi\n\nAssistant: Hello!\n\nUser: First prompt\n\nAssistant: "
    first = Comparison.objects.filter(project=project, is_tie=False).select_related("chosen", "rejected").first()
    assert (lines[0]["chosen"], lines[0]["rejected"]) == (first.chosen.text, first.rejected.text)


def test_a_prompt_without_context_renders_as_one_user_turn():
    assert render_prompt([], "Why?") == "User: Why?\n\nAssistant: "


@pytest.mark.django_db
def test_margin_and_kept_ties_add_their_fields(project, ranked, tmp_path):
    lines, meta = export(project, tmp_path, format="trl", margin=True, ties=True)

    assert meta["counts"]["ties"] == 2
    ties = [line for line in lines if line["tie"]]
    assert len(ties) == 2 and all(line["margin"] == 0 for line in ties)
    assert {line["margin"] for line in lines if not line["tie"]} == {1.0, 2.0, 3.0}


@pytest.mark.django_db
def test_pair_schemes_keep_adjacent_groups_or_the_best_against_the_rest(project, ranked, tmp_path):
    _, every = export(project, tmp_path, format="trl")
    _, adjacent = export(project, tmp_path, format="trl", pairs="adjacent")
    _, best = export(project, tmp_path, format="trl", pairs="best_vs_rest")

    # per prompt: rater0 K=4 strict: 6 pairs, 3 adjacent, 3 best; rater1 [[0],[1,2],[3]]: 5 pairs, 4, 3; rater2: 6, 3, 3
    assert every["counts"]["comparisons"] == 2 * (6 + 5 + 6)
    assert adjacent["counts"]["comparisons"] == 2 * (3 + 4 + 3)
    assert best["counts"]["comparisons"] == 2 * (3 + 3 + 3)


@pytest.mark.django_db
def test_filters_by_annotator_and_date(project, ranked, tmp_path):
    _, meta = export(project, tmp_path, format="trl", annotators=("rater0",))
    assert meta["counts"]["rankings"] == 2 and meta["counts"]["comparisons"] == 12

    tomorrow = timezone.now() + timedelta(days=1)
    _, meta = export(project, tmp_path, format="trl", since=tomorrow)
    assert meta["counts"]["lines"] == 0
    _, meta = export(project, tmp_path, format="trl", until=tomorrow)
    assert meta["counts"]["comparisons"] == 34


@pytest.mark.django_db
def test_min_agreement_drops_the_annotator_who_disagrees(project, ranked, tmp_path):
    # rater0 and rater1 agree on 5 of 6 pairs per prompt and with rater2 on none: 10/24 each; rater2 0.
    _, meta = export(project, tmp_path, format="rankings", min_agreement=0.4)

    lines = read_jsonl(tmp_path / "out.jsonl")
    assert {line["annotator"] for line in lines} == {"rater0", "rater1"}
    assert meta["counts"]["rankings"] == 4


@pytest.mark.django_db
def test_the_split_is_by_prompt_deterministic_and_complete(project, make_prompt, annotator, tmp_path):
    prompts = [make_prompt(project, k=3, text=f"Prompt {index}") for index in range(30)]
    for prompt in prompts:
        rank(prompt, annotator, [[0], [1], [2]])
    comparisons_expand()

    train, train_meta = export(project, tmp_path, "train.jsonl", format="trl", split="train", test_fraction=0.3, seed=7)
    test, test_meta = export(project, tmp_path, "test.jsonl", format="trl", split="test", test_fraction=0.3, seed=7)
    both, _ = export(project, tmp_path, "all.jsonl", format="trl", test_fraction=0.3, seed=7)

    assert {line["prompt"] for line in train}.isdisjoint({line["prompt"] for line in test})
    assert len(train) + len(test) == 90 and test
    assert sum(line["split"] == "test" for line in both) == len(test)
    expected_test = {prompt.id for prompt in prompts if prompt_side(prompt.id, seed=7, test_fraction=0.3) == "test"}
    assert test_meta["counts"]["prompts"] == len(expected_test)
    assert train_meta["split"]["seed"] == 7 and train_meta["split"]["by"] == "prompt"


@pytest.mark.django_db
def test_rankings_lines_are_the_k_wise_format_the_trainer_reads(project, ranked, tmp_path):
    lines, meta = export(project, tmp_path, format="rankings")

    assert meta["counts"]["lines"] == 6
    tied = next(line for line in lines if line["annotator"] == "rater1")
    ranking = Ranking.objects.get(pk=tied["ranking_id"])
    assert [[tied["completion_ids"][index] for index in group] for group in tied["order"]] == ranking.order
    assert [len(group) for group in tied["order"]] == [1, 2, 1]
    assert tied["seconds"] == 20
    records = load_records(tmp_path / "out.jsonl")
    assert len(records) == 6
    assert records[0].context == [{"role": "user", "text": "Hi"}, {"role": "assistant", "text": "Hello!"}]


@pytest.mark.django_db
def test_shuffled_rankings_round_trip_to_the_same_pairs(project, ranked, tmp_path):
    lines, _ = export(project, tmp_path, format="rankings")
    records = load_records(tmp_path / "out.jsonl")
    texts = dict(Completion.objects.filter(prompt__project=project).values_list("pk", "text"))
    for line, record in zip(lines, records, strict=True):
        strict_pairs = Comparison.objects.filter(ranking_id=line["ranking_id"], is_tie=False)
        expected = sorted((texts[pair.chosen_id], texts[pair.rejected_id]) for pair in strict_pairs)
        exported = sorted((record.completions[c.winner], record.completions[c.loser]) for c in record.comparisons())
        assert exported == expected
        assert [texts[completion_id] for completion_id in line["completion_ids"]] == line["completions"]
    # Position tells nothing: the imports listed completions best first for rater0, the export does not.
    assert any(line["order"] != [[0], [1], [2], [3]] for line in lines if line["annotator"] == "rater0")
    again, _ = export(project, tmp_path, "again.jsonl", format="rankings")
    assert again == lines  # the same seed, the same order
    other, _ = export(project, tmp_path, "other.jsonl", format="rankings", seed=7)
    assert [line["completions"] for line in other] != [line["completions"] for line in lines]
    assert sorted(map(sorted, (line["completions"] for line in other))) == sorted(
        map(sorted, (line["completions"] for line in lines))
    )


@pytest.mark.django_db
def test_consensus_has_one_line_per_prompt_with_the_majority_order(project, ranked, tmp_path):
    lines, meta = export(project, tmp_path, format="consensus")

    assert meta["counts"]["lines"] == 2
    assert lines[0]["rankings"] == 3
    first_position = ranked["prompts"][0].completions.order_by("position")[0].pk
    assert [lines[0]["completion_ids"][i] for i in lines[0]["order"][0]] == [first_position]  # two of three
    assert 0 < lines[0]["agreement"] < 1
    assert len(load_records(tmp_path / "out.jsonl")) == 2


@pytest.mark.django_db
def test_csv_has_a_header_and_one_row_per_comparison(project, ranked, tmp_path):
    path, meta = export(project, tmp_path, "out.csv", format="csv", ties=True)

    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == Comparison.objects.count() == meta["counts"]["lines"]
    assert rows[0]["prompt"].startswith("User: Hi")
    assert {row["is_tie"] for row in rows} == {"0", "1"}


@pytest.mark.django_db
def test_parquet_holds_the_same_rows(project, ranked, tmp_path):
    import pyarrow.parquet as pq

    path, meta = export(project, tmp_path, "out.parquet", format="parquet")

    table = pq.read_table(path)
    assert table.num_rows == meta["counts"]["comparisons"] == 34
    assert table.column("is_tie").to_pylist() == [False] * 34
    assert table.schema.field("weight").type == "double"


def export_trl(project, out, *options: str) -> None:
    """``manage.py export_comparisons --format trl`` of ``project`` to ``out``, with more options."""
    call_command("export_comparisons", "--project", project.name, "--format", "trl", "--out", str(out), *options)


@pytest.mark.django_db
def test_the_command_writes_the_file_and_its_metadata(project, ranked, tmp_path, capsys):
    out = tmp_path / "pairs.jsonl"
    export_trl(project, out, "--test-fraction", "0.5", "--split", "train")

    meta = json.loads((tmp_path / "pairs.jsonl.meta.json").read_text())
    assert meta["counts"]["lines"] == len(read_jsonl(out))
    assert meta["options"]["test_fraction"] == 0.5
    assert "Wrote" in capsys.readouterr().out


@pytest.mark.django_db
def test_the_command_names_a_bad_option(project, tmp_path):
    with pytest.raises(CommandError, match="min_agreement"):
        export_trl(project, tmp_path / "x.jsonl", "--min-agreement", "2")
    with pytest.raises(CommandError, match="annotators"):
        export_trl(project, tmp_path / "x.jsonl", "--annotators", "nobody")


@pytest.mark.django_db
def test_a_project_without_comparisons_exports_an_empty_file(project, tmp_path):
    lines, meta = export(project, tmp_path, format="trl")
    assert lines == [] and meta["counts"]["lines"] == 0


def trl_lengths(tokenizer, lines: list[dict]) -> list[int]:
    """What TRL's RewardTrainer measures: prompt + text + EOS, special tokens on; a pair by its longer side."""
    eos = tokenizer.eos_token or ""

    def length(text: str) -> int:
        return len(tokenizer(text + eos, verbose=False)["input_ids"])

    return [max(length(line["prompt"] + line["chosen"]), length(line["prompt"] + line["rejected"])) for line in lines]


@pytest.mark.django_db
def test_the_metadata_names_the_token_lengths_of_the_default_backbone(project, ranked, tmp_path):
    from transformers import AutoTokenizer

    from rewardtrain.core.config import default_model_path

    lines, meta = export(project, tmp_path, format="trl")
    lengths = meta["token_lengths"]
    expected = trl_lengths(AutoTokenizer.from_pretrained(default_model_path()), lines)
    assert lengths["tokenizer"] == "the default base model" and lengths["max_positions"] == 512
    assert lengths["items"] == len(lines) and lengths["max"] == max(expected)
    assert lengths["over_max_positions"] == 0 and lengths["over_length"]["1024"] == 0
    on_disk = json.loads((tmp_path / "out.jsonl.meta.json").read_text())
    assert on_disk["token_lengths"] == lengths


@pytest.mark.django_db
def test_the_token_lengths_follow_the_active_model_and_count_what_trl_would_drop(
    project, make_prompt, annotator, tmp_path
):
    from transformers import AutoTokenizer

    from rewardtrain.models import ModelVersion
    from tests.core.conftest import build_tiny_encoder

    artifact = build_tiny_encoder(tmp_path / "tiny")  # 128 positions
    ModelVersion.objects.create(project=project, version=1, artifact_path=str(artifact), is_active=True)
    prompt = make_prompt(project, k=3, text="Summarise: " + "long words here " * 60)
    rank(prompt, annotator, [[0], [1], [2]])
    comparisons_expand()

    lines, meta = export(project, tmp_path, format="trl")
    lengths = meta["token_lengths"]
    expected = trl_lengths(AutoTokenizer.from_pretrained(artifact), lines)
    assert lengths["tokenizer"] == "active model version 1" and lengths["max_positions"] == 128
    assert lengths["items"] == 3 and lengths["max"] == max(expected) > 128
    assert lengths["over_max_positions"] == sum(length > 128 for length in expected) == 3
    _, meta = export(project, tmp_path, "ranked.jsonl", format="rankings")
    assert meta["token_lengths"]["unit"] == "completion" and meta["token_lengths"]["items"] == 3
