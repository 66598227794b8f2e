"""Hostile input never answers 500 nor costs unbounded memory (issue 13): JSON nested 10,000 deep,
ids past bigint, bodies over the limit, import bombs, bad query parameters; every API error is JSON."""

from __future__ import annotations

import gzip
import time
import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from annotate.models import Prompt, Ranking
from annotate.services.imports import ImportFailed, prompts_import
from tests.annotate.test_tasks_api import best_first, next_url, submit_url

DEEP = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a": ' * 10_000 + "1" + "}" * 10_000
BIG = 2**63  # one past the largest bigint
FOUR = ["A", "B", "C", "D"]


def post_raw(client, url: str, body: str):
    return client.generic("POST", url, body.encode(), content_type="application/json")


def assert_json_error(answer, status: int) -> dict:
    assert answer.status_code == status, (answer.status_code, answer.content[:300])
    assert answer["Content-Type"].startswith("application/json"), answer["Content-Type"]
    body = answer.json()
    assert isinstance(body["detail"], str) and body["detail"]
    return body


# --- JSON nested 10,000 deep -------------------------------------------------------------------------
@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["lists", "objects"])
def test_deep_json_is_a_400_for_the_anonymous_token_endpoint(anonymous_client, db, body):
    assert (
        "nested too deeply" in assert_json_error(post_raw(anonymous_client, "/api/v1/auth/token", body), 400)["detail"]
    )


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT, '{"order": ' + DEEP + "}"], ids=["lists", "objects", "order"])
def test_deep_json_is_a_400_for_an_annotators_submit(project, make_prompt, annotator_client, body):
    make_prompt(project, k=3)
    task = annotator_client.get(next_url(project)).json()
    assert_json_error(post_raw(annotator_client, submit_url(task["assignment_id"]), body), 400)
    assert not Ranking.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/projects",
        "/api/v1/projects/{project}/prompts",
        "/api/v1/projects/{project}/annotators",
        "/api/v1/projects/{project}/training-runs",
        "/api/v1/projects/{project}/score",
        "/api/v1/projects/{project}/get_reward",
    ],
)
def test_deep_json_is_a_400_for_staff_endpoints(admin_client_api, project, url):
    assert_json_error(post_raw(admin_client_api, url.format(project=project.pk), DEEP_OBJECT), 400)


def test_a_deep_jsonl_line_in_an_import_names_its_line(admin_client_api, project):
    lines = [f'{{"prompt": "Q", "completions": {FOUR!r}}}'.replace("'", '"'), DEEP_OBJECT]
    file = SimpleUploadedFile("p.jsonl", "\n".join(lines).encode())
    body = assert_json_error(admin_client_api.post(f"/api/v1/projects/{project.pk}/prompts", {"file": file}), 400)
    assert body["detail"] == "line 2: JSON nested too deeply"
    first = SimpleUploadedFile("p.jsonl", DEEP.encode())  # the line the format is sniffed from
    assert_json_error(admin_client_api.post(f"/api/v1/projects/{project.pk}/prompts", {"file": first}), 400)
    assert not Prompt.objects.exists()


# --- ids past bigint ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "method, url",
    [
        ("get", f"/api/v1/projects/{BIG}/tasks/next"),
        ("post", f"/api/v1/assignments/{BIG}/ranking"),
        ("post", f"/api/v1/assignments/{BIG}/skip"),
        ("get", f"/api/v1/projects/{BIG * 10**6}/tasks/progress"),
    ],
)
def test_an_id_past_bigint_in_a_url_is_a_json_404(annotator_client, db, method, url):
    answer = getattr(annotator_client, method)(url, {"order": [[1]]} if method == "post" else None, format="json")
    assert_json_error(answer, 404)


@pytest.mark.parametrize("value", [BIG, -BIG, 10**40])
def test_an_id_past_bigint_in_an_order_is_a_400(project, make_prompt, annotator_client, value):
    make_prompt(project, k=2)
    task = annotator_client.get(next_url(project)).json()
    order = [*best_first(task)[:-1], [value]]
    body = assert_json_error(
        annotator_client.post(submit_url(task["assignment_id"]), {"order": order}, format="json"), 400
    )
    assert body["detail"].startswith("order:")
    assert not Ranking.objects.exists()


