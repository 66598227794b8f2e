"""/api/v1/auth/token, /api/v1/me, token and session authentication, and the API docs."""

from __future__ import annotations

import yaml
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.validation import validate_schema
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotate.models import Project

TOKEN_URL = "/api/v1/auth/token"


def test_a_user_exchanges_username_and_password_for_a_token(anonymous_client, annotator):
    response = anonymous_client.post(TOKEN_URL, {"username": "annotator", "password": "annotator-pass-123"})
    assert response.status_code == 200
    assert response.data == {
        "token": Token.objects.get(user=annotator).key,
        "username": "annotator",
        "is_staff": False,
    }
    again = anonymous_client.post(TOKEN_URL, {"username": "annotator", "password": "annotator-pass-123"})
    assert again.data["token"] == response.data["token"]


def test_an_admin_gets_a_token_that_says_staff(anonymous_client, admin_user):
    response = anonymous_client.post(TOKEN_URL, {"username": "admin", "password": "admin-pass-123"}, format="json")
    assert response.status_code == 200
    assert response.data["is_staff"] is True


def test_wrong_or_missing_credentials_get_no_token(anonymous_client, annotator):
    wrong = anonymous_client.post(TOKEN_URL, {"username": "annotator", "password": "guess"})
    assert wrong.status_code == 400
    assert wrong.data["detail"] == "Unable to log in with the given username and password."
    assert anonymous_client.post(TOKEN_URL, {"username": "annotator"}).status_code == 400
    annotator.is_active = False
    annotator.save()
    inactive = anonymous_client.post(TOKEN_URL, {"username": "annotator", "password": "annotator-pass-123"})
    assert inactive.status_code == 400
    assert not Token.objects.exists()


def test_a_token_is_revoked_with_delete(annotator_client, anonymous_client, annotator):
    assert annotator_client.delete(TOKEN_URL).status_code == 204
    assert not Token.objects.filter(user=annotator).exists()
    assert annotator_client.get("/api/v1/me").status_code == 401
    assert anonymous_client.delete(TOKEN_URL).status_code == 401


def test_me_tells_an_annotator_who_they_are_and_their_projects(annotator_client, annotator, project):
    Project.objects.create(name="Not mine")
    response = annotator_client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.data == {
        "id": annotator.pk,
        "username": "annotator",
        "is_staff": False,
        "projects": [{"id": project.pk, "name": "Test project"}],
    }


def test_me_lists_every_project_for_staff(admin_client_api, project):
    Project.objects.create(name="Another")
    response = admin_client_api.get("/api/v1/me")
    assert response.data["is_staff"] is True
    assert [row["name"] for row in response.data["projects"]] == ["Another", "Test project"]


def test_me_for_an_outsider_has_no_projects(outsider_client, project):
    assert outsider_client.get("/api/v1/me").data["projects"] == []


def test_me_needs_authentication(anonymous_client):
    response = anonymous_client.get("/api/v1/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_bad_token_is_refused(anonymous_client, annotator):
    anonymous_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert anonymous_client.get("/api/v1/me").status_code == 401


def test_the_browser_session_works_and_unsafe_methods_need_the_csrf_token(admin_user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.get("/api/v1/me").data["username"] == "admin"
    response = client.post("/api/v1/projects", {"name": "Without CSRF"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.data["detail"]


def test_the_openapi_schema_is_valid_and_lists_the_api(annotator_client):
    GENERATOR_STATS.reset()
    response = annotator_client.get("/api/v1/schema/")
    assert response.status_code == 200
    # A warning usually means a wrong schema (e.g. two views' "InputSerializer" overwriting each other).
    assert not GENERATOR_STATS, {**GENERATOR_STATS._warn_cache, **GENERATOR_STATS._error_cache}
    schema = yaml.safe_load(response.content)
    validate_schema(schema)
    for path in ("/api/v1/auth/token", "/api/v1/me", "/api/v1/projects", "/api/v1/projects/{project_id}/progress"):
        assert path in schema["paths"], path


def test_the_swagger_docs_page_is_served_from_our_own_static_files(annotator_client):
    response = annotator_client.get("/api/v1/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<script src="/api/v1/docs/?script="></script>' in page
    assert "/api/v1/schema/" in annotator_client.get("/api/v1/docs/?script=").content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn.jsdelivr" not in page and "unpkg.com" not in page


def test_the_schema_and_docs_need_a_login_unless_the_setting_says_otherwise(anonymous_client, settings):
    settings.API_DOCS_REQUIRE_LOGIN = True  # the production default (DEBUG off)
    for url in ("/api/v1/schema/", "/api/v1/docs/"):
        assert anonymous_client.get(url).status_code == 401, url
    settings.API_DOCS_REQUIRE_LOGIN = False
    for url in ("/api/v1/schema/", "/api/v1/docs/"):
        assert anonymous_client.get(url).status_code == 200, url


def test_the_docs_page_runs_no_inline_script(annotator_client):
    page = annotator_client.get("/api/v1/docs/")
    assert "<script>" not in page.content.decode()  # its start-up script is a file of its own
    assert "script-src 'self';" in page["Content-Security-Policy"]


def test_the_schema_describes_pages_as_pages_and_the_503s_of_scoring(annotator_client):
    schema = yaml.safe_load(annotator_client.get("/api/v1/schema/").content)
    for path, operations in schema["paths"].items():
        listing = operations.get("get", {}).get("responses", {}).get("200", {})
        body = listing.get("content", {}).get("application/json", {}).get("schema", {})
        assert body.get("type") != "array", f"{path} answers a page, not an array"
        if "Paginated" in body.get("$ref", ""):
            names = {parameter["name"] for parameter in operations["get"]["parameters"]}
            assert {"limit", "offset"} <= names, path
    for path in ("/api/v1/projects/{project_id}/score", "/api/v1/projects/{project_id}/get_reward"):
        assert "503" in schema["paths"][path]["post"]["responses"], path
