"""URLs of a dedicated scoring process (``python manage.py serve_rewards``): scoring and nothing else."""

from django.urls import path

from rewardtrain.api import scoring

urlpatterns = [
    path("api/v1/projects/<id:project_id>/score", scoring.ScoreApi.as_view(), name="api-score"),
    path("api/v1/projects/<id:project_id>/get_reward", scoring.GetRewardApi.as_view(), name="api-get-reward"),
]
