"""Signals annotate sends for other apps.

``ranking_submitted`` is sent (from ``transaction.on_commit``) once a ranking and its entries are
committed, with ``ranking_id``. rewardtrain expands it into comparisons.

``acquisition_settings_changed`` is sent (from ``transaction.on_commit``) when a project's active-learning
strategy, exploration share or rankings per prompt changed, with ``project_id``. rewardtrain re-orders
the project's queue.
"""

from django.dispatch import Signal

ranking_submitted = Signal()  # kwargs: ranking_id: int
acquisition_settings_changed = Signal()  # kwargs: project_id: int
