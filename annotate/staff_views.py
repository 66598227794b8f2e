"""The admin's workspace: projects (create, edit, archive), import by upload, members.

Staff only: anonymous visitors go to the login page, everyone else gets 403. Each view parses a form,
calls one service and renders or redirects; the rules live in annotate.services.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.views.decorators.http import require_POST

from annotate.forms import AccountCreateForm, ImportUploadForm, MemberAddForm, ProjectForm
from annotate.models import ImportJob, Project
from annotate.selectors import project_members
from annotate.services import import_jobs, projects

RECENT_IMPORTS = 10


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @login_required
    @wraps(view)
    def check(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("Only staff may manage projects.")
        return view(request, *args, **kwargs)

    return check


def _form_errors_from(form, error: ValidationError) -> None:
    """A service's ValidationError ({field: message} or a message) shown beside its field."""
    fields = set(form.fields)
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in fields else None, errors)
    else:
        form.add_error(None, error)


# --- projects -------------------------------------------------------------------------------------


@staff_required
def project_create(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = projects.project_create(**form.cleaned_data)
        except ValidationError as error:
            _form_errors_from(form, error)
        else:
            messages.success(request, f"Project “{project.name}” created. Import prompts to start.")
            return redirect("project-import", project_id=project.pk)
    return render(request, "annotate/staff/project_form.html", {"form": form, "project": None})


@staff_required
def project_edit(request: HttpRequest, project_id: int) -> HttpResponse:
    project = get_object_or_404(Project, pk=project_id)
    form = ProjectForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        try:
            projects.project_update(project=project, **form.cleaned_data)
        except ValidationError as error:
            _form_errors_from(form, error)
        else:
            messages.success(request, "Project saved.")
            return redirect("project-detail", project_id=project.pk)
    else:
        project.refresh_from_db()  # an invalid form must not show its values as the saved ones
    return render(request, "annotate/staff/project_form.html", {"form": form, "project": project})


@staff_required
@require_POST
def project_archive(request: HttpRequest, project_id: int) -> HttpResponse:
    project = get_object_or_404(Project, pk=project_id)
    if request.POST.get("archived") == "0":
        projects.project_unarchive(project=project)
        messages.success(request, f"“{project.name}” is active again: annotators see it and get tasks.")
    else:
        projects.project_archive(project=project)
        messages.success(request, f"“{project.name}” is archived: it hands out no tasks. Nothing was deleted.")
    return redirect("project-detail", project_id=project.pk)


# --- import by upload -----------------------------------------------------------------------------


@staff_required
def project_import(request: HttpRequest, project_id: int) -> HttpResponse:
    project = get_object_or_404(Project, pk=project_id)
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = import_jobs.import_job_create(
                project=project,
                upload=form.cleaned_data["file"],
                format=form.cleaned_data["format"] or None,
                created_by=request.user,
            )
        except ValidationError as error:
            _form_errors_from(form, error)
        else:
            return redirect("import-job", project_id=project.pk, job_id=job.pk)
    jobs = ImportJob.objects.filter(project=project).select_related("created_by")[:RECENT_IMPORTS]
    return render(request, "annotate/staff/import.html", {"project": project, "form": form, "jobs": jobs})


@staff_required
def import_job_detail(request: HttpRequest, project_id: int, job_id: int) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.select_related("project"), pk=job_id, project_id=project_id)
    status = {
        "state": job.state,
        "progress": job.progress,
        "url": reverse("import-job-status", args=[project_id, job_id]),
    }
    context = {"project": job.project, "job": job, "status": status, "stale": import_jobs.import_job_is_stale(job=job)}
    return render(request, "annotate/staff/import_job.html", context)


@staff_required
def import_job_status(request: HttpRequest, project_id: int, job_id: int) -> JsonResponse:
    """What static/js/import.js polls while a job is checked or imported."""
    job = get_object_or_404(ImportJob, pk=job_id, project_id=project_id)
    return JsonResponse({"state": job.state, "progress": job.progress, "error": job.error})


@staff_required
@require_POST
def import_job_action(request: HttpRequest, project_id: int, job_id: int) -> HttpResponse:
    job = get_object_or_404(ImportJob, pk=job_id, project_id=project_id)
    try:
        if request.POST.get("action") == "cancel":
            import_jobs.import_job_cancel(job=job)
            messages.success(request, f"Import of “{job.file_name}” cancelled; nothing was imported.")
            return redirect("project-import", project_id=project_id)
        import_jobs.import_job_start(job=job)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("import-job", project_id=project_id, job_id=job.pk)


# --- members --------------------------------------------------------------------------------------


@staff_required
def project_members_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = get_object_or_404(Project, pk=project_id)
    action = request.POST.get("action") if request.method == "POST" else None
    add_form = MemberAddForm(request.POST if action == "add" else None, project=project, prefix="add")
    create_form = AccountCreateForm(request.POST if action == "create" else None, prefix="create")
    new_account = None
    if action == "add" and add_form.is_valid():
        projects.project_annotators_add(project=project, usernames=[add_form.cleaned_data["username"]])
        messages.success(request, f"“{add_form.cleaned_data['username']}” can now rank in this project.")
        return redirect("project-members", project_id=project.pk)
    if action == "remove":
        username = request.POST.get("username", "")
        try:
            projects.project_annotators_remove(project=project, usernames=[username])
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"“{username}” was removed from the project; their rankings stay.")
        return redirect("project-members", project_id=project.pk)
    if action == "create" and create_form.is_valid():
        try:
            account = projects.annotator_account_create(
                project=project,
                username=create_form.cleaned_data["username"],
                email=create_form.cleaned_data["email"],
                with_password=create_form.cleaned_data["access"] == "password",
            )
        except ValidationError as error:
            _form_errors_from(create_form, error)
        else:
            # Shown in this response only (never stored in a message or the session): a reload shows it no more.
            new_account = {"username": account.user.get_username(), "password": account.password, "link": None}
            if account.password is None:
                uid = urlsafe_base64_encode(force_bytes(account.user.pk))
                token = default_token_generator.make_token(account.user)
                path = reverse("password-set", kwargs={"uidb64": uid, "token": token})
                new_account["link"] = request.build_absolute_uri(path)
            create_form = AccountCreateForm(prefix="create")
    return render(
        request,
        "annotate/staff/members.html",
        {
            "project": project,
            "members": project_members(project=project),
            "add_form": add_form,
            "create_form": create_form,
            "new_account": new_account,
        },
    )
