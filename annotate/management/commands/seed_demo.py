"""Create the demo project and accounts: ``python manage.py seed_demo``.

Imports the shipped Open Assistant trees (annotate/fixtures/oasst_en100, Apache-2.0) into
the project "Open Assistant demo", with their human ranks as rankings by the ``import``
annotator, and creates ``admin`` and ``annotator1..3``. Safe to run again: existing
accounts keep their passwords and the import is idempotent.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from annotate.models import Project
from annotate.services.imports import prompts_import
from rewardtrain.services.comparisons import comparisons_expand

DEMO_DATA = Path(__file__).resolve().parents[2] / "fixtures" / "oasst_en100" / "en_100_tree.jsonl"
DEMO_PROJECT = "Open Assistant demo"
DEMO_INSTRUCTIONS = (
    "Read the conversation and the last message, then rank the assistant replies from best to worst. "
    "Prefer replies that are helpful, correct and harmless. Flag replies that are unsafe, incorrect or off topic."
)


class Command(BaseCommand):
    help = "Create the demo project (real Open Assistant rankings) and the demo accounts."

    def handle(self, *args, **options) -> None:
        password = os.environ.get("DEMO_PASSWORD", "rankforge-demo")
        User = get_user_model()
        accounts = [("admin", True)] + [(f"annotator{i}", False) for i in (1, 2, 3)]
        created = []
        for username, is_staff in accounts:
            user, was_created = User.objects.get_or_create(
                username=username, defaults={"is_staff": is_staff, "is_superuser": is_staff}
            )
            if was_created:
                user.set_password(password)
                user.save(update_fields=["password"])
                created.append(username)

        project, _ = Project.objects.get_or_create(
            name=DEMO_PROJECT,
            defaults={
                "instructions": DEMO_INSTRUCTIONS,
                "min_completions": 2,
                "max_completions": 9,
                "allow_ties": True,
            },
        )
        project.annotators.add(*User.objects.filter(username__startswith="annotator"))
        result = prompts_import(project=project, source=DEMO_DATA, format="oasst")
        # Expand the imported rankings now, so the demo's dashboard has comparisons before beat's first tick.
        comparisons = comparisons_expand(project_id=project.pk)

        self.stdout.write(f"Demo project {project.name!r} (id {project.pk}): {result.summary()}")
        self.stdout.write(f"  {comparisons} new pairwise comparisons expanded")
        for username, _ in accounts:
            note = f"password {password}" if username in created else "existing account, password unchanged"
            self.stdout.write(f"  {username:<11} {note}")
