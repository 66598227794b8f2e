"""POST /api/v1/projects/{id}/score and the OpenRLHF /get_reward: answers, reloads, permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from annotate.models import Project
from rewardtrain.models import ModelVersion
from rewardtrain.services import registry, serving
from rewardtrain.services.serving import model_watcher, scorer_cache
from tests.conftest import client_for
from tests.core.conftest import make_records
from tests.rewardtrain.training_helpers import TINY_CONFIG, build_tiny_encoder


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> list[str]:
    """Two tiny trained artifacts (different seeds), trained once for the module."""
    from rewardtrain.core.config import TrainConfig
    from rewardtrain.core.train import train

    model = str(build_tiny_encoder(tmp_path_factory.mktemp("tiny")))
    out = []
    for seed in (0, 1):
        config = TrainConfig(model=model, seed=seed, **{k: v for k, v in TINY_CONFIG.items() if k != "eval_fraction"})
        result = train(config, make_records(8, seed=seed), [], out_dir=tmp_path_factory.mktemp("rm") / f"v{seed}")
        out.append(str(result.out_dir))
    return out


@pytest.fixture(scope="module")
def styled_artifact(tmp_path_factory) -> str:
    """A tiny model trained with style control and four uncertainty heads."""
    from rewardtrain.core.config import TrainConfig
    from rewardtrain.core.train import train

    model = str(build_tiny_encoder(tmp_path_factory.mktemp("tiny")))
    recipe = {**{k: v for k, v in TINY_CONFIG.items() if k != "eval_fraction"}, "epochs": 3}
    config = TrainConfig(model=model, seed=0, length_control="style", uncertainty_heads=4, **recipe)
    return str(train(config, make_records(10, seed=0), [], out_dir=tmp_path_factory.mktemp("rm") / "styled").out_dir)


@pytest.fixture(autouse=True)
def fresh_cache():
    scorer_cache.clear()
    yield
    scorer_cache.clear()


@pytest.fixture
def served(project, artifacts) -> ModelVersion:
    return ModelVersion.objects.create(project=project, version=1, artifact_path=artifacts[0], is_active=True)


ITEMS = {"items": [{"prompt": "w1 w2", "completions": ["great great", "awful awful", "w3"]}]}


def score_url(project: Project) -> str:
    return reverse("api-score", args=[project.pk])


def reward_url(project: Project) -> str:
    return reverse("api-get-reward", args=[project.pk])


def test_it_scores_items_with_the_active_model(admin_client_api, project, served):
    response = admin_client_api.post(score_url(project), ITEMS, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert len(body["rewards"]) == 1 and len(body["rewards"][0]) == 3
    assert body["model_version"] == 1 and body["model_version_id"] == served.pk


def test_context_turns_are_accepted(admin_client_api, project, served):
    items = {"items": [{"prompt": "p", "context": [{"role": "user", "text": "hi"}], "completions": ["a"]}]}
    assert admin_client_api.post(score_url(project), items, format="json").status_code == 200


def test_get_reward_answers_in_openrlhf_format(admin_client_api, project, served):
    payload = {"query": ["User: hi\n\nAssistant: great", "User: hi\n\nAssistant: awful"], "prompts": ["hi", "hi"]}
    response = admin_client_api.post(reward_url(project), payload, format="json")
    assert response.status_code == 200
    body = response.json()
    assert len(body["rewards"]) == 2 and body["scores"] == body["rewards"] and body["extra_logs"] == {}
    assert (body["model_version"], body["model_version_id"]) == (1, served.pk)
    assert response.headers["X-Model-Version"] == "1"


def test_rewards_match_the_core_scorer(admin_client_api, project, served, artifacts):
    from rewardtrain.core.scoring import RewardScorer

    expected = RewardScorer.load(artifacts[0], device="cpu").score(ITEMS["items"])
    got = admin_client_api.post(score_url(project), ITEMS, format="json").json()["rewards"]
    assert got[0] == pytest.approx(expected[0], abs=1e-4)


STYLED_ITEMS = {"items": [{"prompt": "w1", "completions": ["great w2", "# H\n- awful **w3** w4 w5 w6", "w3"]}]}


def test_uncertainties_and_the_style_term_are_served_when_asked(admin_client_api, project, styled_artifact):
    from rewardtrain.core.scoring import RewardScorer

    ModelVersion.objects.create(project=project, version=1, artifact_path=styled_artifact, is_active=True)
    plain = admin_client_api.post(score_url(project), STYLED_ITEMS, format="json").json()
    assert "uncertainties" not in plain
    asked = admin_client_api.post(score_url(project), {**STYLED_ITEMS, "with_uncertainty": True}, format="json")
    assert asked.status_code == 200, asked.json()
    rewards, uncertainties = RewardScorer.load(styled_artifact, device="cpu").score(
        STYLED_ITEMS["items"], with_uncertainty=True
    )
    assert asked.json()["rewards"][0] == pytest.approx(plain["rewards"][0], abs=1e-6)
    assert asked.json()["rewards"][0] == pytest.approx(rewards[0], abs=1e-4)
    assert asked.json()["uncertainties"][0] == pytest.approx(uncertainties[0], abs=1e-4)
    assert all(value > 0 for value in asked.json()["uncertainties"][0])

    styled = admin_client_api.post(score_url(project), {**STYLED_ITEMS, "include_style": True}, format="json").json()
    expected = RewardScorer.load(styled_artifact, device="cpu", include_style=True).score(STYLED_ITEMS["items"])
    assert styled["rewards"][0] == pytest.approx(expected[0], abs=1e-4)
    assert styled["rewards"][0] != pytest.approx(plain["rewards"][0], abs=1e-3)  # the style term moved them


def test_asking_a_plain_model_for_uncertainty_or_style_is_400_saying_what_it_lacks(admin_client_api, project, served):
    for flag, lacks in (("with_uncertainty", "no uncertainty heads"), ("include_style", "not trained with style")):
        response = admin_client_api.post(score_url(project), {**ITEMS, flag: True}, format="json")
        assert response.status_code == 400 and lacks in str(response.json()), response.json()
    maybe = admin_client_api.post(score_url(project), {**ITEMS, "with_uncertainty": "maybe"}, format="json")
    assert maybe.status_code == 400


def test_the_scorer_is_reloaded_when_the_active_version_changes(admin_client_api, project, served, artifacts):
    first = admin_client_api.post(score_url(project), ITEMS, format="json").json()
    second_version = ModelVersion.objects.create(project=project, version=2, artifact_path=artifacts[1])
    registry.model_version_activate(version=second_version)
    second = admin_client_api.post(score_url(project), ITEMS, format="json").json()
    assert second["model_version"] == 2 and second["rewards"] != first["rewards"]
    assert list(scorer_cache.scorers) == [second_version.pk]  # the old one was dropped


def test_without_an_active_model_it_answers_503_with_a_message(admin_client_api, project):
    for url, payload in ((score_url(project), ITEMS), (reward_url(project), {"query": ["x"]})):
        response = admin_client_api.post(url, payload, format="json")
        assert response.status_code == 503
        assert "no active reward model" in response.json()["detail"]


def test_bad_payloads_are_400(admin_client_api, project, served, settings):
    assert admin_client_api.post(score_url(project), {"items": []}, format="json").status_code == 400
    bad = {"items": [{"prompt": "p", "completions": "not a list"}]}
    assert admin_client_api.post(score_url(project), bad, format="json").status_code == 400
    assert admin_client_api.post(reward_url(project), {"queries": ["x"]}, format="json").status_code == 400
    settings.SCORING_MAX_COMPLETIONS = 2
    response = admin_client_api.post(score_url(project), ITEMS, format="json")
    assert response.status_code == 400 and "at most 2" in response.json()["detail"]


def test_an_unknown_project_is_404(admin_client_api, db):
    assert admin_client_api.post("/api/v1/projects/9999/score", ITEMS, format="json").status_code == 404


@pytest.mark.parametrize("url_of", [score_url, reward_url])
def test_annotators_and_outsiders_are_forbidden_and_anonymous_callers_unauthorized(
    url_of, project, served, annotator_client, outsider_client, anonymous_client
):
    payload = ITEMS if url_of is score_url else {"query": ["x"]}
    assert annotator_client.post(url_of(project), payload, format="json").status_code == 403
    assert outsider_client.post(url_of(project), payload, format="json").status_code == 403
    assert anonymous_client.post(url_of(project), payload, format="json").status_code == 401


@pytest.mark.parametrize("url_of", [score_url, reward_url])
def test_a_service_account_with_the_score_permission_may_score(url_of, project, served, outsider):
    outsider.user_permissions.add(Permission.objects.get(codename="score_rewards"))
    payload = ITEMS if url_of is score_url else {"query": ["x"]}
    assert client_for(outsider).post(url_of(project), payload, format="json").status_code == 200


def test_a_request_to_an_unchanged_model_reads_only_the_active_version_id(admin_client_api, project, served):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    admin_client_api.post(score_url(project), ITEMS, format="json")  # loads the model, drops stale scorers
    with CaptureQueriesContext(connection) as queries:
        assert admin_client_api.post(score_url(project), ITEMS, format="json").status_code == 200
    version_queries = [q["sql"] for q in queries.captured_queries if "rewardtrain_modelversion" in q["sql"]]
    assert len(version_queries) == 1, version_queries


def test_the_served_model_runs_at_the_configured_precision(admin_client_api, project, served, settings):
    settings.SCORING_PRECISION = "fp32"
    admin_client_api.post(score_url(project), ITEMS, format="json")
    assert scorer_cache.scorers[served.pk].batcher.scorer.precision == "fp32"


def test_the_watcher_loads_the_active_model_before_any_request(admin_client_api, project, served, monkeypatch):
    assert scorer_cache.ready(served.pk) is None
    assert [entry.version for entry in model_watcher.check()] == [1]
    assert scorer_cache.ready(served.pk) is not None
    loads = []
    monkeypatch.setattr(scorer_cache, "get", lambda version: loads.append(version) or None)
    response = admin_client_api.post(score_url(project), ITEMS, format="json")
    assert response.status_code == 200 and response.json()["model_version"] == 1 and loads == []


def test_after_an_activation_the_previous_model_answers_until_the_watcher_has_loaded_the_new_one(
    admin_client_api, project, served, artifacts, monkeypatch
):
    monkeypatch.setattr(serving.ModelWatcher, "running", property(lambda self: True))
    pokes = []
    monkeypatch.setattr(model_watcher, "poke", lambda: pokes.append(1))
    model_watcher.check()
    first = admin_client_api.post(score_url(project), ITEMS, format="json").json()
    second_version = ModelVersion.objects.create(project=project, version=2, artifact_path=artifacts[1])
    registry.model_version_activate(version=second_version)

    meanwhile = admin_client_api.post(score_url(project), ITEMS, format="json")
    assert meanwhile.json() == first and meanwhile.headers["X-Model-Version"] == "1"  # no caller waits
    assert pokes  # and the watcher was told to look now
    assert [entry.version for entry in model_watcher.check()] == [2]
    after = admin_client_api.post(score_url(project), ITEMS, format="json").json()
    assert after["model_version"] == 2 and after["model_version_id"] == second_version.pk
    assert list(scorer_cache.scorers) == [second_version.pk]


def test_a_version_that_fails_to_load_is_reported_once_and_not_retried(project, artifacts, tmp_path, caplog):
    gone = str(tmp_path / "gone")
    broken = ModelVersion.objects.create(project=project, version=1, artifact_path=gone, is_active=True)
    watcher = serving.ModelWatcher()
    assert watcher.check() == [] and watcher.check() == []
    assert len([r for r in caplog.records if "did not load" in r.getMessage()]) == 1
    assert scorer_cache.ready(broken.pk) is None