# --- sizes ----------------------------------------------------------------------------------------
def test_a_body_over_the_limit_is_a_json_413_before_it_is_read(project, make_prompt, annotator_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    make_prompt(project, k=2)
    task = annotator_client.get(next_url(project)).json()
    body = '{"order": ' + str(best_first(task)) + ', "comment": "' + "x" * 2000 + '"}'
    answer = post_raw(annotator_client, submit_url(task["assignment_id"]), body)
    assert "1000 bytes" in assert_json_error(answer, 413)["detail"]
    token = assert_json_error(post_raw(annotator_client, "/api/v1/auth/token", "[" + " " * 2000 + "]"), 413)
    assert "limit" in token["detail"]


def test_an_upload_over_the_import_limit_is_a_413(admin_client_api, project, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 10_000
    file = SimpleUploadedFile("p.jsonl", b" " * 20_000)
    answer = admin_client_api.post(f"/api/v1/projects/{project.pk}/prompts", {"file": file})
    assert "10000 bytes" in assert_json_error(answer, 413)["detail"]


def gzip_file(data: bytes, name: str = "p.jsonl.gz") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, gzip.compress(data, compresslevel=1))


def test_a_gzip_inflating_past_the_limit_is_refused_naming_it(admin_client_api, project, settings):
    settings.IMPORT_MAX_DECOMPRESSED_BYTES = 1_000_000
    records = b"".join(b'{"prompt": "Q%d", "completions": ["A", "B", "C", "D"]}\n' % n for n in range(40_000))
    file = gzip_file(records)  # 2 MB
    body = assert_json_error(admin_client_api.post(f"/api/v1/projects/{project.pk}/prompts", {"file": file}), 400)
    assert "IMPORT_MAX_DECOMPRESSED_BYTES" in body["detail"] and "1000000" in body["detail"]
    assert not Prompt.objects.exists()


def test_one_huge_line_is_refused_with_flat_memory(project, settings):
    """The bomb of the report: a small gzip that inflates to one enormous line (here 64 MiB)."""
    settings.IMPORT_MAX_LINE_BYTES = 1024 * 1024
    data = gzip.compress(b'{"prompt": "' + b"x" * (64 * 1024 * 1024), compresslevel=9)
    tracemalloc.start()
    try:
        with pytest.raises(ImportFailed) as refused:
            prompts_import(project=project, source=SimpleUploadedFile("bomb.jsonl.gz", data))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(refused.value) == "line 1: longer than the limit of 1048576 bytes (IMPORT_MAX_LINE_BYTES)"
    assert peak < 8 * 1024 * 1024, peak


def test_a_flood_of_blank_lines_costs_little(project):
    record = b'{"prompt": "Q", "completions": ["A", "B", "C", "D"]}\n'
    data = gzip.compress(b"\n" * (50 * 1024 * 1024) + record, compresslevel=9)
    started = time.process_time()
    result = prompts_import(project=project, source=SimpleUploadedFile("blank.jsonl.gz", data))
    assert result.prompts_created == 1
    assert time.process_time() - started < 5  # line by line it took 18 s


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_line_error_after_blank_lines_names_the_right_line(project, gzipped):
    record = b'{"prompt": "Q", "completions": ["A", "B", "C", "D"]}\n'
    data = b"\n\n\n  \n" + record + b"\n" * 100_000 + b"not json\n"
    source = gzip_file(data) if gzipped else SimpleUploadedFile("p.jsonl", data)
    with pytest.raises(ImportFailed) as refused:
        prompts_import(project=project, source=source)
    assert str(refused.value).startswith("line 100006: bad JSON")


def test_blank_lines_inside_a_quoted_csv_cell_are_kept(project):
    data = b'prompt,completions\n"Q\n\n  \nend","[""A"", ""B"", ""C"", ""D""]"\n'
    prompts_import(project=project, source=gzip_file(data, "p.csv.gz"))
    assert Prompt.objects.get().text == "Q\n\n  \nend"


# --- query parameters --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query",
    ["ranking=abc", "ranking=-1", f"ranking={BIG}", "ties=2", "limit=-1", "offset=-5", "limit=abc", "offset=1e3"],
)
def test_bad_comparison_filters_and_pages_are_refused(admin_client_api, project, query):
    name = query.split("=")[0]
    body = assert_json_error(admin_client_api.get(f"/api/v1/projects/{project.pk}/comparisons?{query}"), 400)
    assert body["detail"].startswith(f"{name}:")


def test_good_pages_still_work_and_a_large_limit_is_capped(admin_client_api, project):
    answer = admin_client_api.get(f"/api/v1/projects/{project.pk}/comparisons?limit=100000&offset=0&ties=1")
    assert answer.status_code == 200 and answer.json()["results"] == []


# --- every API error is JSON ---------------------------------------------------------------------
def test_an_unknown_api_url_is_a_json_404(annotator_client, anonymous_client, db):
    assert_json_error(annotator_client.get("/api/v1/no-such-thing"), 404)
    assert_json_error(anonymous_client.post("/api/v1/projects/1/tasks/nope"), 404)


def test_pages_keep_their_html_404(annotator_client, db):
    answer = annotator_client.get("/no-such-page/")
    assert answer.status_code == 404 and answer["Content-Type"].startswith("text/html")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: its server is what goes away")
@pytest.mark.django_db(transaction=True)
def test_the_database_unavailable_is_a_503_with_retry_after(annotator_client, project):
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = 1  # nothing listens there: as while PostgreSQL restarts
    try:
        from annotate.api import authentication

        authentication.token_cache_clear()
        answer = annotator_client.get(next_url(project))
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port
    body = assert_json_error(answer, 503)
    assert answer["Retry-After"] == "5" and "database" in body["detail"]
