"""Admin-facing pages of rewardtrain: the project page, the prompt browser and one prompt's rankings.
Reads come from services and selectors; the plots are drawn by static/js/project.js from data passed
with ``json_script``; tables sort in the browser (static/js/sortable.js)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotate.forms import PromptFilterForm
from annotate.models import Project, Prompt, Ranking
from annotate.selectors import project_pace
from annotate.services.gold import prompt_gold_clear, prompt_gold_set
from annotate.staff_views import staff_required
from rewardtrain.selectors import (
    acquisition_overview,
    active_model_version,
    comparison_counts,
    length_report_for_project,
    ranking_facts_for_project,
)
from rewardtrain.services.agreement import project_agreement, prompt_report
from rewardtrain.services.lineage import project_lineage
from rewardtrain.services.quality import annotator_quality, annotator_quality_evidence

PROMPTS_PER_PAGE = 25
ALL_PROMPTS = 10**9  # project_agreement's prompt_limit when every prompt's agreement is wanted


@staff_required
def project_detail(request: HttpRequest, project_id: int) -> HttpResponse:
    """A project's page for staff: where it stands, training, agreement with plots, annotators, exports."""
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
        {
            "project": project,
            "pace": project_pace(project=project),
            "model": active_model_version(project_id=project.pk),
            "report": report,
            # Rankings, time, skips, flags, ties, agreement, tau, model and gold figures, and the
            # project's quality flags: one source (rewardtrain.services.quality) for the page and the API.
            "annotators": annotator_quality(project=project),
            "counts": comparison_counts(project_id=project.pk),
            "plots": plots,
            "length_report": length_report_for_project(project_id=project.pk),
            "acquisition": acquisition_overview(project=project),
            "lineage": project_lineage(project=project),
        },
    )


def order_text(order: list[list[int]] | None, numbers: dict[int, int]) -> str:
    """An order of completion ids as the page writes it: "2 > 1 = 3 > 4" (numbers as listed)."""
    if not order:
        return ""
    return " > ".join(" = ".join(str(numbers.get(completion, "?")) for completion in group) for group in order)


@staff_required
def annotator_evidence(request: HttpRequest, project_id: int, annotator_id: int) -> HttpResponse:
    """One annotator's quality figures and their rankings next to the consensus of the others (and gold)."""
    project = get_object_or_404(Project, pk=project_id)
    quality = next((row for row in annotator_quality(project=project) if row.annotator_id == annotator_id), None)
    if quality is None:
        raise Http404("This person has no tasks in this project.")
    evidence = annotator_quality_evidence(project=project, annotator_id=annotator_id)
    for item in evidence:
        numbers = {completion["id"]: index for index, completion in enumerate(item["completions"], start=1)}
        item["order_text"] = order_text(item["order"], numbers)
        item["consensus_text"] = order_text(item["consensus_of_others"], numbers)
        item["gold_text"] = order_text(item["gold_order"], numbers)
    return render(
        request, "rewardtrain/annotator_quality.html", {"project": project, "quality": quality, "evidence": evidence}
    )


def _prompts_in_state(prompts: QuerySet[Prompt], state: str, wanted: int) -> QuerySet[Prompt]:
    """unranked: no ranking and no open task; in progress: some, short of the target; done: the target met."""
    if state == "done":
        return prompts.filter(ranking_count__gte=wanted)
    if state == "in_progress":
        return prompts.filter(ranking_count__lt=wanted).filter(Q(ranking_count__gt=0) | Q(open_assignment_count__gt=0))
    if state == "unranked":
        return prompts.filter(ranking_count=0, open_assignment_count=0)
    return prompts


@staff_required
def prompt_browser(request: HttpRequest, project_id: int) -> HttpResponse:
    """Search a project's prompts; filter by state, by agreement and by who ranked them."""
    project = get_object_or_404(Project, pk=project_id)
    form = PromptFilterForm(request.GET or None)
    prompts = Prompt.objects.filter(project=project)
    filters = form.cleaned_data if form.is_valid() else {}
    # Agreement per prompt ranked at least twice (cached until the next ranking arrives).
    report = project_agreement(project_id=project.pk, prompt_limit=ALL_PROMPTS)
    agreement: dict[int, float | None] = {prompt["prompt_id"]: prompt["agreement"] for prompt in report["prompts"]}
    if filters.get("q"):
        prompts = prompts.filter(Q(text__icontains=filters["q"]) | Q(external_id=filters["q"]))
    prompts = _prompts_in_state(prompts, filters.get("state", ""), project.rankings_per_prompt)
    if filters.get("annotator"):
        prompts = prompts.filter(rankings__annotator__username=filters["annotator"])
    if filters.get("max_agreement") is not None:
        limit = filters["max_agreement"] / 100
        prompts = prompts.filter(pk__in=[pk for pk, value in agreement.items() if value is not None and value <= limit])
    prompts = prompts.annotate(completion_count=Count("completions", distinct=True))
    sort = filters.get("sort") or "id"
    if sort == "agreement":
        ids = sorted(agreement, key=lambda pk: agreement[pk] if agreement[pk] is not None else 2)
        rows = list(prompts.filter(pk__in=ids))
        order = {pk: index for index, pk in enumerate(ids)}
        rows.sort(key=lambda prompt: order[prompt.pk])
        prompt_list: QuerySet[Prompt] | list[Prompt] = rows
    else:
        prompt_list = prompts.order_by(F("id").desc() if sort == "-id" else "id")
    page = Paginator(prompt_list, PROMPTS_PER_PAGE).get_page(request.GET.get("page"))
    for prompt in page:
        prompt.agreement = agreement.get(prompt.pk)
        prompt.state = (
            "done"
            if prompt.ranking_count >= project.rankings_per_prompt
            else "in progress"
            if prompt.ranking_count or prompt.open_assignment_count
            else "unranked"
        )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "rewardtrain/prompt_browser.html",
        {"project": project, "form": form, "page": page, "query": query.urlencode()},
    )


