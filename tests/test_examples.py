"""The README's commands name only files that are shipped, and each example file reads as the
command that uses it expects (the import into the demo project; the trainer's loaders)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from annotate.models import Project
from annotate.services.imports import prompts_import
from rewardtrain.core.data import load_records

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    return [line for block in re.findall(r"```bash\n(.*?)```", readme, re.S) for line in block.splitlines()]


def test_every_file_a_readme_command_reads_is_shipped():
    read = []
    for line in readme_commands():
        read += re.findall(r"(?:--data|import_prompts)\s+(\S+)", line)
    assert read, "no command reads a file?"
    missing = [name for name in read if not (ROOT / name).is_file()]
    assert missing == []
    assert {name.split("/")[0] for name in read} == {"examples"}


@pytest.mark.django_db
def test_the_example_prompts_import_into_a_project_like_the_demo():
    project = Project.objects.create(name="Demo-like", min_completions=2, max_completions=9)
    result = prompts_import(project=project, source=EXAMPLES / "prompts.jsonl")
    assert (result.prompts_created, result.completions_created) == (5, 20)
    again = prompts_import(project=project, source=EXAMPLES / "prompts.jsonl")
    assert (again.prompts_created, again.prompts_existing) == (0, 5)


@pytest.mark.parametrize(("name", "count"), [("rankings.jsonl", 20), ("held_out.jsonl", 12)])
def test_the_example_rankings_load_for_the_trainer(name, count):
    records = load_records(EXAMPLES / name)
    assert len(records) == count
    assert all(len(record.comparisons()) >= 2 for record in records)


def test_the_held_out_examples_share_no_prompt_with_the_training_ones():
    train = {record.prompt for record in load_records(EXAMPLES / "rankings.jsonl")}
    held_out = {record.prompt for record in load_records(EXAMPLES / "held_out.jsonl")}
    assert not train & held_out
