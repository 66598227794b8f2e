"""The prompt browser and one prompt's rankings side by side; the project page's header."""

from __future__ import annotations

import pytest
from django.test import Client

from annotate.models import Ranking
from rewardtrain.models import ModelVersion
from tests.rewardtrain.ranking_factory import annotators, completion_ids, rank

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ranked_project(project, make_prompt):
    """Prompt A: ranked by three who disagree; B: once; C: never. Three rankings wanted per prompt."""
    raters = annotators(3)
    a = make_prompt(project, k=3, text="Alpha: how do tides work?")
    b = make_prompt(project, k=3, text="Beta: name a prime")
    c = make_prompt(project, k=3, text="Gamma: <b>bold</b> question")
    rank(a, raters[0], [[0], [1], [2]])
    rank(a, raters[1], [[2], [1], [0]])
    rank(a, raters[2], [[0, 1], [2]])
    rank(b, raters[0], [[1], [0], [2]])
    return project, (a, b, c), raters


def prompts_listed(response) -> list[str]:
    return [prompt.text for prompt in response.context["page"]]


def test_it_searches_and_filters_by_state_agreement_and_annotator(admin_user, ranked_project):
    project, (a, b, c), raters = ranked_project
    client = logged_in(admin_user)
    url = f"/projects/{project.pk}/prompts/"
    assert prompts_listed(client.get(url)) == [a.text, b.text, c.text]
    assert prompts_listed(client.get(url, {"q": "prime"})) == [b.text]
    assert prompts_listed(client.get(url, {"state": "done"})) == [a.text]
    assert prompts_listed(client.get(url, {"state": "in_progress"})) == [b.text]
    assert prompts_listed(client.get(url, {"state": "unranked"})) == [c.text]
    assert prompts_listed(client.get(url, {"max_agreement": 50})) == [a.text]
    assert prompts_listed(client.get(url, {"max_agreement": 10})) == []
    assert prompts_listed(client.get(url, {"annotator": "rater1"})) == [a.text]
    assert prompts_listed(client.get(url, {"sort": "agreement"}))[0] == a.text
    page = client.get(url).content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"max_agreement": 150}, "max_agreement", "Ensure this value is less than or equal to 100."),
        ({"max_agreement": "half"}, "max_agreement", "Enter a whole number."),
        ({"state": "stuck"}, "state", "Select a valid choice. stuck is not one of the available choices."),
        ({"annotator": "ghost"}, "annotator", "There is no account named “ghost”."),
    ],
)
def test_a_bad_filter_says_what_is_wrong_beside_it(admin_user, ranked_project, query, field, message):
    project, *_ = ranked_project
    response = logged_in(admin_user).get(f"/projects/{project.pk}/prompts/", query)
    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]


def test_one_prompt_shows_every_ranking_beside_the_consensus(admin_user, ranked_project):
    project, (a, _, _), raters = ranked_project
    Ranking.objects.filter(annotator=raters[1], prompt=a).update(
        comment="<script>alert(1)</script> مرحبا 👍", flags={str(completion_ids(a)[2]): ["unsafe"]}
    )
    response = logged_in(admin_user).get(f"/projects/{project.pk}/prompts/{a.pk}/")
    assert response.status_code == 200
    rows = response.context["rows"]
    # Rankings: 0>1>2, 2>1>0, (0=1)>2. Majorities: 0 over 2 (2:1), 1 over 2 (2:1), 0 and 1 tied 1:1.
    assert [row["consensus"] for row in rows] == ["=1", "=1", "2"]
    assert [[cell["place"] for cell in row["cells"]] for row in rows] == [
        ["1", "3", "=1"],
        ["2", "2", "=1"],
        ["3", "1", "2"],
    ]
    assert rows[2]["cells"][1]["flags"] == ["unsafe"]
    page = response.content.decode()
    assert "rater0" in page and "rater2" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; مرحبا 👍" in page


def test_a_prompt_of_another_project_is_not_found(admin_user, ranked_project, make_prompt):
    from annotate.models import Project

    project, (a, *_), _ = ranked_project
    other = Project.objects.create(name="Other")
    assert logged_in(admin_user).get(f"/projects/{other.pk}/prompts/{a.pk}/").status_code == 404


