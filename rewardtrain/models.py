"""Comparisons expanded from rankings, training runs and the model registry."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

# --- comparisons (issue 4) ------------------------------------------------------------------------


class Comparison(models.Model):
    """One pair of completions out of a ranking, written by ``comparisons_expand`` in one SQL statement.

    A strict pair has ``chosen`` ranked above ``rejected`` (``rank_gap`` groups apart). A pair inside a tie
    group is a tie row (``is_tie``, ``rank_gap`` 0) with ``chosen``/``rejected`` holding the lower/higher
    completion id, by convention only: exports drop tie rows unless asked to keep them.

    The foreign keys carry no database constraint, on purpose: checking them costs more than the
    insert itself in a million-row expansion (4 s of 11 s on PostgreSQL here). Every reference is a
    copy of the ranking's own, and those are guarded already: Ranking PROTECTs its prompt and
    annotator, RankingEntry its completions, and a ranking is only deleted through the ORM (history
    is read-only in the admin), which deletes its comparisons with it (``on_delete=CASCADE``).
    """

    project = models.ForeignKey(
        "annotate.Project", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    prompt = models.ForeignKey(
        "annotate.Prompt", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    # Indexed by the unique constraint below, whose first column it is.
    ranking = models.ForeignKey(
        "annotate.Ranking", on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="comparisons"
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    chosen = models.ForeignKey(
        "annotate.Completion", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    rejected = models.ForeignKey(
        "annotate.Completion", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    # Group index of the chosen completion (0 = best) and how many groups below it the rejected one is.
    chosen_rank = models.PositiveSmallIntegerField()
    rank_gap = models.PositiveSmallIntegerField()
    # 1 / C(K, 2): every ranking weighs the same in a pairwise loss, whatever its K (InstructGPT).
    weight = models.FloatField()
    is_tie = models.BooleanField(default=False)
    # The ranking's submitted_at, copied so exports filter and page by time without a join.
    submitted_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            # The guarantee behind idempotent expansion: no pair of a ranking is ever stored twice.
            models.UniqueConstraint(fields=["ranking", "chosen", "rejected"], name="comparison_unique_pair"),
            models.CheckConstraint(condition=~Q(chosen=models.F("rejected")), name="comparison_two_completions"),
        ]
        indexes = [models.Index(fields=["project", "submitted_at"], name="comparison_project_time")]

    def __str__(self) -> str:
        relation = "ties" if self.is_tie else "beats"
        return f"{self.chosen_id} {relation} {self.rejected_id} (ranking {self.ranking_id})"


# --- training runs and the model registry (issue 5) -----------------------------------------------


class TrainingRun(models.Model):
    """One training of a project's reward model, from queued to a registered artifact (or not).

    The row is the run's whole story: the config it used, the exact data (ranking id watermark,
    counts, split seed), progress points, where it ran, and its heartbeat. A worker that dies
    mid-run stops beating; ``training_runs_reap`` then marks the run failed.
    """

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)

    class Trigger(models.TextChoices):
        MANUAL = "manual"
        RANKINGS = "rankings"
        DAILY = "daily"
        RETRY = "retry"
        COMMAND = "command"

    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="training_runs")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED, db_index=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    # TrainConfig.to_dict() as it will be (and was) used.
    config = models.JSONField(default=dict)
    # The data: rankings with id <= watermark; counts and split seed fill in when the run starts.
    ranking_watermark = models.BigIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    # Progress: the latest step, and a list of points {step, total_steps, epoch, loss, lr, eval?, at}.
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    progress = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    cancel_requested = models.BooleanField(default=False)
    device = models.CharField(max_length=64, blank=True, default="")
    host = models.CharField(max_length=255, blank=True, default="")
    pid = models.PositiveIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    artifact_path = models.CharField(max_length=1000, blank=True, default="")
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-id"]
        constraints = [
            # The per-project lock: a second queued/running run cannot even be inserted.
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(state__in=["queued", "running"]),
                name="training_run_one_active_per_project",
            ),
        ]
        indexes = [models.Index(fields=["state", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"Training run {self.pk} of project {self.project_id} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES


class ModelVersion(models.Model):
    """A trained artifact registered for a project. At most one version per project is active."""

    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="model_versions")
    run = models.OneToOneField(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_version"
    )
    version = models.PositiveIntegerField()
    artifact_path = models.CharField(max_length=1000)
    base_model = models.CharField(max_length=500, blank=True, default="")
    # Held-out metrics of this version on its own run's eval prompts.
    metrics = models.JSONField(default=dict, blank=True)
    # The promotion decision: the metric compared, both values on the same prompts, and the verdict.
    promotion = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=False)
    # A pinned active version is never replaced by automatic promotion.
    pinned = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        # Given to the service accounts of RL pipelines: score with any project's active model.
        permissions = [("score_rewards", "Can score completions with a project's active reward model")]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="model_version_unique_number"),
            models.UniqueConstraint(
                fields=["project"], condition=Q(is_active=True), name="model_version_one_active_per_project"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} v{self.version}"


class ModelActivation(models.Model):
    """History of which version was active when, and why: rollbacks read it."""

    class Reason(models.TextChoices):
        PROMOTED = "promoted"
        MANUAL = "manual"
        ROLLBACK = "rollback"

    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="model_activations")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="activations")
    previous = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.version} activated ({self.reason})"


# --- quality control (issue 15) -------------------------------------------------------------------


class CompletionScore(models.Model):
    """A model version's reward for one ranked completion, stored after the version is activated.

    Annotator quality reads them to measure each annotator's agreement with the active model
    (``rewardtrain.services.quality``); they are derived data, rebuilt by ``completion_scores_refresh``.
    """

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="completion_scores")
    # No database constraint: the scores are written in bulk, and completions are PROTECTed by rankings.
    completion = models.ForeignKey(
        "annotate.Completion", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    score = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "completion"], name="completion_score_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.completion_id}: {self.score:.3f} (version {self.version_id})"
