"""The Django admin: every model is there, and history (submitted rankings) cannot be edited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotate.models import Assignment, Completion, Project, Prompt, Ranking, RankingEntry
from annotate.services.rankings import ranking_record


@pytest.fixture
def ranking(project, make_prompt, annotator) -> Ranking:
    prompt = make_prompt(project, k=3)
    ids = list(prompt.completions.values_list("id", flat=True))
    now = timezone.now()
    assignment = Assignment.objects.create(
        prompt=prompt, annotator=annotator, started_at=now, expires_at=now + timedelta(minutes=30), shown_order=ids
    )
    return ranking_record(
        assignment=assignment, order=[[ids[0]], [ids[1]], [ids[2]]], flags={str(ids[2]): ["unsafe"]}, seconds=12.5
    )


@pytest.fixture
def admin_browser(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def admin_url(model, action: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


def test_every_annotate_model_is_registered():
    for model in (Project, Prompt, Completion, Assignment, Ranking, RankingEntry):
        assert admin.site.is_registered(model), model


def test_an_admin_can_view_every_changelist_and_change_page(admin_browser, ranking):
    for model in admin.site._registry:
        response = admin_browser.get(admin_url(model, "changelist"))
        assert response.status_code == 200, model
        first = model._default_manager.first()
        if first is not None:
            assert admin_browser.get(admin_url(model, "change", first.pk)).status_code == 200, model


def test_a_ranking_cannot_be_changed_added_or_deleted(admin_browser, ranking):
    url = admin_url(Ranking, "change", ranking.pk)
    page = admin_browser.get(url)
    assert page.status_code == 200  # viewable, read-only
    assert b'name="comment"' not in page.content
    response = admin_browser.post(url, {"comment": "rewritten", "order": "[]", "source": "import"})
    assert response.status_code == 403
    ranking.refresh_from_db()
    assert ranking.comment == "" and ranking.source == Ranking.Source.ANNOTATOR
    assert admin_browser.get(admin_url(Ranking, "add")).status_code == 403
    assert admin_browser.post(admin_url(Ranking, "delete", ranking.pk), {"post": "yes"}).status_code == 403
    entry = ranking.entries.first()
    assert admin_browser.post(admin_url(RankingEntry, "change", entry.pk), {"rank": 5}).status_code == 403
    assert Ranking.objects.filter(pk=ranking.pk).exists()


def test_a_submitted_assignment_and_ranked_texts_are_read_only(admin_browser, ranking):
    assignment = ranking.assignment
    response = admin_browser.post(admin_url(Assignment, "change", assignment.pk), {"state": "open"})
    assert response.status_code == 403
    prompt_admin = admin.site._registry[Prompt]
    assert "text" in prompt_admin.get_readonly_fields(None, ranking.prompt)
    completion_admin = admin.site._registry[Completion]
    assert "text" in completion_admin.get_readonly_fields(None, ranking.prompt.completions.first())


def test_unranked_prompts_stay_editable(admin_browser, project, make_prompt):
    prompt = make_prompt(project)
    assert admin.site._registry[Prompt].get_readonly_fields(None, prompt) == ()


def test_non_staff_users_cannot_open_the_admin(annotator):
    client = Client()
    client.force_login(annotator)
    response = client.get(admin_url(Project, "changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_index_names_ranking_entries_and_the_completion_list_shows_text(admin_browser, ranking):
    index = admin_browser.get(reverse("admin:index")).content.decode()
    assert "Ranking entries" in index and "entrys" not in index
    completion = ranking.prompt.completions.first()
    Completion.objects.filter(pk=completion.pk).update(text="<b>Bold</b>\n\nsecond   line " + "word " * 40)
    listing = admin_browser.get(admin_url(Completion, "changelist")).content.decode()
    assert "&lt;b&gt;Bold&lt;/b&gt; second line word" in listing  # escaped, on one line
    assert "<b>Bold</b>" not in listing
