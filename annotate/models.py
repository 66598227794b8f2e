"""Projects, prompts, completions, assignments and rankings.

A Ranking stores its ordered groups twice: as JSON on the row (what the annotator sent,
cheap to read back) and as one RankingEntry per completion (what the database checks and
what comparisons are expanded from in SQL). The entries carry the prompt id so that a
composite foreign key (migration 0002) proves every ranked completion belongs to the
ranking's prompt.
"""

from __future__ import annotations

from itertools import combinations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

FLAG_CHOICES = ("unsafe", "incorrect", "off_topic", "low_quality", "duplicate")


class Project(models.Model):
    name = models.CharField(max_length=200, unique=True)
    instructions = models.TextField(blank=True, help_text="Shown to annotators above every task.")
    min_completions = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(2), MaxValueValidator(settings.MAX_COMPLETIONS_LIMIT)]
    )
    max_completions = models.PositiveSmallIntegerField(
        default=9, validators=[MinValueValidator(2), MaxValueValidator(settings.MAX_COMPLETIONS_LIMIT)]
    )
    rankings_per_prompt = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1)], help_text="Rankings wanted per prompt."
    )
    allow_ties = models.BooleanField(default=False)
    shuffle_completions = models.BooleanField(default=True)
    render_markdown = models.BooleanField(
        default=True,
        help_text="Show completions as rendered Markdown on the ranking page (sanitised); off shows plain text.",
    )
    assignment_minutes = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1)], help_text="An open task returns to the pool after this."
    )
    annotators = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="annotation_projects",
        help_text="Annotators who may work on this project. Staff see every project.",
    )
    # Training settings (used by rewardtrain): the base model, and when to retrain.
    base_model = models.CharField(
        max_length=500, blank=True, help_text="HF directory or hub id; blank = the shipped MiniLM."
    )
    retrain_after_rankings = models.PositiveIntegerField(
        default=200, help_text="Start a retraining once this many new rankings arrived (0 = never)."
    )
    retrain_daily = models.BooleanField(default=False, help_text="Also retrain once a day.")
    # Quality control (rewardtrain.services.quality, docs/annotation.md). A threshold left empty is off.
    gold_rate = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of each annotator's tasks taken from gold prompts (0 = none).",
    )
    quality_min_rankings = models.PositiveIntegerField(
        default=5, help_text="Rankings a figure must rest on before it can flag an annotator."
    )
    quality_min_agreement = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Flag below this pairwise agreement with the other annotators.",
    )
    quality_min_consensus_tau = models.FloatField(
        null=True,
        blank=True,
        default=0.1,
        validators=[MinValueValidator(-1.0), MaxValueValidator(1.0)],
        help_text="Flag below this mean Kendall tau against the other annotators' consensus.",
    )
    quality_min_gold_tau = models.FloatField(
        null=True,
        blank=True,
        default=0.3,
        validators=[MinValueValidator(-1.0), MaxValueValidator(1.0)],
        help_text="Flag below this mean Kendall tau against the gold rankings.",
    )
    quality_min_model_agreement = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Flag below this pairwise agreement with the active reward model.",
    )
    quality_min_median_seconds = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0)],
        help_text="Flag a median time per ranking below this many seconds.",
    )
    reliability_weighting = models.BooleanField(
        default=False, help_text="Weigh each ranking by its annotator's reliability when training."
    )
    # Active learning (docs/annotation.md): which prompt the claim hands out next, within the
    # prompts with the fewest rankings. coverage: in import order (no model needed).
    acquisition_strategy = models.CharField(
        max_length=16,
        choices=[(name, name) for name in ("coverage", "uncertainty", "disagreement", "mixed")],
        default="coverage",
        help_text="coverage, uncertainty (the active model's), disagreement (among annotators) or mixed.",
    )
    acquisition_exploration = models.FloatField(
        default=0.2,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of the queue, under a scored strategy, filled at random instead of by score.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # An archived project hands out no tasks and leaves its annotators' lists; staff still see it
    # and its data, and can bring it back (project_archive / project_unarchive).
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_completions__gte=2) & Q(min_completions__lte=models.F("max_completions")),
                name="project_completion_range_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Prompt(models.Model):
    # No index of its own: prompt_claim_order starts with project (every write of the counters
    # updates each of the table's indexes, twice per ranking).
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts", db_index=False)
    text = models.TextField()
    # The conversation before the prompt: [{"role": "user"|"assistant"|"system", "text": str}, ...]
    context = models.JSONField(default=list, blank=True)
    external_id = models.CharField(max_length=200, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The reference ranking staff marked (groups of completion ids, best first), or None: its rankings
    # give each annotator a gold score. Under the project's gold_rate the claim mixes gold prompts into
    # each annotator's tasks (annotate.services.tasks); at a rate of 0 they go out like any other.
    gold_order = models.JSONField(null=True, blank=True, default=None)
    # Counters kept in the same transaction as the rows they count (ranking_record, and
    # annotate.services.tasks for assignments), so handing out a task reads one indexed row
    # instead of counting. Writers that bypass those services call prompt_counters_rebuild.
    ranking_count = models.PositiveIntegerField(default=0, editable=False)
    open_assignment_count = models.PositiveIntegerField(default=0, editable=False)
    # Active learning (rewardtrain.services.acquisition, after each model activation): the active
    # model's uncertainty about the order of the completions, the annotators' disagreement so far
    # (both 0..1, None: not measured), and the place in the queue the project's strategy gives the
    # prompt (higher first; None under coverage, and for prompts the last refresh did not see).
    model_uncertainty = models.FloatField(null=True, blank=True, editable=False)
    annotator_disagreement = models.FloatField(null=True, blank=True, editable=False)
    claim_priority = models.FloatField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The task queue: fewest rankings first, then fewest open assignments, then the
            # active-learning strategy's priority (NULLs first: under coverage every priority is NULL).
            models.Index(
                fields=["project", "ranking_count", "open_assignment_count", "-claim_priority", "id"],
                name="prompt_claim_order",
            ),
            # The gold queue (Project.gold_rate > 0): a project's few gold prompts, fewest rankings first.
            # Partial, so the counter writes of ordinary prompts never touch it.
            models.Index(
                fields=["project", "ranking_count", "open_assignment_count", "id"],
                condition=Q(gold_order__isnull=False),
                name="prompt_gold_claim_order",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"],
                condition=~Q(external_id=""),
                name="prompt_external_id_unique_per_project",
            ),
        ]

    def __str__(self) -> str:
        return self.text[:80]


