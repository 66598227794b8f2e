"""Admin-facing pages of rewardtrain (the project page, the prompt browser)."""

from django.urls import path

from rewardtrain import views

urlpatterns: list = [
    path("projects/<int:project_id>/", views.project_detail, name="project-detail"),
    path("projects/<int:project_id>/prompts/", views.prompt_browser, name="prompt-browser"),
    path("projects/<int:project_id>/prompts/<int:prompt_id>/", views.prompt_detail, name="prompt-detail"),
    path(
        "projects/<int:project_id>/annotators/<int:annotator_id>/quality/",
        views.annotator_evidence,
        name="annotator-quality",
    ),
]
