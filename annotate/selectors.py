"""Reads shared by several views, APIs and services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.db.models import Avg, Count, F, Max, Q, QuerySet, Sum, Value
from django.db.models.functions import Least
from django.utils import timezone

from annotate.models import Assignment, Project, Prompt, Ranking


def projects_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Project]:
    """Staff see every project; annotators see the projects they were added to."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(annotators=user, archived_at__isnull=True)


def project_target_prompts(*, project: Project) -> QuerySet[Prompt]:
    """The prompts the project's target (``rankings_per_prompt`` each) is over: every prompt, but for the
    gold prompts under a gold rate, which each annotator ranks once instead of the project ranking them
    so many times (docs/annotation.md, "Gold prompts"), so they never make a project look unfinished."""
    prompts = Prompt.objects.filter(project=project)
    return prompts.filter(gold_order__isnull=True) if project.gold_rate > 0 else prompts


@dataclass(frozen=True)
class AnnotatorProgress:
    username: str
    is_member: bool  # still on the project (rankings of removed members still count)
    rankings: int
    open_tasks: int
    skipped: int
    mean_seconds: float | None


@dataclass(frozen=True)
class ProjectProgress:
    prompts: int  # in the target (project_target_prompts)
    rankings: int  # every submitted or imported ranking, of gold prompts too
    rankings_wanted: int  # prompts × rankings_per_prompt
    rankings_done: int  # rankings that count towards the target: at most rankings_per_prompt per prompt
    prompts_complete: int  # prompts with all the rankings they want
    annotators: list[AnnotatorProgress] = field(default_factory=list)


def project_progress(*, project: Project) -> ProjectProgress:
    """How far a project is: counts for the whole project and per annotator, in a few queries."""
    wanted = project.rankings_per_prompt
    per_prompt = project_target_prompts(project=project).annotate(ranked=Count("rankings"))
    totals = per_prompt.aggregate(prompts=Count("id"), rankings_done=Sum(Least("ranked", Value(wanted))))
    prompts_complete = per_prompt.filter(ranked__gte=wanted).count()
    all_rankings = Ranking.objects.filter(prompt__project=project).count()

    now = timezone.now()
    assignments = {
        row["annotator"]: row
        for row in Assignment.objects.filter(prompt__project=project)
        .values("annotator")
        .annotate(
            open_tasks=Count("id", filter=Q(state=Assignment.State.OPEN, expires_at__gt=now)),
            skipped=Count("id", filter=Q(state=Assignment.State.SKIPPED)),
        )
    }
    rankings = {
        row["annotator"]: row
        for row in Ranking.objects.filter(prompt__project=project)
        .values("annotator")
        .annotate(rankings=Count("id"), mean_seconds=Avg("seconds"))
    }
    members = set(project.annotators.values_list("pk", flat=True))
    users = get_user_model().objects.filter(pk__in=members | set(assignments) | set(rankings)).order_by("username")
    annotators = [
        AnnotatorProgress(
            username=user.get_username(),
            is_member=user.pk in members,
            rankings=rankings.get(user.pk, {}).get("rankings", 0),
            open_tasks=assignments.get(user.pk, {}).get("open_tasks", 0),
            skipped=assignments.get(user.pk, {}).get("skipped", 0),
            mean_seconds=rankings.get(user.pk, {}).get("mean_seconds"),
        )
        for user in users
    ]
    return ProjectProgress(
        prompts=totals["prompts"] or 0,
        rankings=all_rankings,
        rankings_wanted=(totals["prompts"] or 0) * wanted,
        rankings_done=totals["rankings_done"] or 0,
        prompts_complete=prompts_complete,
        annotators=annotators,
    )


@dataclass(frozen=True)
class ProjectPace:
    """Where a project stands: the figures at the top of its page."""

    rankings_done: int  # towards the target (at most rankings_per_prompt per prompt)
    rankings_wanted: int
    prompts: int  # in the target (project_target_prompts)
    prompts_left: int  # prompts still short of the rankings they want
    rankings_last_day: int  # of the target's prompts, submitted or imported in the last 24 hours
    hours_left: float | None  # at the last day's pace; None when nothing was ranked in it

    @property
    def percent_done(self) -> int:
        return int(100 * self.rankings_done / self.rankings_wanted) if self.rankings_wanted else 0


