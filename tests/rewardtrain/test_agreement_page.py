"""/projects/{id}/: the staff dashboard with agreement tables and plot data."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from annotate.models import Prompt
from tests.rewardtrain.ranking_factory import annotators, rank


def client_logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_staff_see_agreement_tables_and_the_plot_data(admin_user, project, make_prompt):
    raters = annotators(2)
    prompt = make_prompt(project, k=3, text="<script>alert(1)</script> Which is best?")
    rank(prompt, raters[0], [[0], [1], [2]], seconds=15)
    rank(prompt, raters[1], [[1], [0], [2]], seconds=25)

    response = client_logged_in(admin_user).get(f"/projects/{project.id}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "rater0" in page and "rater1" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'src="/static/js/project.js"' in page
    plots = json.loads(page.split('id="agreement-plots" type="application/json">')[1].split("</script>")[0])
    assert [annotator["agreement"] for annotator in plots["annotators"]] == [2 / 3, 2 / 3]
    assert sum(bin["count"] for bin in plots["seconds"]) == 2
    assert "training" in page  # the training engineer's section has its place


@pytest.mark.django_db
def test_annotators_are_refused_and_anonymous_visitors_go_to_the_login(annotator, project):
    assert client_logged_in(annotator).get(f"/projects/{project.id}/").status_code == 403
    response = Client().get(f"/projects/{project.id}/")
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
def test_an_empty_project_renders(admin_user, project):
    response = client_logged_in(admin_user).get(f"/projects/{project.id}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "No prompt has been ranked twice yet." in page and "none yet" in page


@pytest.mark.django_db
def test_the_page_shows_the_strategy_and_the_next_prompts_of_the_queue_escaped(admin_user, project, make_prompt):
    ordinary = make_prompt(project, text="an ordinary prompt")
    hostile = make_prompt(project, text="<img src=x onerror=alert(1)> most uncertain")
    project.acquisition_strategy = "uncertainty"
    project.save()
    Prompt.objects.filter(pk=hostile.pk).update(model_uncertainty=0.93, claim_priority=1.0)
    Prompt.objects.filter(pk=ordinary.pk).update(model_uncertainty=0.2, claim_priority=0.5)

    page = client_logged_in(admin_user).get(f"/projects/{project.id}/").content.decode()

    section = page.split('id="active-learning"')[1].split("</section>")[0]
    assert 'id="acquisition-strategy">uncertainty<' in section
    assert "20% explored at random" in section
    assert "<img src=x" not in section and "&lt;img src=x onerror=alert(1)&gt; most uncertain" in section
    rows = section.split('id="acquisition-queue"')[1].split("<tr>")[2:]
    assert "most uncertain" in rows[0] and "0.93" in rows[0] and "an ordinary prompt" in rows[1]


@pytest.mark.django_db
def test_under_coverage_the_page_says_the_queue_follows_import_order(admin_user, project, make_prompt):
    make_prompt(project)
    section = (
        client_logged_in(admin_user).get(f"/projects/{project.id}/").content.decode().split('id="active-learning"')[1]
    )
    assert 'id="acquisition-strategy">coverage<' in section and "import order" in section
