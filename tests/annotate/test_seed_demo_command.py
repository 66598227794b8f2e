"""manage.py seed_demo: the demo project with the real Open Assistant rankings, and the accounts."""

from __future__ import annotations

from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import call_command

from annotate.models import Project, Ranking


def test_it_creates_the_demo_project_accounts_and_rankings_and_is_safe_to_rerun(db):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "212 prompts created" in out.getvalue()
    project = Project.objects.get(name="Open Assistant demo")
    assert Ranking.objects.filter(prompt__project=project, source=Ranking.Source.IMPORT).count() == 212
    users = get_user_model().objects
    assert users.get(username="admin").is_staff
    assert set(project.annotators.values_list("username", flat=True)) == {"annotator1", "annotator2", "annotator3"}
    assert not users.get(username="import").is_staff

    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert "0 prompts created, 212 already present" in again.getvalue()
    assert Ranking.objects.count() == 212
