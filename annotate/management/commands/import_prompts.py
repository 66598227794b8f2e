"""Import prompts, completions and human rankings into a project.

    python manage.py import_prompts data/prompts.jsonl.gz --project "Helpfulness" --create
    python manage.py import_prompts annotate/fixtures/oasst_en100/en_100_tree.jsonl --project Demo --format oasst

Formats: jsonl, csv, oasst, pairs (docs/import.md); left out, read from the file. All or
nothing: a bad line prints "line N: field: problem", writes nothing and exits non-zero.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.models import Project
from annotate.services.imports import FORMATS, ImportFailed, prompts_import


class Command(BaseCommand):
    help = "Import prompts (JSONL, CSV, Open Assistant trees or preference pairs; plain or gzip) into a project."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="file to import (.gz is read transparently)")
        parser.add_argument("--project", required=True, help="project name")
        parser.add_argument("--format", choices=FORMATS, help="default: from the file name and first line")
        parser.add_argument("--create", action="store_true", help="create the project if it does not exist")

    def handle(self, *args, path: str, project: str, format: str | None, create: bool, **options) -> None:
        if create:
            target, created = Project.objects.get_or_create(name=project)
        else:
            target = Project.objects.filter(name=project).first()
            created = False
            if target is None:
                raise CommandError(f"no project named {project!r} (add --create to make it)")
        try:
            result = prompts_import(project=target, source=path, format=format)
        except ImportFailed as error:
            if created:
                target.delete()  # --create made it for this import only
            raise CommandError(f"{path}: {error}; nothing was imported") from None
        self.stdout.write(f"{target.name} (id {target.pk}): {result.summary()}")
