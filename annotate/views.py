"""Server-rendered pages. Business logic lives in annotate.services and selectors."""

from django.contrib.auth.decorators import login_required
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie

from annotate.api.tasks import next_task_answer
from annotate.selectors import annotator_task_progress, projects_visible_to


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The caller's projects, each with their progress and a way into the ranking page."""
    projects = [
        (project, annotator_task_progress(project=project, annotator=request.user))
        # Archived projects come last (annotators never see them: projects_visible_to).
        for project in projects_visible_to(request.user).order_by(F("archived_at").asc(nulls_first=True), "name")
    ]
    return render(request, "annotate/home.html", {"projects": projects})


@login_required
@ensure_csrf_cookie  # rank.js sends the cookie's token with every POST
def rank(request: HttpRequest, project_id: int) -> HttpResponse:
    """The ranking page. Its first task comes with the page; rank.js fetches the next ones."""
    project = get_object_or_404(projects_visible_to(request.user), pk=project_id)
    placeholder = 999999999
    page = {
        "project": {"id": project.pk, "render_markdown": project.render_markdown},
        "task": next_task_answer(project=project, annotator=request.user),
        "progress": annotator_task_progress(project=project, annotator=request.user),
        "urls": {
            "next": reverse("api-task-next", args=[project.pk]),
            "progress": reverse("api-task-progress", args=[project.pk]),
            "submit": reverse("api-ranking-submit", args=[placeholder]).replace(str(placeholder), "{id}"),
            "skip": reverse("api-assignment-skip", args=[placeholder]).replace(str(placeholder), "{id}"),
        },
    }
    return render(request, "annotate/rank.html", {"project": project, "page": page})
