"""Signals annotate sends for other apps.

``ranking_submitted`` is sent (from ``transaction.on_commit``) once a ranking and its entries are
committed, with ``ranking_id``. rewardtrain expands it into comparisons.
"""

from django.dispatch import Signal

ranking_submitted = Signal()  # kwargs: ranking_id: int
