"""prompts_import's "gold" field: a reference ranking by completion position, checked like any order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotate.models import Completion, Prompt
from annotate.services.imports import ImportFailed, prompts_import


def jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def record(prompt: str, **fields) -> dict:
    return {"prompt": prompt, "completions": ["A", "B", "C", "D"], **fields}


def test_a_gold_field_marks_the_prompts_reference_ranking(project, tmp_path):
    path = jsonl(tmp_path / "gold.jsonl", [record("Gold one", gold=[[2], [0, 1], [3]]), record("Plain")])

    prompts_import(project=project, source=path)

    gold = Prompt.objects.get(text="Gold one")
    ids = list(Completion.objects.filter(prompt=gold).order_by("position").values_list("id", flat=True))
    assert gold.gold_order == [[ids[2]], [ids[0], ids[1]], [ids[3]]]
    assert Prompt.objects.get(text="Plain").gold_order is None


def test_a_bad_gold_order_names_its_line_and_field_and_imports_nothing(project, tmp_path):
    path = jsonl(tmp_path / "gold.jsonl", [record("Fine"), record("Bad", gold=[[0], [1], [2]])])

    with pytest.raises(ImportFailed, match=r"^line 2: gold: completions missing from the ranking: 3"):
        prompts_import(project=project, source=path)
    assert not Prompt.objects.exists()
