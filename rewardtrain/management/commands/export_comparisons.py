"""Export a project's comparisons or rankings as a dataset file, with PATH.meta.json beside it.

    python manage.py export_comparisons --project Demo --format trl --out pairs.jsonl
    python manage.py export_comparisons --project Demo --format trl --out train.jsonl \\
        --test-fraction 0.1 --seed 0 --split train --pairs adjacent --margin
    python manage.py export_comparisons --project Demo --format rankings --out rankings.jsonl \\
        --since 2026-11-01 --annotators alice,bob --min-agreement 0.6
    python manage.py export_comparisons --project Demo --format parquet --out pairs.parquet --ties
    python manage.py export_comparisons --project Demo --model-version 3 --out v3.jsonl [--split train]

``--model-version V`` writes exactly the records version V was trained on (rewardtrain.services.lineage),
or nothing and an error when they can no longer be reproduced.

Formats and options: rewardtrain.services.export (and docs/comparisons.md).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotate.models import Project
from rewardtrain.services.export import FORMATS, PAIR_SCHEMES, SPLITS, WEIGHTINGS, ExportOptions, export_to_path
from rewardtrain.services.lineage import lineage_export_to_path, model_version_for_export


class Command(BaseCommand):
    help = "Export comparisons (trl, csv, parquet), rankings or consensus orders of a project."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--project", required=True, help="Project name")
        parser.add_argument("--format", choices=FORMATS, help="Required unless --model-version is given")
        parser.add_argument(
            "--model-version", help="The data this model version was trained on (--split all, train or test = eval)"
        )
        parser.add_argument("--out", required=True, help="Output file; its metadata goes to OUT.meta.json")
        parser.add_argument("--pairs", default="all", choices=PAIR_SCHEMES, help="Pair scheme (default: all)")
        parser.add_argument("--ties", action="store_true", help="Keep tie rows (dropped by default)")
        parser.add_argument("--margin", action="store_true", help="trl: add margin = rank gap")
        parser.add_argument("--since", help="Rankings submitted on or after (date or ISO date-time)")
        parser.add_argument("--until", help="Rankings submitted on or before (date or ISO date-time)")
        parser.add_argument("--annotators", help="Comma-separated usernames")
        parser.add_argument("--min-agreement", help="Only annotators agreeing with others at least this much (0..1)")
        parser.add_argument("--split", default="all", choices=SPLITS, help="Which side of the split to write")
        parser.add_argument("--test-fraction", default="0", help="Share of prompts held out as test (0..1)")
        parser.add_argument("--seed", default="0", help="Seed of the split")
        parser.add_argument(
            "--weighting", default="none", choices=WEIGHTINGS, help="reliability: weigh rankings by their annotator"
        )

    def handle(self, *args, **options) -> None:
        project = Project.objects.filter(name=options["project"]).first()
        if project is None:
            raise CommandError(f"There is no project named {options['project']!r}.")
        if options["model_version"] is not None:
            self.export_model_version(project, options)
            return
        if options["format"] is None:
            raise CommandError("--format is required (or --model-version)")
        try:
            export_options = ExportOptions.from_mapping(options)
            meta = export_to_path(project=project, options=export_options, path=options["out"])
        except ValidationError as error:
            problems = (f"{field}: {', '.join(messages)}" for field, messages in error.message_dict.items())
            raise CommandError("; ".join(problems)) from None
        counts = meta["counts"]
        self.stdout.write(
            f"Wrote {counts['lines']} lines ({counts['train']} train, {counts['test']} test) "
            f"from {counts['prompts']} prompts to {options['out']} in {meta['seconds']:.2f} s; "
            f"metadata in {options['out']}.meta.json."
        )

    def export_model_version(self, project: Project, options: dict) -> None:
        if options["format"] not in (None, "rankings"):
            raise CommandError("--model-version writes the training records (the rankings format); drop --format")
        split = {"test": "eval"}.get(options["split"], options["split"])
        try:
            version = model_version_for_export(project=project, number=options["model_version"])
            meta = lineage_export_to_path(version=version, split=split, path=options["out"])
        except ValidationError as error:
            problems = (f"{field}: {', '.join(messages)}" for field, messages in error.message_dict.items())
            raise CommandError("; ".join(problems)) from None
        self.stdout.write(
            f"Wrote the {meta['lines']} records ({split}) version {version.version} was trained on to "
            f"{options['out']} (sha256 {meta['sha256']}); metadata in {options['out']}.meta.json."
        )
