"""Expand rankings into pairwise comparisons (what the beat entry does every 2 minutes).

python manage.py expand_comparisons                  # every project
python manage.py expand_comparisons --project Demo   # one project
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from annotate.models import Project
from rewardtrain.services.comparisons import comparisons_expand


class Command(BaseCommand):
    help = "Write the pairwise comparisons of every ranking not expanded yet."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--project", help="Project name (default: all projects)")

    def handle(self, *args, project: str | None = None, **options) -> None:
        project_id = None
        if project is not None:
            project_id = Project.objects.filter(name=project).values_list("id", flat=True).first()
            if project_id is None:
                raise CommandError(f"There is no project named {project!r}.")
        started = time.perf_counter()
        inserted = comparisons_expand(project_id=project_id)
        self.stdout.write(f"Expanded {inserted} comparisons in {time.perf_counter() - started:.2f} s.")
