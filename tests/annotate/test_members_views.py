"""/projects/{id}/members/: add and remove annotators, create accounts, last activity."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from annotate.services.tasks import task_next

pytestmark = pytest.mark.django_db
User = get_user_model()


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_lists_members_with_their_rankings_and_last_activity(admin_user, annotator, project, make_prompt):
    make_prompt(project)
    task_next(project_id=project.pk, annotator=annotator)  # opens a task: activity
    page = logged_in(admin_user).get(f"/projects/{project.pk}/members/").content.decode()
    assert f"?annotator={annotator.username}" in page
    assert re.search(r"0\xa0minutes ago", page)  # the task just opened
    assert "never" in page  # never logged in


def test_adding_and_removing_a_member(admin_user, outsider, annotator, project):
    client = logged_in(admin_user)
    response = client.post(f"/projects/{project.pk}/members/", {"action": "add", "add-username": "outsider"})
    assert response.status_code == 302
    assert set(project.annotators.values_list("username", flat=True)) == {"annotator", "outsider"}
    client.post(f"/projects/{project.pk}/members/", {"action": "remove", "username": "annotator"})
    assert list(project.annotators.values_list("username", flat=True)) == ["outsider"]


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("nobody", "There is no account named “nobody”. Create it below."),
        ("annotator", "“annotator” is already a member of this project."),
        ("", "This field is required."),
    ],
)
def test_adding_an_unknown_or_present_account_says_so_beside_the_field(admin_user, project, username, message):
    response = logged_in(admin_user).post(
        f"/projects/{project.pk}/members/", {"action": "add", "add-username": username}
    )
    assert response.status_code == 200
    assert response.context["add_form"].errors["username"] == [message]
    assert 'id="id_add-username-errors"' in response.content.decode()
    assert list(project.annotators.values_list("username", flat=True)) == ["annotator"]


def test_a_new_account_with_a_one_time_password_can_log_in_and_rank(admin_user, project, make_prompt):
    make_prompt(project)
    client = logged_in(admin_user)
    response = client.post(
        f"/projects/{project.pk}/members/",
        {"action": "create", "create-username": "newbie", "create-email": "", "create-access": "password"},
    )
    password = response.context["new_account"]["password"]
    assert password and password in response.content.decode()
    user = User.objects.get(username="newbie")
    assert not user.is_staff and project.annotators.filter(pk=user.pk).exists()
    assert user.password != password  # stored hashed
    fresh = Client()
    assert fresh.login(username="newbie", password=password)
    assert fresh.get(f"/projects/{project.pk}/rank/").status_code == 200
    # Shown once: the members page does not show it again.
    assert password not in client.get(f"/projects/{project.pk}/members/").content.decode()


def test_a_new_account_with_a_link_sets_its_password_once(admin_user, project):
    response = logged_in(admin_user).post(
        f"/projects/{project.pk}/members/",
        {"action": "create", "create-username": "linked", "create-email": "l@example.org", "create-access": "link"},
    )
    link = response.context["new_account"]["link"]
    assert response.context["new_account"]["password"] is None
    user = User.objects.get(username="linked")
    assert not user.has_usable_password()
    visitor = Client()
    form_page = visitor.get(link, follow=True)
    assert form_page.context["validlink"]
    done = visitor.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-long-new-pass-42", "new_password2": "a-long-new-pass-42"},
    )
    assert done.status_code == 302
    assert Client().login(username="linked", password="a-long-new-pass-42")
    assert not Client().get(link, follow=True).context["validlink"]  # used: it works no more


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"create-username": "annotator"},
            "username",
            "An account named “annotator” already exists; add it above instead.",
        ),
        (
            {"create-username": "bad name!"},
            "username",
            "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.",
        ),
        ({"create-username": "ok", "create-email": "not-an-email"}, "email", "Enter a valid email address."),
        (
            {"create-username": "ok", "create-access": "carrier-pigeon"},
            "access",
            "Select a valid choice. carrier-pigeon is not one of the available choices.",
        ),
    ],
)
def test_account_creation_errors_stand_beside_their_field(admin_user, project, data, field, message):
    response = logged_in(admin_user).post(
        f"/projects/{project.pk}/members/", {"action": "create", "create-access": "password", **data}
    )
    assert response.context["create_form"].errors[field] == [message]
    assert response.context["new_account"] is None
    assert not User.objects.filter(username__in=["ok", "bad name!"]).exists()
