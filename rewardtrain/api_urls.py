"""REST endpoints of rewardtrain under /api/v1/: comparisons, exports, training, scoring."""

from django.urls import path

from rewardtrain.api import comparisons, export, quality, scoring, training

urlpatterns: list = [
    # Comparisons, agreement and export (staff).
    path("projects/<int:project_id>/comparisons", comparisons.ComparisonListApi.as_view(), name="api-comparisons"),
    path(
        "projects/<int:project_id>/comparisons/expand",
        comparisons.ComparisonExpandApi.as_view(),
        name="api-comparisons-expand",
    ),
    path("projects/<int:project_id>/agreement", comparisons.ProjectAgreementApi.as_view(), name="api-agreement"),
    path("projects/<int:project_id>/export", export.ProjectExportApi.as_view(), name="api-export"),
    # Annotator quality (staff).
    path("projects/<int:project_id>/quality", quality.ProjectQualityApi.as_view(), name="api-quality"),
    path(
        "projects/<int:project_id>/quality/<int:annotator_id>",
        quality.AnnotatorQualityEvidenceApi.as_view(),
        name="api-quality-evidence",
    ),
    # Training runs and the model registry (staff).
    path(
        "projects/<int:project_id>/training-runs", training.TrainingRunListApi.as_view(), name="api-training-runs"
    ),
    path("training-runs/<int:run_id>", training.TrainingRunDetailApi.as_view(), name="api-training-run"),
    path("training-runs/<int:run_id>/cancel", training.TrainingRunCancelApi.as_view(), name="api-training-run-cancel"),
    path("training-runs/<int:run_id>/retry", training.TrainingRunRetryApi.as_view(), name="api-training-run-retry"),
    path("projects/<int:project_id>/models", training.ModelVersionListApi.as_view(), name="api-model-versions"),
    path("models/<int:version_id>/activate", training.ModelVersionActivateApi.as_view(), name="api-model-activate"),
    # Scoring (staff or the rewardtrain.score_rewards permission).
    path("projects/<int:project_id>/score", scoring.ScoreApi.as_view(), name="api-score"),
    path("projects/<int:project_id>/get_reward", scoring.GetRewardApi.as_view(), name="api-get-reward"),
]