class Completion(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="completions")
    text = models.TextField()
    model_name = models.CharField(max_length=200, blank=True, default="")
    external_id = models.CharField(max_length=200, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    # Position in the imported list; the shown order is per assignment.
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["prompt_id", "position", "id"]
        constraints = [
            # Target of RankingEntry's composite foreign key (completion, prompt).
            models.UniqueConstraint(fields=["id", "prompt"], name="completion_id_prompt_unique"),
            models.UniqueConstraint(
                fields=["prompt", "external_id"],
                condition=~Q(external_id=""),
                name="completion_external_id_unique_per_prompt",
            ),
        ]

    def __str__(self) -> str:
        return self.text[:80]


class Assignment(models.Model):
    class State(models.TextChoices):
        OPEN = "open"
        SUBMITTED = "submitted"
        SKIPPED = "skipped"
        EXPIRED = "expired"

    # No single-column indexes: one_assignment_per_prompt_and_annotator starts with prompt and the
    # (annotator, state) index with annotator, and each index is written at every claim and submit.
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="assignments", db_index=False)
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    started_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # Completion ids in the order the annotator saw them.
    shown_order = models.JSONField(default=list)
    skip_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "annotator"], name="one_assignment_per_prompt_and_annotator"),
        ]
        indexes = [models.Index(fields=["state", "expires_at"]), models.Index(fields=["annotator", "state"])]

    def __str__(self) -> str:
        return f"Assignment {self.pk} ({self.state})"