def test_the_project_page_header_says_where_the_project_stands(admin_user, ranked_project):
    project, _, _ = ranked_project
    ModelVersion.objects.create(
        project=project,
        version=3,
        artifact_path="unused",
        is_active=True,
        metrics={"pairwise_accuracy": 0.71, "length_baseline_accuracy": 0.64},
    )
    response = logged_in(admin_user).get(f"/projects/{project.pk}/")
    pace = response.context["pace"]
    # 3 prompts × 3 wanted; A has 3, B 1, C 0; 4 rankings today: 5 left at 4 a day.
    assert (pace.rankings_done, pace.rankings_wanted, pace.prompts_left, pace.rankings_last_day) == (4, 9, 2, 4)
    assert pace.hours_left == pytest.approx(30.0)
    page = response.content.decode()
    assert "71%" in page and "length baseline 64%" in page and "≈ 30 h left at this pace" in page
    assert page.index('id="overview"') < page.index('id="training"') < page.index('id="agreement"')


def test_the_annotators_table_shows_the_quality_figures_and_flags(admin_user, ranked_project):
    project, (a, b, _), raters = ranked_project
    project.quality_min_rankings = 1
    project.quality_min_consensus_tau = -0.9
    project.save()
    Ranking.objects.filter(annotator=raters[0], prompt=b).update(
        flags={str(completion_ids(b)[0]): ["unsafe", "incorrect"]}
    )
    response = logged_in(admin_user).get(f"/projects/{project.pk}/")
    rows = {row.username: row for row in response.context["annotators"]}
    assert (rows["rater0"].rankings, rows["rater0"].flags, rows["rater2"].ties) == (2, 2, 1)
    # rater1 reversed the others (tau -1.00 against their consensus; rater0: -0.82).
    assert rows["rater1"].flagged and not rows["rater0"].flagged
    page = response.content.decode()
    assert "consensus tau -1.00 below -0.9 over 1 rankings" in page and 'class="flagged"' in page


def test_the_agreement_report_is_measured_once_for_every_prompt_limit(ranked_project, django_assert_num_queries):
    from rewardtrain.services.agreement import project_agreement

    project, (a, _, _), _ = ranked_project
    first = project_agreement(project_id=project.pk, prompt_limit=10)
    with django_assert_num_queries(2):  # the state of the rankings, once a call; the report is cached
        none = project_agreement(project_id=project.pk, prompt_limit=0)
        every = project_agreement(project_id=project.pk, prompt_limit=10**9)
    assert none["prompts"] == [] and none["annotators"] == first["annotators"]
    assert [prompt["prompt_id"] for prompt in every["prompts"]] == [a.pk]


def test_staff_mark_the_gold_ranking_from_the_prompt_page(admin_user, ranked_project):
    project, (a, b, c), raters = ranked_project
    client = logged_in(admin_user)
    url = f"/projects/{project.pk}/prompts/{a.pk}/gold/"
    first, second, third = completion_ids(a)
    # The consensus of 0>1>2, 2>1>0, (0=1)>2 is (0=1)>2 (see above): marked as it stands, tie included.
    response = client.post(url, {"source": "consensus"}, follow=True)
    a.refresh_from_db()
    assert a.gold_order == [sorted([first, second]), [third]]
    assert "Gold ranking set from the consensus." in response.content.decode()
    assert [row["gold"] for row in response.context["rows"]] == ["=1", "=1", "2"]

    reversed_ranking = Ranking.objects.get(prompt=a, annotator=raters[1])
    client.post(url, {"source": f"ranking:{reversed_ranking.pk}"})
    a.refresh_from_db()
    assert a.gold_order == [[third], [second], [first]]

    client.post(url, {"source": "clear"})
    a.refresh_from_db()
    assert a.gold_order is None


def test_a_bad_gold_request_changes_nothing_and_says_why(admin_user, ranked_project):
    project, (a, b, c), raters = ranked_project
    client = logged_in(admin_user)
    other_prompts_ranking = Ranking.objects.get(prompt=b)
    for source in ("", "everything", "ranking:x", f"ranking:{other_prompts_ranking.pk}"):
        response = client.post(f"/projects/{project.pk}/prompts/{a.pk}/gold/", {"source": source}, follow=True)
        a.refresh_from_db()
        assert a.gold_order is None, source
        assert response.status_code == 400 or "Nothing to mark" in response.content.decode(), source
    response = client.post(f"/projects/{project.pk}/prompts/{c.pk}/gold/", {"source": "consensus"}, follow=True)
    c.refresh_from_db()
    assert c.gold_order is None and "Nothing to mark" in response.content.decode()
    assert client.get(f"/projects/{project.pk}/prompts/{a.pk}/gold/").status_code == 405
