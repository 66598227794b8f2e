from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_schedules(sender, **kwargs) -> None:
    from rewardtrain.schedules import ensure_comparison_schedule, ensure_training_schedules

    ensure_comparison_schedule()
    ensure_training_schedules()


def _expand_submitted_ranking(sender, ranking_id: int, **kwargs) -> None:
    # The signal is sent from transaction.on_commit: the ranking and its entries are visible to the task.
    # Without a broker this expands at once; with one it enqueues, batched per process.
    from rewardtrain.services.expansion_queue import ranking_expansion_request

    ranking_expansion_request(ranking_id=ranking_id)


def _reorder_queue(sender, project_id: int, **kwargs) -> None:
    from rewardtrain.services.acquisition import acquisition_refresh_enqueue

    acquisition_refresh_enqueue(project_id=project_id, rescore=False)


class RewardtrainConfig(AppConfig):
    name = "rewardtrain"
    verbose_name = "Reward training"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from annotate.signals import acquisition_settings_changed, ranking_submitted

        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="rewardtrain_ensure_schedules")
        ranking_submitted.connect(_expand_submitted_ranking, dispatch_uid="rewardtrain_expand_submitted_ranking")
        acquisition_settings_changed.connect(_reorder_queue, dispatch_uid="rewardtrain_reorder_queue")
