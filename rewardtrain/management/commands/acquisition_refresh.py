"""Re-order a project's annotation queue for active learning (what runs after each model activation).

python manage.py acquisition_refresh --project Demo               # score with the active model, re-order
python manage.py acquisition_refresh --project Demo --no-rescore  # re-order from the stored figures only
"""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

from annotate.models import Project
from rewardtrain.services.acquisition import acquisition_priorities_apply, acquisition_scores_refresh


class Command(BaseCommand):
    help = "Score the prompts still wanting rankings with the active model and apply the project's strategy."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--project", required=True, help="Project name")
        parser.add_argument(
            "--no-rescore", action="store_true", help="Only re-apply the strategy to the stored figures (no model)"
        )

    def handle(self, *args, project: str, no_rescore: bool = False, **options) -> None:
        project_id = Project.objects.filter(name=project).values_list("id", flat=True).first()
        if project_id is None:
            raise CommandError(f"There is no project named {project!r}.")
        started = time.perf_counter()
        if no_rescore:
            result: dict = {"prioritised": acquisition_priorities_apply(project_id=project_id)}
        else:
            result = acquisition_scores_refresh(project_id=project_id).as_dict()
        result["seconds"] = round(time.perf_counter() - started, 2)
        self.stdout.write(json.dumps(result))
