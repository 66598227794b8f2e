"""Train a project's reward model in the foreground: queue a run, execute it here, print progress.

    python manage.py train_reward_model --project "Helpfulness" --epochs 1
    python manage.py train_reward_model --project "Helpfulness" --model /models/my-encoder

The run is an ordinary TrainingRun row (the API and project page show it); the model is registered
and promoted exactly as a worker's run would be. The last line printed is the run as JSON.
"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.models import Project
from rewardtrain.models import TrainingRun
from rewardtrain.services import training


class Command(BaseCommand):
    help = "Train a project's reward model now, in this process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="Project name (or id)")
        parser.add_argument("--model", help="Base model: HF directory or hub id (default: the project's)")
        parser.add_argument("--epochs", type=int)
        parser.add_argument("--lr", type=float)
        parser.add_argument("--seed", type=int)
        parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: auto)")

    def handle(self, *args, **options) -> None:
        name = options["project"]
        project = Project.objects.filter(name=name).first()
        if project is None and name.isdigit():
            project = Project.objects.filter(pk=int(name)).first()
        if project is None:
            raise CommandError(f"no project named {name!r}")
        overrides = {key: options[key] for key in ("model", "epochs", "lr", "seed", "device") if options[key]}
        try:  # executed right here, never handed to a worker
            run = training.training_run_start(
                project=project, overrides=overrides, trigger=TrainingRun.Trigger.COMMAND, dispatch=False
            )
        except training.TrainingRunConflict as error:
            raise CommandError(str(error)) from error
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stderr.write(f"Training run {run.pk} of {project.name!r} on {run.config['model']}")
        run = training.training_run_execute(run_id=run.pk, on_progress=_ProgressPrinter(self.stderr))
        if run is None:
            raise CommandError("the run was taken by a worker or cancelled before it started")
        version = getattr(run, "model_version", None)
        result = {
            "run": run.pk,
            "state": run.state,
            "artifact": run.artifact_path,
            "metrics": (run.metrics or {}).get("eval"),
            "model_version": None if version is None else version.version,
            "promotion": None if version is None else version.promotion,
        }
        if run.state != TrainingRun.State.SUCCEEDED:
            self.stderr.write(run.error)
        self.stdout.write(json.dumps(result, default=str))
        if run.state != TrainingRun.State.SUCCEEDED:
            raise CommandError(f"training run {run.pk} {run.state}")


class _ProgressPrinter:
    def __init__(self, stream) -> None:
        self.stream = stream

    def __call__(self, point: dict) -> None:
        line = f"step {point['step']}/{point['total_steps']}  epoch {point['epoch']:.2f}  loss {point['loss']:.4f}"
        if point.get("eval"):
            line += f"  held-out accuracy {point['eval'].get('pairwise_accuracy')}"
        self.stream.write(line)
