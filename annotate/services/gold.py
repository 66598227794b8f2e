"""Gold prompts: a reference ranking staff mark on a prompt, against which annotators are scored.

A gold task looks like any other to the annotator (nothing in it tells them apart); each ranking of
it is compared with the reference (``rewardtrain.services.quality``). ``Project.gold_rate`` sets the
share of each annotator's tasks drawn from gold prompts (``annotate.services.tasks``).

    prompt_gold_set(prompt=prompt, order=[[c3], [c1, c2], [c4]])   # completion ids, best first
    prompt_gold_clear(prompt=prompt)
"""

from __future__ import annotations

from django.db import transaction

from annotate.models import Completion, Prompt
from annotate.services.rankings import order_validate


@transaction.atomic
def prompt_gold_set(*, prompt: Prompt, order: object) -> Prompt:
    """Mark ``order`` (every completion of the prompt, ties allowed) as its reference ranking."""
    completion_ids = list(
        Completion.objects.filter(prompt=prompt).order_by("position", "id").values_list("id", flat=True)
    )
    prompt.gold_order = order_validate(order=order, completion_ids=completion_ids, allow_ties=True)
    prompt.save(update_fields=["gold_order"])
    return prompt


@transaction.atomic
def prompt_gold_clear(*, prompt: Prompt) -> Prompt:
    prompt.gold_order = None
    prompt.save(update_fields=["gold_order"])
    return prompt
