"""REST endpoints of rewardtrain under /api/v1/: comparisons, exports, training, scoring."""

from django.urls import path

from rewardtrain.api import comparisons, export, quality, scoring, training

urlpatterns: list = [
    # Comparisons, agreement and export (staff).
    path("projects/<id:project_id>/comparisons", comparisons.ComparisonListApi.as_view(), name="api-comparisons"),
    path(
        "projects/<id:project_id>/comparisons/expand",
        comparisons.ComparisonExpandApi.as_view(),
        name="api-comparisons-expand",
    ),
    path("projects/<id:project_id>/agreement", comparisons.ProjectAgreementApi.as_view(), name="api-agreement"),
    path("projects/<id:project_id>/export", export.ProjectExportApi.as_view(), name="api-export"),
    # Annotator quality (staff).
    path("projects/<id:project_id>/quality", quality.ProjectQualityApi.as_view(), name="api-quality"),
    path(
        "projects/<id:project_id>/quality/<id:annotator_id>",
        quality.AnnotatorQualityEvidenceApi.as_view(),
        name="api-quality-evidence",
    ),
    # Training runs and the model registry (staff).
    path("projects/<id:project_id>/training-runs", training.TrainingRunListApi.as_view(), name="api-training-runs"),
    path("training-runs/<id:run_id>", training.TrainingRunDetailApi.as_view(), name="api-training-run"),
    path("training-runs/<id:run_id>/cancel", training.TrainingRunCancelApi.as_view(), name="api-training-run-cancel"),
    path("training-runs/<id:run_id>/retry", training.TrainingRunRetryApi.as_view(), name="api-training-run-retry"),
    path("projects/<id:project_id>/models", training.ModelVersionListApi.as_view(), name="api-model-versions"),
    path("models/<id:version_id>/activate", training.ModelVersionActivateApi.as_view(), name="api-model-activate"),
    # Scoring (staff or the rewardtrain.score_rewards permission).
    path("projects/<id:project_id>/score", scoring.ScoreApi.as_view(), name="api-score"),
    path("projects/<id:project_id>/get_reward", scoring.GetRewardApi.as_view(), name="api-get-reward"),
]
