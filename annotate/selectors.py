"""Reads shared by several views, APIs and services."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.db.models import Avg, Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Least
from django.utils import timezone

from annotate.models import Assignment, Project, Prompt, Ranking


def projects_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Project]:
    """Staff see every project; annotators see the projects they were added to."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(annotators=user)


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
    prompts: int
    rankings: int  # every submitted or imported ranking
    rankings_wanted: int  # prompts × rankings_per_prompt
    rankings_done: int  # rankings that count towards the target: at most rankings_per_prompt per prompt
    prompts_complete: int  # prompts with all the rankings they want
    annotators: list[AnnotatorProgress] = field(default_factory=list)


def project_progress(*, project: Project) -> ProjectProgress:
    """How far a project is: counts for the whole project and per annotator, in a few queries."""
    wanted = project.rankings_per_prompt
    per_prompt = Prompt.objects.filter(project=project).annotate(ranked=Count("rankings"))
    totals = per_prompt.aggregate(
        prompts=Count("id"),
        rankings=Sum("ranked"),
        rankings_done=Sum(Least("ranked", Value(wanted))),
    )
    prompts_complete = per_prompt.filter(ranked__gte=wanted).count()

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
        rankings=totals["rankings"] or 0,
        rankings_wanted=(totals["prompts"] or 0) * wanted,
        rankings_done=totals["rankings_done"] or 0,
        prompts_complete=prompts_complete,
        annotators=annotators,
    )


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
            Prompt.objects.filter(project=project, ranking_count__lt=wanted).aggregate(
                left=Sum(Value(wanted) - F("ranking_count"))
            )["left"]
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