class Ranking(models.Model):
    class Source(models.TextChoices):
        ANNOTATOR = "annotator"
        IMPORT = "import"

    assignment = models.OneToOneField(Assignment, on_delete=models.PROTECT, related_name="ranking")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rankings")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="rankings")
    # Groups of completion ids, best first; a group of several is a tie: [[12], [14, 15], [13]]
    order = models.JSONField()
    # {completion_id (as str): ["unsafe", ...]}
    flags = models.JSONField(default=dict, blank=True)
    comment = models.TextField(blank=True, default="")
    seconds = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.ANNOTATOR)
    submitted_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["id", "prompt"], name="ranking_id_prompt_unique"),
            models.CheckConstraint(
                condition=Q(seconds__isnull=True) | Q(seconds__gte=0), name="ranking_seconds_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"Ranking {self.pk} of prompt {self.prompt_id}"

    @property
    def k(self) -> int:
        return sum(len(group) for group in self.order)

    def pairs(self) -> list[tuple[int, int, int]]:
        """(chosen id, rejected id, rank gap) for every pair in different groups."""
        return [
            (better, worse, worse_rank - better_rank)
            for (better_rank, better_group), (worse_rank, worse_group) in combinations(enumerate(self.order), 2)
            for better in better_group
            for worse in worse_group
        ]

    def ties(self) -> list[tuple[int, int]]:
        """Pairs of completion ids the annotator judged equal."""
        return [pair for group in self.order for pair in combinations(sorted(group), 2)]


class RankingEntry(models.Model):
    """One completion's place in a ranking: rank is its group's index, 0 = best."""

    # The database checks these references with the composite keys of migration 0002: (ranking,
    # prompt) -> Ranking (id, prompt) and (completion, prompt) -> Completion (id, prompt) on
    # PostgreSQL, triggers on SQLite. Both imply the single-column references (a completion's
    # prompt exists), so those are not declared again: they were 3 more checks per entry written.
    # The (ranking, completion) unique constraint's index serves look-ups by ranking.
    ranking = models.ForeignKey(
        Ranking, on_delete=models.CASCADE, related_name="entries", db_constraint=False, db_index=False
    )
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    completion = models.ForeignKey(
        Completion, on_delete=models.PROTECT, related_name="ranking_entries", db_constraint=False
    )
    rank = models.PositiveSmallIntegerField()
    flags = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["ranking_id", "rank"]
        verbose_name_plural = "ranking entries"
        constraints = [
            models.UniqueConstraint(fields=["ranking", "completion"], name="ranking_entry_unique_completion"),
        ]

    def __str__(self) -> str:
        return f"Completion {self.completion_id} at rank {self.rank}"


class ImportJob(models.Model):
    """An uploaded file on its way into a project: checked first (a preview of what it will create),
    then imported by a Celery worker while the page follows ``progress``. annotate.services.import_jobs
    moves it through its states; the file itself lies under settings.IMPORT_UPLOAD_DIR until the job ends.
    """

    class State(models.TextChoices):
        CHECKING = "checking"  # queued or running: the whole file is read and checked, nothing written
        CHECKED = "checked"  # the preview is ready; waits for the admin to confirm
        IMPORTING = "importing"  # queued or running: the file is written in one transaction
        DONE = "done"
        FAILED = "failed"  # a bad record (error, error_line, error_field) or a crash; nothing was imported
        CANCELLED = "cancelled"  # the admin dropped it after the preview

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    file_name = models.CharField(max_length=255)  # as uploaded, shown to people; never used as a path
    file_size = models.PositiveBigIntegerField(default=0)
    stored_path = models.CharField(max_length=500, blank=True, default="")  # under IMPORT_UPLOAD_DIR
    format = models.CharField(max_length=16, blank=True, default="")  # chosen, or detected by the check
    state = models.CharField(max_length=16, choices=State.choices, default=State.CHECKING)
    # Set while a worker holds the job, so that a second delivery of the same task does nothing.
    claimed_at = models.DateTimeField(null=True, blank=True)
    # {"phase": "checking"|"writing", "done": int, "total": int|None, "fraction": float}
    progress = models.JSONField(default=dict, blank=True)
    preview = models.JSONField(default=dict, blank=True)  # first records and what the import will create
    result = models.JSONField(default=dict, blank=True)  # ImportResult.as_dict() and its summary
    error = models.TextField(blank=True, default="")
    error_line = models.PositiveIntegerField(null=True, blank=True)
    error_field = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import {self.pk} of {self.file_name} ({self.state})"

    @property
    def is_running(self) -> bool:
        return self.state in (self.State.CHECKING, self.State.IMPORTING)
