"""Dataset lineage: which rankings each model version was trained on, and that exact data back.

A training run records, in ``TrainingRun.data["lineage"]``, the snapshot it trained on:

- ``ranking_ids``: the ids of its rankings as ``[first, last]`` ranges (ids only grow, so a project's
  snapshot is a few ranges however many rankings it holds), and ``rankings``, their number;
- ``sha256``: the hash of the records (``rewardtrain.core.data.records_sha256``: one canonical JSON
  line per record, in ranking id order), and ``train_sha256`` / ``eval_sha256`` for each side of the
  split (the same hashes the artifact's ``rewardtrain.json`` holds under ``data.train`` / ``data.eval``);
- ``by_source``: rankings per source (annotator, import); ``weights``: annotator id -> weight when the
  run weighed rankings by reliability (None otherwise), so the weights can be given back too.

``lineage_export_lines(version=...)`` rebuilds those records from the database and refuses (a
``ValidationError`` saying what changed) unless they hash to what the run recorded; its lines are the
exact bytes the hashes were taken over, so ``sha256(export) == sha256`` of the snapshot. Used by
``export_comparisons --model-version V`` and ``GET /api/v1/projects/{id}/export?model_version=V``.

Example::

    from rewardtrain.services.lineage import lineage_export_lines

    with open("v3.jsonl", "w") as out:
        out.writelines(lineage_export_lines(version=version, split="train"))
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count

from annotate.models import Project, Ranking
from rewardtrain.models import ModelVersion

LINEAGE_SPLITS = ("all", "train", "eval")


def id_ranges(ids: Iterable[int]) -> list[list[int]]:
    """Sorted ids as inclusive ``[first, last]`` runs: ``[1, 2, 3, 7]`` -> ``[[1, 3], [7, 7]]``."""
    ranges: list[list[int]] = []
    for value in sorted(set(ids)):
        if ranges and value == ranges[-1][1] + 1:
            ranges[-1][1] = value
        else:
            ranges.append([value, value])
    return ranges


def ids_from_ranges(ranges: Sequence[Sequence[int]]) -> list[int]:
    return [value for first, last in ranges for value in range(first, last + 1)]


def record_line(record: Any) -> str:
    """One record as the canonical JSON line that ``records_sha256`` hashes."""
    return json.dumps(record.to_json(), sort_keys=True, ensure_ascii=False) + "\n"


def _ranking_id(record: Any) -> int:
    return int(str(record.id).removeprefix("ranking-"))


def dataset_lineage(
    *,
    records: Sequence[Any],
    train_records: Sequence[Any],
    eval_records: Sequence[Any],
    weights: Mapping[int, float] | None,
) -> dict[str, Any]:
    """The snapshot a run trains on (see the module docstring). ``records`` come from ``ranked_records``."""
    from rewardtrain.core.data import records_sha256

    ranking_ids = [_ranking_id(record) for record in records]
    sources = dict(
        Ranking.objects.filter(pk__in=ranking_ids).values_list("source").annotate(count=Count("id")).order_by()
    )
    return {
        "ranking_ids": id_ranges(ranking_ids),
        "rankings": len(ranking_ids),
        "sha256": records_sha256(records),
        "train_sha256": records_sha256(train_records),
        "eval_sha256": records_sha256(eval_records) if eval_records else None,
        "train_records": len(train_records),
        "eval_records": len(eval_records),
        "by_source": {source: sources.get(source, 0) for source in Ranking.Source.values},
        "weights": None if weights is None else {str(key): value for key, value in sorted(weights.items())},
    }


def version_lineage(version: ModelVersion) -> dict[str, Any]:
    """The recorded snapshot of ``version``; ValidationError if none was recorded."""
    lineage = (version.run.data or {}).get("lineage") if version.run is not None else None
    if not lineage:
        raise ValidationError(
            {"model_version": f"version {version.version} has no recorded dataset (trained before lineage was kept)"}
        )
    return lineage


def lineage_records(*, version: ModelVersion) -> tuple[list[Any], list[Any], list[Any]]:
    """(all, train, eval) records of the snapshot, rebuilt and checked against the recorded hashes."""
    from rewardtrain.core.config import TrainConfig
    from rewardtrain.core.data import records_sha256
    from rewardtrain.services.training import ranked_records, split_records

    lineage = version_lineage(version)
    weights = lineage.get("weights")
    ids = ids_from_ranges(lineage["ranking_ids"])
    records = [
        record
        for _, record in ranked_records(
            project=version.project,
            ranking_ids=ids,
            weights=None if weights is None else {int(key): value for key, value in weights.items()},
        )
    ]
    if len(records) != lineage["rankings"]:
        raise ValidationError(
            {"model_version": f"{lineage['rankings'] - len(records)} of version {version.version}'s rankings are gone"}
        )
    if records_sha256(records) != lineage["sha256"]:
        raise ValidationError(
            {
                "model_version": f"the rankings of version {version.version} changed since it was trained "
                "(a prompt or completion text was edited): the data cannot be reproduced"
            }
        )
    config = TrainConfig.from_dict(version.run.config)
    train_records, eval_records = split_records(records, eval_fraction=config.eval_fraction, seed=config.seed)
    return records, train_records, eval_records


def lineage_export_lines(*, version: ModelVersion, split: str = "all") -> list[str]:
    """The snapshot's records as JSONL lines (``split``: all, train or eval), checked first."""
    if split not in LINEAGE_SPLITS:
        raise ValidationError({"split": f"must be one of {', '.join(LINEAGE_SPLITS)}, got {split!r}"})
    records, train_records, eval_records = lineage_records(version=version)
    chosen = {"all": records, "train": train_records, "eval": eval_records}[split]
    return [record_line(record) for record in chosen]


