"""Per-annotator quality (rewardtrain.services.quality) and its API, on hand-computed examples.

The project: annotators a, b, c (c careless), prompts P1 (K=3), P2 (K=4, gold), P3 (K=3, c alone).

    P1  a: 0>1>2   b: 0>1>2   c: 2>1>0        P2  a: 0>1>2>3   c: 0>1>3>2   gold: 0>1>2>3
    P3  c: (0=1)>2, flags "unsafe" on 0 and "incorrect" on 2

- agreement with the others: a (P1 vs b 3/3, vs c 0/3; P2 vs c 5/6) = 8/12; b 3/6; c (0+0+5)/12 = 5/12
- leave-one-out consensus tau: P1's a and b face b+c / a+c, which cancel into one tie (None); c faces
  0>1>2: -1. P2: a vs c and c vs a, C=5 D=1: 4/6. So a: 2/3 over 1 ranking, c: (-1 + 2/3)/2 over 2.
- gold (P2): a tau 1, pairs 6/6; c tau 2/3, pairs 5/6.
- model (scores on P1 only, 0 > 1 > 2): a 3/3, b 3/3, c 0/3.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from annotate.models import Assignment
from annotate.services.gold import prompt_gold_set
from rewardtrain.models import CompletionScore, ModelVersion
from rewardtrain.services.quality import annotator_quality, annotator_quality_evidence
from tests.rewardtrain.ranking_factory import annotators, completion_ids, rank


@pytest.fixture
def ranked(project, make_prompt):
    a, b, c = annotators(3, prefix="")
    a.username, b.username, c.username = "a", "b", "c"
    for user in (a, b, c):
        user.save()
    project.annotators.add(a, b, c)
    project.quality_min_rankings = 2
    project.save()
    p1, p2, p3 = (make_prompt(project, k=k, text=f"P{n}") for n, k in ((1, 3), (2, 4), (3, 3)))
    rank(p1, a, [[0], [1], [2]], seconds=10)
    rank(p1, b, [[0], [1], [2]], seconds=30)
    rank(p1, c, [[2], [1], [0]], seconds=2)
    rank(p2, a, [[0], [1], [2], [3]], seconds=20)
    rank(p2, c, [[0], [1], [3], [2]], seconds=3)
    rank(p3, c, [[0, 1], [2]], seconds=4, flags={0: ["unsafe"], 2: ["incorrect"]})
    ids = completion_ids(p2)
    prompt_gold_set(prompt=p2, order=[[ids[0]], [ids[1]], [ids[2]], [ids[3]]])
    now = timezone.now()
    Assignment.objects.create(
        prompt=p3, annotator=b, state=Assignment.State.SKIPPED, started_at=now, expires_at=now, finished_at=now
    )
    return {"a": a, "b": b, "c": c, "prompts": (p1, p2, p3)}


def by_name(project) -> dict:
    return {row.username: row for row in annotator_quality(project=project)}


@pytest.mark.django_db
def test_agreement_consensus_tau_and_gold_match_the_hand_computed_figures(project, ranked):
    rows = by_name(project)
    a, b, c = rows["a"], rows["b"], rows["c"]

    assert (a.rankings, b.rankings, c.rankings) == (2, 1, 3)
    assert a.agreement_with_others == pytest.approx(8 / 12)
    assert b.agreement_with_others == pytest.approx(3 / 6)
    assert c.agreement_with_others == pytest.approx(5 / 12)
    assert a.consensus_tau == pytest.approx(4 / 6) and a.consensus_rankings == 1
    assert b.consensus_tau is None and b.consensus_rankings == 0
    assert c.consensus_tau == pytest.approx((-1 + 4 / 6) / 2) and c.consensus_rankings == 2
    assert (a.gold_rankings, a.gold_tau, a.gold_pairwise_agreement) == (1, pytest.approx(1.0), pytest.approx(1.0))
    assert (c.gold_rankings, c.gold_tau, c.gold_pairwise_agreement) == (1, pytest.approx(4 / 6), pytest.approx(5 / 6))
    assert b.gold_tau is None and b.gold_pairwise_agreement is None
    assert a.median_seconds == 15 and c.median_seconds == 3


@pytest.mark.django_db
def test_skips_flags_and_ties_are_counted_per_annotator(project, ranked, annotator):
    rows = by_name(project)

    assert (rows["b"].skips, rows["c"].skips) == (1, 0)
    assert (rows["c"].flags, rows["a"].flags) == (2, 0)
    assert (rows["c"].ties, rows["a"].ties) == (1, 0)
    # A member who never worked is listed too, with nothing measured.
    idle = rows[annotator.username]
    assert idle.is_member and idle.rankings == 0 and idle.consensus_tau is None and not idle.flagged


@pytest.mark.django_db
def test_thresholds_flag_only_figures_measured_on_enough_rankings(project, ranked):
    rows = by_name(project)  # consensus tau >= 0.1 and gold tau >= 0.3 by default, 2 rankings needed

    assert rows["c"].flagged
    assert rows["c"].flag_reasons == ["consensus tau -0.17 below 0.1 over 2 rankings"]
    assert not rows["a"].flagged  # a's tau rests on one ranking only
    assert not rows["b"].flagged

    project.quality_min_rankings = 1
    project.quality_min_median_seconds = 5
    project.quality_min_agreement = 0.6
    project.save()
    rows = by_name(project)
    assert rows["c"].flag_reasons == [
        "agreement with the others 0.42 below 0.6 over 3 rankings",
        "consensus tau -0.17 below 0.1 over 2 rankings",
        "median seconds 3.00 below 5 over 3 rankings",
    ]
    assert rows["b"].flag_reasons == ["agreement with the others 0.50 below 0.6 over 1 rankings"]
    assert not rows["a"].flagged


@pytest.mark.django_db
def test_reliability_silences_the_reversing_annotator_and_is_neutral_for_the_unmeasured(project, ranked):
    rows = by_name(project)

    assert rows["a"].reliability == 1.0
    assert rows["c"].reliability == 0.0
    assert rows["b"].reliability == 0.5  # the median of the measured weights (1 and 0)


@pytest.mark.django_db
def test_model_agreement_is_measured_against_the_active_versions_scores(project, ranked):
    assert by_name(project)["a"].model_agreement is None  # no model yet
    version = ModelVersion.objects.create(project=project, version=1, artifact_path="unused", is_active=True)
    p1 = ranked["prompts"][0]
    CompletionScore.objects.bulk_create(
        CompletionScore(version=version, completion_id=completion, score=score)
        for completion, score in zip(completion_ids(p1), (3.0, 2.0, 1.0), strict=True)
    )
    rows = by_name(project)

    assert (rows["a"].model_agreement, rows["a"].model_rankings) == (1.0, 1)
    assert (rows["c"].model_agreement, rows["c"].model_rankings) == (0.0, 1)
    assert rows["b"].model_agreement == 1.0


@pytest.mark.django_db
def test_evidence_lists_the_worst_rankings_beside_the_consensus_and_gold(project, ranked):
    p1, p2, _ = ranked["prompts"]
    ids1, ids2 = completion_ids(p1), completion_ids(p2)

    evidence = annotator_quality_evidence(project=project, annotator_id=ranked["c"].pk)

    assert [item["prompt_id"] for item in evidence] == [p1.pk, p2.pk]  # P3: nobody to compare with
    first, second = evidence
    assert first["order"] == [[ids1[2]], [ids1[1]], [ids1[0]]]
    assert first["consensus_of_others"] == [[ids1[0]], [ids1[1]], [ids1[2]]]
    assert first["consensus_tau"] == pytest.approx(-1.0) and first["other_rankings"] == 2
    assert [completion["id"] for completion in first["completions"]] == ids1
    assert second["gold_order"] == [[ids2[0]], [ids2[1]], [ids2[2]], [ids2[3]]]
    assert second["gold_tau"] == pytest.approx(4 / 6)


# --- the API --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_read_every_annotators_figures_and_the_thresholds(admin_client_api, project, ranked):
    response = admin_client_api.get(f"/api/v1/projects/{project.id}/quality")

    assert response.status_code == 200
    body = response.json()
    assert body["thresholds"]["min_consensus_tau"] == 0.1
    c = next(row for row in body["annotators"] if row["username"] == "c")
    assert c["flagged"] is True and c["flag_reasons"]
    assert c["agreement_with_others"] == pytest.approx(5 / 12)


@pytest.mark.django_db
def test_staff_read_an_annotators_evidence(admin_client_api, project, ranked):
    response = admin_client_api.get(f"/api/v1/projects/{project.id}/quality/{ranked['c'].pk}?limit=1")

    assert response.status_code == 200
    assert response.json()["annotator"]["username"] == "c"
    assert len(response.json()["evidence"]) == 1
    assert admin_client_api.get(f"/api/v1/projects/{project.id}/quality/999999").status_code == 404


@pytest.mark.django_db
def test_only_staff_read_quality(annotator_client, outsider_client, anonymous_client, project, ranked):
    for client, status in ((annotator_client, 403), (outsider_client, 403), (anonymous_client, 401)):
        assert client.get(f"/api/v1/projects/{project.id}/quality").status_code == status
        assert client.get(f"/api/v1/projects/{project.id}/quality/{ranked['c'].pk}").status_code == status


@pytest.mark.django_db
def test_thresholds_are_project_settings_in_the_api(admin_client_api, project):
    response = admin_client_api.patch(
        f"/api/v1/projects/{project.id}",
        {"quality_min_gold_tau": None, "quality_min_agreement": 0.5, "gold_rate": 0.1},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["quality_min_gold_tau"] is None
    assert response.json()["gold_rate"] == 0.1
    bad = admin_client_api.patch(f"/api/v1/projects/{project.id}", {"gold_rate": 1.5}, format="json")
    assert bad.status_code == 400 and "gold_rate" in bad.json()["errors"]


@pytest.mark.django_db
def test_the_project_form_sets_thresholds_and_an_emptied_one_is_off(admin_user, project):
    from django.test import Client

    client = Client()
    client.force_login(admin_user)
    data = {
        "name": project.name,
        "min_completions": 4,
        "max_completions": 9,
        "rankings_per_prompt": 3,
        "assignment_minutes": 30,
        "retrain_after_rankings": 0,
    }
    assert client.post(f"/projects/{project.pk}/edit/", {**data, "quality_min_agreement": "0.55"}).status_code == 302
    project.refresh_from_db()
    assert project.quality_min_agreement == 0.55 and project.quality_min_gold_tau == 0.3  # not sent: kept
    assert client.post(f"/projects/{project.pk}/edit/", {**data, "quality_min_gold_tau": ""}).status_code == 302
    project.refresh_from_db()
    assert project.quality_min_gold_tau is None and project.gold_rate == 0.0
    response = client.post(f"/projects/{project.pk}/edit/", {**data, "gold_rate": "2"})
    assert response.status_code == 200 and "gold_rate" in response.context["form"].errors


# --- reliability weighting in the exports ---------------------------------------------------------


def export_text(project, **options) -> str:
    from rewardtrain.services.export import ExportOptions, export_stream

    chunks = export_stream(project=project, options=ExportOptions.from_mapping(options))
    return b"".join(chunks).decode()


@pytest.mark.django_db
def test_reliability_weighting_puts_each_annotators_weight_in_every_export(project, ranked):
    import csv
    import io
    import json

    from annotate.models import Ranking
    from rewardtrain.services.comparisons import comparisons_expand

    comparisons_expand()
    expected = {"a": 1.0, "b": 0.5, "c": 0.0}

    lines = export_text(project, format="rankings", weighting="reliability").splitlines()
    records = [json.loads(line) for line in lines]
    assert {(record["annotator"], record["weight"]) for record in records} == set(expected.items())
    assert "weight" not in json.loads(export_text(project, format="rankings").splitlines()[0])

    pairs = [json.loads(line) for line in export_text(project, format="trl", weighting="reliability").splitlines()]
    assert sorted({pair["weight"] for pair in pairs}) == [0.0, 0.5, 1.0]
    assert sum(pair["weight"] == 0.0 for pair in pairs) == 3 + 6 + 2  # c's strict pairs on P1, P2 and P3

    rows = list(csv.DictReader(io.StringIO(export_text(project, format="csv", weighting="reliability"))))
    k_of = {ranking.pk: ranking.k for ranking in Ranking.objects.all()}
    for row in rows:
        k = k_of[int(row["ranking_id"])]
        assert float(row["weight"]) == pytest.approx(expected[row["annotator"]] * 2 / (k * (k - 1)))


@pytest.mark.django_db
def test_an_unknown_weighting_is_refused_by_name(admin_client_api, project, ranked):
    response = admin_client_api.get(f"/api/v1/projects/{project.id}/export?format=trl&weighting=trust")
    assert response.status_code == 400 and "weighting" in response.json()["detail"]
