"""Creating, changing and deleting projects, and who may annotate them.

Every function here is the only path by which the API (and anything else) changes a
project, so the rules live in one place: the completion range must satisfy
``2 <= min_completions <= max_completions <= settings.MAX_COMPLETIONS_LIMIT`` and a project
whose prompts were already ranked cannot be deleted (the rankings are history).

    >>> project = project_create(name="Helpfulness", min_completions=4, max_completions=6)
    >>> project_annotators_add(project=project, usernames=["annotator1"])
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from annotate.models import Project, Ranking
from annotate.signals import acquisition_settings_changed

# Fields a caller may set through project_create / project_update (annotators go through
# the project_annotators_* functions so that usernames are checked).
PROJECT_EDITABLE_FIELDS = (
    "name",
    "instructions",
    "min_completions",
    "max_completions",
    "rankings_per_prompt",
    "allow_ties",
    "shuffle_completions",
    "render_markdown",
    "assignment_minutes",
    "base_model",
    "retrain_after_rankings",
    "retrain_daily",
    "gold_rate",
    "quality_min_rankings",
    "quality_min_agreement",
    "quality_min_consensus_tau",
    "quality_min_gold_tau",
    "quality_min_model_agreement",
    "quality_min_median_seconds",
    "reliability_weighting",
    "acquisition_strategy",
    "acquisition_exploration",
)
# Fields whose change re-orders the annotation queue (annotate.signals.acquisition_settings_changed).
ACQUISITION_FIELDS = ("acquisition_strategy", "acquisition_exploration", "rankings_per_prompt")


class ProjectInUse(Exception):
    """The project cannot be deleted because rankings (history) refer to it."""


def completion_range_validate(*, min_completions: int, max_completions: int) -> None:
    limit = settings.MAX_COMPLETIONS_LIMIT
    if min_completions < 2:
        raise ValidationError({"min_completions": "must be at least 2 (a ranking needs two completions)"})
    if max_completions > limit:
        raise ValidationError({"max_completions": f"must be at most {limit} (MAX_COMPLETIONS_LIMIT)"})
    if min_completions > max_completions:
        raise ValidationError(
            {"min_completions": f"must not exceed max_completions ({min_completions} > {max_completions})"}
        )


def users_by_username(usernames: Iterable[str]) -> list[AbstractBaseUser]:
    """The users with these usernames, or a ValidationError naming every unknown one."""
    wanted = list(dict.fromkeys(usernames))
    users = list(get_user_model().objects.filter(username__in=wanted))
    unknown = sorted(set(wanted) - {user.get_username() for user in users})
    if unknown:
        raise ValidationError({"usernames": f"unknown users: {', '.join(unknown)}"})
    return users


def _project_save(project: Project) -> Project:
    completion_range_validate(min_completions=project.min_completions, max_completions=project.max_completions)
    # full_clean checks the name is unique and every field's own validators.
    project.full_clean(exclude=["annotators"])
    project.save()
    return project


@transaction.atomic
def project_create(*, name: str, annotator_usernames: Iterable[str] = (), **fields: Any) -> Project:
    unknown = sorted(set(fields) - set(PROJECT_EDITABLE_FIELDS))
    if unknown:
        raise TypeError(f"project_create() got unexpected fields: {', '.join(unknown)}")
    project = _project_save(Project(name=name, **fields))
    if annotator_usernames:
        project.annotators.set(users_by_username(annotator_usernames))
    return project


@transaction.atomic
def project_update(*, project: Project, annotator_usernames: Iterable[str] | None = None, **fields: Any) -> Project:
    """Change the given fields; ``annotator_usernames`` (when given) replaces the member list."""
    unknown = sorted(set(fields) - set(PROJECT_EDITABLE_FIELDS))
    if unknown:
        raise TypeError(f"project_update() got unexpected fields: {', '.join(unknown)}")
    before = {field: getattr(project, field) for field in ACQUISITION_FIELDS}
    for field, value in fields.items():
        setattr(project, field, value)
    _project_save(project)
    if any(getattr(project, field) != value for field, value in before.items()):
        project_id = project.pk
        transaction.on_commit(lambda: acquisition_settings_changed.send(sender=Project, project_id=project_id))
    if annotator_usernames is not None:
        project_annotators_set(project=project, usernames=annotator_usernames)
    return project


@transaction.atomic
def project_delete(*, project: Project) -> None:
    """Delete a project with its prompts; refused once any of its prompts was ranked."""
    rankings = Ranking.objects.filter(prompt__project=project).count()
    if rankings:
        raise ProjectInUse(
            f"project {project.name!r} has {rankings} rankings; they feed comparisons and trained models, "
            "so it cannot be deleted"
        )
    project.delete()


@transaction.atomic
def project_annotators_set(*, project: Project, usernames: Iterable[str]) -> list[AbstractBaseUser]:
    """Make exactly these users the project's annotators."""
    users = users_by_username(usernames)
    project.annotators.set(users)
    return users


@transaction.atomic
def project_annotators_add(*, project: Project, usernames: Iterable[str]) -> list[AbstractBaseUser]:
    users = users_by_username(usernames)
    project.annotators.add(*users)
    return users


@transaction.atomic
def project_annotators_remove(*, project: Project, usernames: Iterable[str]) -> list[AbstractBaseUser]:
    """Take users off the project. Their submitted rankings stay; open tasks simply expire."""
    users = users_by_username(usernames)
    project.annotators.remove(*users)
    return users


@transaction.atomic
def project_archive(*, project: Project) -> Project:
    """Stop a project: it hands out no more tasks and leaves its annotators' lists. Nothing is deleted;
    open tasks simply expire, and ``project_unarchive`` brings it back as it was."""
    if project.archived_at is None:
        project.archived_at = timezone.now()
        project.save(update_fields=["archived_at"])
    return project


@transaction.atomic
def project_unarchive(*, project: Project) -> Project:
    if project.archived_at is not None:
        project.archived_at = None
        project.save(update_fields=["archived_at"])
    return project


@dataclass(frozen=True)
class NewAccount:
    user: AbstractBaseUser
    password: str | None  # the one-time password, when one was made: shown once, stored only hashed


@transaction.atomic
def annotator_account_create(*, project: Project, username: str, email: str = "", with_password: bool) -> NewAccount:
    """A new annotator account (not staff) added to the project. With ``with_password`` it gets a random
    password to hand over once; without, it has no usable password until its owner sets one through a
    set-password link (``django.contrib.auth.tokens``; the link stops working once used)."""
    model = get_user_model()
    username = model.normalize_username(username.strip())
    user = model(username=username, email=email.strip(), is_staff=False)
    password = secrets.token_urlsafe(12) if with_password else None
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.full_clean(exclude=["password"])  # the username's characters, length and uniqueness
    user.save()
    project.annotators.add(user)
    return NewAccount(user=user, password=password)
