"""Admin-facing pages of rewardtrain. Reads come from services and selectors; the plots are drawn by
static/js/project.js from data passed with ``json_script``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from annotate.models import Project, Prompt
from rewardtrain.selectors import comparison_counts
from rewardtrain.services.agreement import project_agreement


@login_required
def project_detail(request: HttpRequest, project_id: int) -> HttpResponse:
    """A project's dashboard for staff: comparisons, agreement with plots, export links (and training)."""
    if not request.user.is_staff:
        raise PermissionDenied("Only staff may see project dashboards.")
    project = get_object_or_404(Project, pk=project_id)
    report = project_agreement(project_id=project.pk, prompt_limit=10)
    texts = dict(Prompt.objects.filter(pk__in=[p["prompt_id"] for p in report["prompts"]]).values_list("pk", "text"))
    for prompt in report["prompts"]:
        prompt["text"] = texts.get(prompt["prompt_id"], "")
    plots = {
        "annotators": [
            {
                "username": annotator["username"],
                "agreement": annotator["agreement"],
                "shown_first_ranked_first": annotator["position_bias"]["shown_first_ranked_first"],
                "chance": annotator["position_bias"]["chance"],
            }
            for annotator in report["annotators"]
        ],
        "seconds": report["summary"]["seconds_histogram"],
    }
    return render(
        request,
        "rewardtrain/project_detail.html",
        {"project": project, "report": report, "counts": comparison_counts(project_id=project.pk), "plots": plots},
    )