def model_version_for_export(*, project: Project, number: object) -> ModelVersion:
    """The project's version numbered ``number`` (as typed by a person), or a ValidationError."""
    try:
        value = int(str(number))
    except ValueError:
        raise ValidationError({"model_version": f"must be a version number, got {number!r}"}) from None
    version = ModelVersion.objects.filter(project=project, version=value).select_related("run", "project").first()
    if version is None:
        raise ValidationError({"model_version": f"project {project.name!r} has no version {value}"})
    return version


def project_lineage(*, project: Project) -> list[dict[str, Any]]:
    """Per version, newest first: what it saw (rankings, per source, id ranges, hash) and what came since."""
    total = Ranking.objects.filter(prompt__project=project).count()
    rows = []
    for version in ModelVersion.objects.filter(project=project).select_related("run").order_by("-version"):
        lineage = (version.run.data or {}).get("lineage") if version.run is not None else None
        row: dict[str, Any] = {
            "version": version.version,
            "is_active": version.is_active,
            "created_at": version.created_at,
            "lineage": lineage,
        }
        if lineage:
            ranges = lineage["ranking_ids"]
            row.update(
                rankings=lineage["rankings"],
                arrived_since=max(total - lineage["rankings"], 0),
                by_source=lineage["by_source"],
                first_id=ranges[0][0] if ranges else None,
                last_id=ranges[-1][1] if ranges else None,
                ranges=len(ranges),
                sha256=lineage["sha256"],
                weighted=lineage.get("weights") is not None,
            )
        rows.append(row)
    return rows


def lineage_export_to_path(*, version: ModelVersion, split: str, path: str | Path) -> dict[str, Any]:
    """Write the snapshot to ``path`` (nothing is written if it cannot be reproduced) and its metadata
    to ``path.meta.json``; return the metadata."""
    lines = lineage_export_lines(version=version, split=split)
    meta = lineage_export_metadata(version=version, split=split, lines=len(lines))
    Path(path).write_text("".join(lines), encoding="utf-8")
    Path(f"{path}.meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return meta


def lineage_export_metadata(*, version: ModelVersion, split: str, lines: int) -> dict[str, Any]:
    lineage = version_lineage(version)
    return {
        "project": {"id": version.project_id, "name": version.project.name},
        "model_version": version.version,
        "format": "rankings (rewardtrain.core.data records, one canonical JSON line each, ranking id order)",
        "split": split,
        "lines": lines,
        "sha256": {"all": lineage["sha256"], "train": lineage["train_sha256"], "eval": lineage["eval_sha256"]}[split],
        "lineage": {key: value for key, value in lineage.items() if key != "weights"},
        "weights": lineage.get("weights"),
    }
