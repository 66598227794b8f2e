"""The annotator evidence page and the project page's lineage section (staff only, text escaped)."""

from __future__ import annotations

import pytest
from django.test import Client

from annotate.models import Completion
from tests.rewardtrain.ranking_factory import annotators, completion_ids, rank


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def careless(project, make_prompt):
    good, other, bad = annotators(3)
    prompt = make_prompt(project, k=3, text="<script>alert('prompt')</script>")
    Completion.objects.filter(prompt=prompt, position=0).update(text="<img src=x onerror=alert(1)>")
    rank(prompt, good, [[0], [1], [2]])
    rank(prompt, other, [[0], [1], [2]])
    rank(prompt, bad, [[2], [1], [0]])
    return bad, prompt


@pytest.mark.django_db
def test_the_evidence_page_shows_their_ranking_beside_the_consensus_escaped(admin_user, project, careless):
    bad, prompt = careless
    page = logged_in(admin_user).get(f"/projects/{project.pk}/annotators/{bad.pk}/quality/").content.decode()

    assert "3 &gt; 2 &gt; 1" in page  # theirs, as numbered on the page
    assert "1 &gt; 2 &gt; 3" in page  # the consensus of the two others
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>alert" not in page
    assert completion_ids(prompt)  # the page numbers them in listing order


@pytest.mark.django_db
def test_the_evidence_page_is_for_staff_and_known_annotators(admin_user, annotator, project, careless):
    bad, _ = careless
    url = f"/projects/{project.pk}/annotators/{bad.pk}/quality/"
    assert logged_in(annotator).get(url).status_code == 403
    assert Client().get(url).status_code == 302  # to the login page
    assert logged_in(admin_user).get(f"/projects/{project.pk}/annotators/999999/quality/").status_code == 404


@pytest.mark.django_db
def test_the_project_page_links_the_evidence_and_shows_the_lineage_section(admin_user, project, careless):
    bad, _ = careless
    page = logged_in(admin_user).get(f"/projects/{project.pk}/").content.decode()

    assert f"/projects/{project.pk}/annotators/{bad.pk}/quality/" in page
    assert 'id="lineage"' in page and "No model version yet." in page
