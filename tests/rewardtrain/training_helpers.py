"""Projects with learnable rankings and a tiny random encoder, for the training, registry, scoring
and worker tests. The encoder is the core tests' (tests/core/conftest.py), so both sides train the same."""

from __future__ import annotations

import random

from annotate.models import Completion, Project, Prompt
from tests.core.conftest import BAD, GOOD, WORDS, build_tiny_encoder
from tests.rewardtrain.ranking_factory import rank

__all__ = ["TINY_CONFIG", "build_tiny_encoder", "learnable_project", "add_rankings"]

# Small and quick: one epoch, short sequences, CPU.
TINY_CONFIG = {"epochs": 1, "prompts_per_batch": 4, "max_length": 48, "device": "cpu", "eval_fraction": 0.25}


def add_rankings(project: Project, annotator, count: int, *, k: int = 4, seed: int = 0, start: int = 0) -> list:
    """``count`` prompts of ``k`` completions, each ranked by ``annotator``: more 'great' ranks higher."""
    rng = random.Random(seed)
    rankings = []
    for n in range(start, start + count):
        text = f"prompt {n} " + " ".join(rng.choice(WORDS) for _ in range(3))
        prompt = Prompt.objects.create(project=project, text=text)
        qualities = list(range(k))
        rng.shuffle(qualities)
        Completion.objects.bulk_create(
            Completion(
                prompt=prompt,
                position=position,
                text=" ".join([rng.choice(WORDS), *[GOOD] * quality, *[BAD] * (k - quality), rng.choice(WORDS)]),
            )
            for position, quality in enumerate(qualities)
        )
        best_first = sorted(range(k), key=lambda position: -qualities[position])
        rankings.append(rank(prompt, annotator, [[position] for position in best_first]))
    return rankings


def learnable_project(annotator, model_path: str, *, rankings: int = 12, name: str = "Learnable") -> Project:
    project = Project.objects.create(name=name, base_model=model_path, retrain_after_rankings=0)
    project.annotators.add(annotator)
    add_rankings(project, annotator, rankings)
    return project
