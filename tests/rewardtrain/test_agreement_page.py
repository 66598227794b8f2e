"""/projects/{id}/: the staff dashboard with agreement tables and plot data."""

from __future__ import annotations

import json

import pytest
from django.test import Client

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
