"""manage.py import_prompts: a thin wrapper that prints the summary or the error."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from annotate.models import Project, Prompt, Ranking

OASST = Path(__file__).resolve().parents[2] / "annotate" / "fixtures" / "oasst_en100" / "en_100_tree.jsonl"
FOUR = ["A", "B", "C", "D"]


def run(*args: str) -> str:
    out = StringIO()
    call_command("import_prompts", *args, stdout=out)
    return out.getvalue()


def test_it_imports_into_an_existing_project_and_prints_the_summary(project, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "1", "prompt": "Q", "completions": FOUR}) + "\n")
    output = run(str(path), "--project", project.name)
    assert "1 prompts created, 0 already present, 4 completions" in output
    assert Prompt.objects.filter(project=project).count() == 1


def test_create_makes_the_project_and_format_can_be_forced(db):
    output = run(str(OASST), "--project", "New OA", "--create", "--format", "oasst")
    assert "212 rankings (754 pairwise comparisons)" in output
    project = Project.objects.get(name="New OA")
    assert (project.min_completions, project.max_completions) == (2, 9)
    assert Ranking.objects.count() == 212


def test_a_missing_project_without_create_is_an_error(db, tmp_path):
    with pytest.raises(CommandError, match="no project named 'Nope'"):
        run(str(tmp_path / "p.jsonl"), "--project", "Nope")


def test_a_bad_line_prints_line_and_field_and_imports_nothing(db, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": "Q", "completions": FOUR}) + "\n" + json.dumps({"prompt": "Q"}) + "\n")
    with pytest.raises(CommandError, match=r"line 2: completions: missing; nothing was imported"):
        run(str(path), "--project", "Fresh", "--create")
    assert not Project.objects.filter(name="Fresh").exists()
    assert not Prompt.objects.exists()


def test_a_missing_file_is_an_error(project):
    with pytest.raises(CommandError, match="cannot open"):
        run("/nonexistent/p.jsonl", "--project", project.name)