@staff_required
def prompt_detail(request: HttpRequest, project_id: int, prompt_id: int) -> HttpResponse:
    """One prompt: its completions, and every ranking of it side by side with the consensus."""
    project = get_object_or_404(Project, pk=project_id)
    prompt = get_object_or_404(Prompt.objects.filter(project=project), pk=prompt_id)
    completions = list(prompt.completions.order_by("position", "id"))
    rankings = list(Ranking.objects.filter(prompt=prompt).select_related("annotator").order_by("id"))
    facts = list(ranking_facts_for_project(project_id=project.pk, prompt_id=prompt.pk))
    report = prompt_report(facts) if facts else {"consensus": [], "agreement": None, "tau": {}}

    def places(order: list[list[int]]) -> dict[int, str]:
        # "2" for the second place; "=2" when that place is shared (a tie).
        return {
            completion: ("=" if len(group) > 1 else "") + str(place)
            for place, group in enumerate(order, start=1)
            for completion in group
        }

    consensus = places(report["consensus"])
    gold = places(prompt.gold_order) if prompt.gold_order else {}
    columns = [
        {
            "ranking": ranking,
            "places": places(ranking.order),
            "tau": report["tau"].get(ranking.pk),
            "flags": {int(completion): flags for completion, flags in (ranking.flags or {}).items()},
        }
        for ranking in rankings
    ]
    rows = [
        {
            "number": number,
            "completion": completion,
            "consensus": consensus.get(completion.pk, "–"),
            "gold": gold.get(completion.pk, "–"),
            "cells": [
                {"place": column["places"].get(completion.pk, "–"), "flags": column["flags"].get(completion.pk, [])}
                for column in columns
            ],
        }
        for number, completion in enumerate(completions, start=1)
    ]
    return render(
        request,
        "rewardtrain/prompt_detail.html",
        {"project": project, "prompt": prompt, "columns": columns, "rows": rows, "report": report},
    )


@staff_required
@require_POST
def prompt_gold(request: HttpRequest, project_id: int, prompt_id: int) -> HttpResponse:
    """Mark the prompt's gold ranking from its page: the consensus, one of its rankings, or none (clear).

    ``source``: "consensus", "ranking:ID" or "clear". The order is validated as the API's
    (``prompt_gold_set``: every completion once); a bad one changes nothing and is said on the page.
    """
    project = get_object_or_404(Project, pk=project_id)
    prompt = get_object_or_404(Prompt.objects.filter(project=project), pk=prompt_id)
    source = request.POST.get("source", "")
    if source == "clear":
        prompt_gold_clear(prompt=prompt)
        messages.success(request, "Gold ranking cleared: this prompt is an ordinary prompt again.")
        return redirect("prompt-detail", project.pk, prompt.pk)
    if source == "consensus":
        facts = list(ranking_facts_for_project(project_id=project.pk, prompt_id=prompt.pk))
        order = prompt_report(facts)["consensus"] if facts else None
        described = "the consensus"
    elif source.startswith("ranking:") and source[len("ranking:") :].isdigit():
        ranking = Ranking.objects.filter(prompt=prompt, pk=int(source[len("ranking:") :])).first()
        order = ranking.order if ranking is not None else None
        described = f"{ranking.annotator.username}'s ranking" if ranking is not None else ""
    else:
        return HttpResponseBadRequest("source must be 'consensus', 'ranking:ID' (a ranking of this prompt) or 'clear'")
    if not order:
        messages.error(request, "Nothing to mark: this prompt has no such ranking yet.")
        return redirect("prompt-detail", project.pk, prompt.pk)
    try:
        prompt_gold_set(prompt=prompt, order=order)
    except ValidationError as error:
        messages.error(request, f"Not marked as gold: {' '.join(error.messages)}")
    else:
        messages.success(request, f"Gold ranking set from {described}.")
    return redirect("prompt-detail", project.pk, prompt.pk)
