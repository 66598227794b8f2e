"""The admin's project pages: create, edit, archive; and who may open every staff page."""

from __future__ import annotations

import pytest
from django import forms
from django.test import Client

from annotate.forms import ProjectForm
from annotate.models import ImportJob, Project
from annotate.services.tasks import task_next

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def staff_pages(project, prompt, job) -> list[tuple[str, str]]:
    p = project.pk
    return [
        ("get", "/projects/new/"),
        ("get", f"/projects/{p}/edit/"),
        ("post", f"/projects/{p}/archive/"),
        ("get", f"/projects/{p}/import/"),
        ("get", f"/projects/{p}/imports/{job.pk}/"),
        ("get", f"/projects/{p}/imports/{job.pk}/status/"),
        ("post", f"/projects/{p}/imports/{job.pk}/action/"),
        ("get", f"/projects/{p}/members/"),
        ("get", f"/projects/{p}/"),
        ("get", f"/projects/{p}/prompts/"),
        ("get", f"/projects/{p}/prompts/{prompt.pk}/"),
        ("post", f"/projects/{p}/prompts/{prompt.pk}/gold/"),
    ]


@pytest.fixture
def job(project, admin_user) -> ImportJob:
    return ImportJob.objects.create(project=project, created_by=admin_user, file_name="a.jsonl", state="failed")


def test_every_staff_page_is_refused_to_annotators_outsiders_and_anonymous_visitors(
    project, make_prompt, job, annotator, outsider, admin_user
):
    prompt = make_prompt(project)
    for method, url in staff_pages(project, prompt, job):
        for user in (annotator, outsider):
            assert getattr(logged_in(user), method)(url).status_code == 403, (user, url)
        response = getattr(Client(), method)(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
    project.refresh_from_db()
    assert project.archived_at is None  # none of the refused POSTs did anything
    for method, url in staff_pages(project, prompt, job):
        if method == "get":
            assert logged_in(admin_user).get(url).status_code == 200, url


def test_it_creates_a_project_from_the_form(admin_user):
    defaults = {name: value for name, value in form_defaults().items() if name != "render_markdown"}
    response = logged_in(admin_user).post(
        "/projects/new/",
        {
            **defaults,
            "name": "Helpfulness",
            "instructions": "Rank **best** first.",
            "min_completions": 3,
            "max_completions": 6,
            "rankings_per_prompt": 2,
            "allow_ties": "on",
            "shuffle_completions": "on",
            "assignment_minutes": 20,
            "base_model": "",
            "retrain_after_rankings": 100,
        },
    )
    project = Project.objects.get(name="Helpfulness")
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.pk}/import/"
    assert (project.min_completions, project.max_completions, project.rankings_per_prompt) == (3, 6, 2)
    assert project.allow_ties and not project.retrain_daily and project.retrain_after_rankings == 100
    assert not project.render_markdown  # a checkbox left unticked


def form_defaults(instance: Project | None = None) -> dict[str, object]:
    """What the form posts when nothing is changed: every field's shown value (ticked boxes as "on")."""
    form = ProjectForm(instance=instance)
    data: dict[str, object] = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = value
    return data


def field_errors(response) -> dict[str, list[str]]:
    form = response.context["form"]
    return {field: [str(message) for message in messages] for field, messages in form.errors.items()}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"name": "Test project"}, "name", "Project with this Name already exists."),
        ({"min_completions": 1}, "min_completions", "must be at least 2 (a ranking needs two completions)"),
        ({"max_completions": 17}, "max_completions", "must be at most 16 (MAX_COMPLETIONS_LIMIT)"),
        ({"min_completions": 7, "max_completions": 5}, "min_completions", "must not exceed max_completions (7 > 5)"),
        ({"rankings_per_prompt": 0}, "rankings_per_prompt", "Ensure this value is greater than or equal to 1."),
        ({"assignment_minutes": "soon"}, "assignment_minutes", "Enter a whole number."),
        ({"retrain_after_rankings": -1}, "retrain_after_rankings", "Ensure this value is greater than or equal to 0."),
        (
            {"acquisition_strategy": "loudest"},
            "acquisition_strategy",
            "Select a valid choice. loudest is not one of the available choices.",
        ),
        ({"acquisition_exploration": 2}, "acquisition_exploration", "Ensure this value is less than or equal to 1.0."),
    ],
)
def test_each_bad_field_gets_its_message_beside_it_and_nothing_is_created(admin_user, project, changes, field, message):
    data = {**form_defaults(), "name": "Another", **changes}
    response = logged_in(admin_user).post("/projects/new/", data)
    assert response.status_code == 200
    assert field_errors(response).get(field) == [message]
    page = response.content.decode()
    assert f'id="id_{field}-errors"' in page  # rendered beside the field, not at the top
    assert Project.objects.count() == 1


