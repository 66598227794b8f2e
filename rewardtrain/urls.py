"""Admin-facing pages of rewardtrain (project dashboards, training runs)."""

from django.urls import path

from rewardtrain import views

urlpatterns: list = [
    path("projects/<int:project_id>/", views.project_detail, name="project-detail"),
]
