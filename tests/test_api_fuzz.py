"""A bounded schemathesis run against a live server on PostgreSQL (issue 13): every operation of the
OpenAPI schema, as staff and as an annotator, with random and boundary input; no response may be a
server error, and every documented response must match its schema.

    DATABASE_URL=postgres://... .venv/bin/python -m pytest tests/test_api_fuzz.py

It takes about a minute (``--max-examples`` and ``--max-time`` bound it); the schemathesis command
it runs is printed on failure, to reproduce it against any server.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from annotate.models import Completion, Project, Prompt

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: fuzzes the real stack"),
    pytest.mark.django_db(transaction=True),
]

CHECKS = "not_a_server_error,response_schema_conformance"


@pytest.fixture
def fuzz_project(annotator) -> Project:
    project = Project.objects.create(name="Fuzzed", min_completions=2)
    project.annotators.add(annotator)
    for number in range(3):
        prompt = Prompt.objects.create(project=project, text=f"Prompt {number}")
        Completion.objects.bulk_create(Completion(prompt=prompt, text=f"Reply {k}", position=k) for k in range(3))
    return project


def fuzz(live_server, user, tmp_path: Path, *, seed: int) -> subprocess.CompletedProcess:
    token = Token.objects.get_or_create(user=user)[0].key
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "run", f"{live_server.url}/api/v1/schema/?format=json",
        "--header", f"Authorization: Token {token}",
        "--checks", CHECKS,
        "--max-examples", "4",
        "--max-time", "25",
        "--seed", str(seed),
        "--workers", "1",
        "--request-timeout", "30",
        # Revoking the token would leave the rest of the run unauthenticated.
        "--exclude-operation-id", "auth_token_destroy",
        "--report-dir", str(tmp_path),
    ]  # fmt: skip
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("role", ["staff", "annotator"])
def test_no_operation_answers_a_server_error_or_breaks_its_schema(
    live_server, admin_user, annotator, fuzz_project, tmp_path, settings, role
):
    settings.API_DOCS_REQUIRE_LOGIN = True
    settings.TRAINING_DISPATCH = "poll"
    user = admin_user if role == "staff" else annotator
    result = fuzz(live_server, user, tmp_path, seed=13)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