def test_editing_saves_the_fields_and_a_bad_edit_changes_nothing(admin_user, project):
    project.quality_min_gold_tau = 0.5  # a setting the edit leaves alone must survive it
    project.save()
    client = logged_in(admin_user)
    page = client.get(f"/projects/{project.pk}/edit/").content.decode()
    assert 'value="Test project"' in page
    assert all(f'name="{field}"' in page for field in ProjectForm.Meta.fields)  # every field is on the page
    data = {
        **form_defaults(project),
        "name": "Renamed",
        "instructions": "New rules",
        "min_completions": 2,
        "max_completions": 5,
        "rankings_per_prompt": 4,
        "assignment_minutes": 30,
        "retrain_after_rankings": 0,
        "retrain_daily": "on",
    }
    assert client.post(f"/projects/{project.pk}/edit/", data).status_code == 302
    project.refresh_from_db()
    assert (project.name, project.max_completions, project.rankings_per_prompt) == ("Renamed", 5, 4)
    assert project.retrain_daily and not project.allow_ties and project.quality_min_gold_tau == 0.5
    assert (project.acquisition_strategy, project.acquisition_exploration) == ("coverage", 0.2)  # left out: kept
    data.update(acquisition_strategy="mixed", acquisition_exploration="0.3")
    assert client.post(f"/projects/{project.pk}/edit/", data).status_code == 302
    project.refresh_from_db()
    assert (project.acquisition_strategy, project.acquisition_exploration) == ("mixed", 0.3)

    response = client.post(f"/projects/{project.pk}/edit/", {**data, "name": "Broken", "max_completions": 40})
    assert field_errors(response)["max_completions"] == ["must be at most 16 (MAX_COMPLETIONS_LIMIT)"]
    project.refresh_from_db()
    assert project.name == "Renamed"


def test_archiving_stops_tasks_and_hides_the_project_from_its_annotators_until_it_comes_back(
    admin_user, annotator, project, make_prompt
):
    make_prompt(project)
    client = logged_in(admin_user)
    assert client.post(f"/projects/{project.pk}/archive/", {"archived": "1"}).status_code == 302
    project.refresh_from_db()
    assert project.archived_at is not None
    annotator_client = logged_in(annotator)
    assert project.name not in annotator_client.get("/").content.decode()
    assert annotator_client.get(f"/projects/{project.pk}/rank/").status_code == 404
    assert annotator_client.get(f"/api/v1/projects/{project.pk}/tasks/next").status_code == 404
    with pytest.raises(Exception, match="No Project"):
        task_next(project_id=project.pk, annotator=annotator)
    assert "archived" in client.get("/").content.decode()  # staff still see it

    client.post(f"/projects/{project.pk}/archive/", {"archived": "0"})
    project.refresh_from_db()
    assert project.archived_at is None
    assert project.name in annotator_client.get("/").content.decode()
    _, task = task_next(project_id=project.pk, annotator=annotator)
    assert task is not None


def test_hostile_project_names_and_instructions_are_shown_as_text(admin_user, project):
    project.name = '<img src=x onerror="alert(1)">'
    project.instructions = "<script>alert(2)</script>"
    project.save()
    for url in (f"/projects/{project.pk}/edit/", f"/projects/{project.pk}/", "/"):
        page = logged_in(admin_user).get(url).content.decode()
        assert "<img src=x" not in page and "<script>alert(2)" not in page, url
        assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page, url