def project_pace(*, project: Project, now: datetime | None = None) -> ProjectPace:
    """Rankings done and wanted, prompts left, the pace over the last day and the time left at that pace."""
    now = now or timezone.now()
    wanted = project.rankings_per_prompt
    # The queue counters (ranking_count) are kept with the rankings, so this reads prompts only.
    target = project_target_prompts(project=project)
    totals = target.aggregate(
        prompts=Count("id"),
        done=Sum(Least("ranking_count", Value(wanted))),
        left=Count("id", filter=Q(ranking_count__lt=wanted)),
    )
    last_day = Ranking.objects.filter(prompt__in=target, submitted_at__gte=now - timedelta(days=1)).count()
    done, prompts = totals["done"] or 0, totals["prompts"] or 0
    missing = prompts * wanted - done
    return ProjectPace(
        rankings_done=done,
        rankings_wanted=prompts * wanted,
        prompts=prompts,
        prompts_left=totals["left"] or 0,
        rankings_last_day=last_day,
        hours_left=24 * missing / last_day if last_day else None,
    )


@dataclass(frozen=True)
class Member:
    """An annotator of the project and when they last did something in it."""

    id: int
    username: str
    email: str
    is_active: bool
    has_password: bool  # False until a new account's owner set one through their link
    rankings: int
    last_ranking_at: datetime | None
    last_task_at: datetime | None  # the latest task they opened, skipped or finished in the project
    last_login: datetime | None

    @property
    def last_activity(self) -> datetime | None:
        return max((at for at in (self.last_ranking_at, self.last_task_at) if at is not None), default=None)


def project_members(*, project: Project) -> list[Member]:
    """The project's annotators with their rankings and last activity in it, by username."""
    users = project.annotators.annotate(
        ranking_total=Count("rankings", filter=Q(rankings__prompt__project=project), distinct=True),
        last_ranking_at=Max("rankings__submitted_at", filter=Q(rankings__prompt__project=project)),
    ).order_by("username")
    last_tasks = {
        annotator: max((at for at in (started, finished) if at is not None), default=None)
        for annotator, started, finished in Assignment.objects.filter(
            prompt__project=project, annotator__in=project.annotators.values("pk")
        )
        .values("annotator")
        .annotate(started=Max("started_at"), finished=Max("finished_at"))
        .values_list("annotator", "started", "finished")
    }
    return [
        Member(
            id=user.pk,
            username=user.get_username(),
            email=user.email,
            is_active=user.is_active,
            has_password=user.has_usable_password(),
            rankings=user.ranking_total,
            last_ranking_at=user.last_ranking_at,
            last_task_at=last_tasks.get(user.pk),
            last_login=user.last_login,
        )
        for user in users
    ]


# --- The annotator workspace (annotate.services.tasks) -----------------------------------
LEFT_CACHE_SECONDS = 10


def _rankings_left_key(project_id: int) -> str:
    return f"rankforge:rankings-left:{project_id}"


def project_rankings_left(*, project: Project) -> int:
    """Rankings the project still wants: the sum over prompts of what each still lacks.

    It reads every unfinished prompt, too much for every task request of a large project,
    so each process keeps it for LEFT_CACHE_SECONDS and counts its own submits down meanwhile.
    """
    key = _rankings_left_key(project.pk)
    left = cache.get(key)
    if left is None:
        wanted = project.rankings_per_prompt
        left = (
            project_target_prompts(project=project)
            .filter(ranking_count__lt=wanted)
            .aggregate(left=Sum(Value(wanted) - F("ranking_count")))["left"]
            or 0
        )
        cache.set(key, left, LEFT_CACHE_SECONDS)
    return left


def project_rankings_left_forget_one(*, project_id: int) -> None:
    """A ranking was submitted: count this process's cached figure down (if it has one)."""
    key = _rankings_left_key(project_id)
    try:
        if cache.decr(key) < 0:
            cache.set(key, 0, LEFT_CACHE_SECONDS)
    except ValueError:  # not cached in this process
        pass


def annotator_task_progress(*, project: Project, annotator: AbstractBaseUser) -> dict[str, int]:
    """What the workspace shows: the caller's rankings today and in total, and what the project still wants."""
    start_of_today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    mine = Ranking.objects.filter(annotator=annotator, prompt__project=project).aggregate(
        done_total=Count("id"), done_today=Count("id", filter=Q(submitted_at__gte=start_of_today))
    )
    return {
        "done_today": mine["done_today"],
        "done_total": mine["done_total"],
        "left": project_rankings_left(project=project),
    }
