"""Admin-facing pages of rewardtrain (the project page, the prompt browser)."""

from django.urls import path

from rewardtrain import views

urlpatterns: list = [
    path("projects/<id:project_id>/", views.project_detail, name="project-detail"),
    path("projects/<id:project_id>/prompts/", views.prompt_browser, name="prompt-browser"),
    path("projects/<id:project_id>/prompts/<id:prompt_id>/", views.prompt_detail, name="prompt-detail"),
    path("projects/<id:project_id>/prompts/<id:prompt_id>/gold/", views.prompt_gold, name="prompt-gold"),
    path(
        "projects/<id:project_id>/annotators/<id:annotator_id>/quality/",
        views.annotator_evidence,
        name="annotator-quality",
    ),
]
