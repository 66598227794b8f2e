"""Shared fixtures: an admin, an annotator on the project, an outsider, and API clients for each.

Every endpoint's tests use these three callers plus ``anonymous_client`` so permissions are
checked the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotate.models import Completion, Project, Prompt

User = get_user_model()


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache (throttles, cached progress figures)."""
    cache.clear()


@pytest.fixture
def admin_user(db):
    return User.objects.create_user("admin", password="admin-pass-123", is_staff=True, is_superuser=True)


@pytest.fixture
def annotator(db):
    return User.objects.create_user("annotator", password="annotator-pass-123")


@pytest.fixture
def outsider(db):
    """Logged in, but not an annotator of any project."""
    return User.objects.create_user("outsider", password="outsider-pass-123")


def client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def admin_client_api(admin_user) -> APIClient:
    return client_for(admin_user)


@pytest.fixture
def annotator_client(annotator) -> APIClient:
    return client_for(annotator)


@pytest.fixture
def outsider_client(outsider) -> APIClient:
    return client_for(outsider)


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


@pytest.fixture
def project(db, annotator) -> Project:
    project = Project.objects.create(name="Test project", instructions="Rank the replies, best first.")
    project.annotators.add(annotator)
    return project


@pytest.fixture
def make_prompt(db) -> Callable[..., Prompt]:
    """make_prompt(project, k=4, text=...) -> a prompt with k distinct completions."""

    def make(project: Project, k: int = 4, text: str = "Explain recursion.", **fields) -> Prompt:
        prompt = Prompt.objects.create(project=project, text=text, **fields)
        Completion.objects.bulk_create(
            Completion(prompt=prompt, text=f"Completion {i} of prompt {prompt.pk}", position=i) for i in range(k)
        )
        return prompt

    return make


@pytest.fixture
def celery_eager():
    """Run Celery tasks in the calling process, as the embedded default does, even when REDIS_URL is set."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous
