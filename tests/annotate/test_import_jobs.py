"""Import by upload: the page, the job that checks the file (preview) and the job that imports it.

The check and the import are the same service as the command line (annotate.services.imports), run
here through the Celery tasks in-process (``celery_eager``), as the embedded default runs them.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from annotate.models import Completion, ImportJob, Prompt, Ranking
from annotate.services import import_jobs
from annotate.services.imports import prompts_import
from rewardtrain.core.config import shipped_data_dir

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def uploads_in_tmp(settings, tmp_path):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    return settings.IMPORT_UPLOAD_DIR


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what the code under test sends on commit (the tasks), as a real commit would."""

    def run(call, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)

    return run


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def records(count: int, start: int = 0) -> list[dict]:
    return [
        {"id": f"p{n}", "prompt": f"Question {n}?", "completions": [f"Answer {n}.{k}" for k in range(4)]}
        for n in range(start, start + count)
    ]


def upload(client: Client, project, name: str, content: bytes, format: str = ""):
    return client.post(f"/projects/{project.pk}/import/", {"file": SimpleUploadedFile(name, content), "format": format})


def test_a_gzipped_upload_is_checked_previewed_then_imported_when_started(
    project, make_prompt, admin_user, celery_eager, uploads_in_tmp, committed
):
    make_prompt(project, external_id="p1")  # already there: left as it is
    client = logged_in(admin_user)
    response = committed(upload, client, project, "prompts.jsonl.gz", gzip.compress(jsonl(records(7))))
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.pk}/imports/{job.pk}/"
    assert job.state == "checked" and job.format == "jsonl" and job.file_name == "prompts.jsonl.gz"
    assert job.preview["prompts_new"] == 6 and job.preview["prompts_existing"] == 1
    assert job.preview["completions"] == 24 and job.preview["rankings"] == 0
    assert [record["line"] for record in job.preview["records"]] == [1, 2, 3, 4, 5]
    assert [record["exists"] for record in job.preview["records"]] == [False, True, False, False, False]
    assert Prompt.objects.filter(project=project).count() == 1  # the check wrote nothing

    page = client.get(response["Location"]).content.decode()
    assert "Question 0?" in page and "Answer 4.3" in page and "Import 6 prompts" in page

    response = committed(client.post, f"/projects/{project.pk}/imports/{job.pk}/action/", {"action": "start"})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.state == "done" and job.progress["fraction"] == 1.0
    assert job.result["prompts_created"] == 6 and job.result["prompts_existing"] == 1
    assert Prompt.objects.filter(project=project).count() == 7
    assert list(uploads_in_tmp.iterdir()) == []  # the file is gone once the job ended
    status = client.get(f"/projects/{project.pk}/imports/{job.pk}/status/").json()
    assert status["state"] == "done" and status["progress"]["fraction"] == 1.0
    assert "6 prompts created" in client.get(response["Location"]).content.decode()


def test_a_bad_file_shows_the_line_and_field_of_its_first_error_and_imports_nothing(
    project, admin_user, celery_eager, uploads_in_tmp, committed
):
    bad = records(5)
    bad[2]["completions"] = ["only one"]
    bad[4]["prompt"] = 5
    client = logged_in(admin_user)
    response = committed(upload, client, project, "bad.jsonl", jsonl(bad))
    job = ImportJob.objects.get()
    assert job.state == "failed"
    assert (job.error_line, job.error_field) == (3, "completions")
    assert job.error == "line 3: completions: 1 given; this project takes 4 to 9 per prompt"
    page = client.get(response["Location"]).content.decode()
    assert "Nothing was imported." in page and "Line <strong>3</strong>, field <code>completions</code>" in page
    assert Prompt.objects.count() == 0 and list(uploads_in_tmp.iterdir()) == []
    # A failed job cannot be started.
    committed(client.post, f"/projects/{project.pk}/imports/{job.pk}/action/", {"action": "start"})
    assert ImportJob.objects.get().state == "failed" and Prompt.objects.count() == 0


def test_csv_is_detected_by_its_name_and_a_chosen_format_is_kept(project, admin_user, celery_eager, committed):
    client = logged_in(admin_user)
    csv_text = b'id,prompt,completions\nc1,"Hi, there?","[""a"", ""b"", ""c"", ""d""]"\n'
    committed(upload, client, project, "data.csv", csv_text)
    assert ImportJob.objects.get().format == "csv" and ImportJob.objects.get().state == "checked"
    committed(upload, client, project, "data.txt", jsonl(records(1)), format="jsonl")
    assert ImportJob.objects.first().format == "jsonl"


def test_the_open_assistant_trees_preview_the_rankings_and_comparisons_the_import_then_creates(
    project, admin_user, celery_eager, committed
):
    project.prompts.all().delete()
    content = (shipped_data_dir() / "oasst_en100" / "en_100_tree.jsonl").read_bytes()
    client = logged_in(admin_user)
    committed(upload, client, project, "en_100_tree.jsonl", content)
    job = ImportJob.objects.get()
    assert job.format == "oasst" and job.preview["rankings"] == 212 and job.preview["comparisons"] == 754
    assert job.preview["completion_range_set"] == [2, 9]
    assert any(completion["rank"] is not None for completion in job.preview["records"][0]["completions"])
    committed(import_jobs.import_job_start, job=job)
    job.refresh_from_db()
    assert job.state == "done" and job.result["rankings_created"] == 212 and job.result["comparisons_created"] == 754
    assert Ranking.objects.filter(prompt__project=project).count() == 212


def test_the_anthropic_pairs_preview_counts_the_pairs_the_importer_skips(project, admin_user, celery_eager, committed):
    project.prompts.all().delete()
    content = (shipped_data_dir() / "hh_rlhf" / "helpful-base-test.jsonl.gz").read_bytes()
    committed(upload, logged_in(admin_user), project, "helpful-base-test.jsonl.gz", content)
    job = ImportJob.objects.get()
    assert job.state == "checked" and job.format == "pairs"
    assert job.preview["empty_pairs_skipped"] == 4
    assert job.preview["prompts_new"] == job.preview["rankings"] == job.preview["comparisons"]
    assert Prompt.objects.count() == 0


def test_a_second_delivery_of_either_task_does_nothing(project, admin_user, celery_eager, committed):
    committed(upload, logged_in(admin_user), project, "a.jsonl", jsonl(records(3)))
    job = ImportJob.objects.get()
    assert import_jobs.import_job_check(job_id=job.pk) is None  # already checked
    committed(import_jobs.import_job_start, job=job)
    assert import_jobs.import_job_run(job_id=job.pk) is None  # already done
    assert Completion.objects.filter(prompt__project=project).count() == 12


def test_a_job_whose_worker_died_is_taken_again_by_the_redelivered_task(project, admin_user, celery_eager, committed):
    from datetime import timedelta

    from django.utils import timezone

    committed(upload, logged_in(admin_user), project, "a.jsonl", jsonl(records(3)))
    job = ImportJob.objects.get()
    # The import was claimed by a worker that then died: the row says "importing", held, silent.
    ImportJob.objects.filter(pk=job.pk).update(state="importing", claimed_at=timezone.now())
    assert import_jobs.import_job_run(job_id=job.pk) is None  # held by a live worker (as far as we know)
    page = logged_in(admin_user).get(f"/projects/{project.pk}/imports/{job.pk}/").content.decode()
    assert "Writing…" in page and "import-stale" not in page
    silent = timezone.now() - timedelta(seconds=import_jobs.STALE_SECONDS + 1)
    ImportJob.objects.filter(pk=job.pk).update(updated_at=silent)
    page = logged_in(admin_user).get(f"/projects/{project.pk}/imports/{job.pk}/").content.decode()
    assert "No word from the worker for over two minutes" in page
    assert import_jobs.import_job_run(job_id=job.pk).state == "done"
    assert Prompt.objects.filter(project=project).count() == 3


def test_cancelling_after_the_preview_drops_the_file_and_imports_nothing(
    project, admin_user, celery_eager, uploads_in_tmp, committed
):
    client = logged_in(admin_user)
    committed(upload, client, project, "a.jsonl", jsonl(records(3)))
    job = ImportJob.objects.get()
    response = client.post(f"/projects/{project.pk}/imports/{job.pk}/action/", {"action": "cancel"})
    assert response["Location"] == f"/projects/{project.pk}/import/"
    assert ImportJob.objects.get().state == "cancelled" and Prompt.objects.count() == 0
    assert list(uploads_in_tmp.iterdir()) == []


def test_the_upload_form_says_what_is_wrong_beside_the_field(project, admin_user, settings, committed):
    client = logged_in(admin_user)
    response = client.post(f"/projects/{project.pk}/import/", {"format": ""})
    assert response.context["form"].errors["file"] == ["This field is required."]
    response = committed(upload, client, project, "a.jsonl", b"", format="")
    assert response.context["form"].errors["file"] == ["The submitted file is empty."]
    response = committed(upload, client, project, "a.jsonl", b"{}", format="xml")
    assert "Select a valid choice." in response.context["form"].errors["format"][0]
    settings.IMPORT_UPLOAD_MAX_BYTES = 10
    content = jsonl(records(1))
    response = committed(upload, client, project, "a.jsonl", content)
    assert response.context["form"].errors["file"] == [f"the file is {len(content)} bytes; the limit is 10"]
    assert ImportJob.objects.count() == 0


def test_the_service_reports_progress_while_checking_and_writing(project, tmp_path, monkeypatch):
    from annotate.services import imports

    monkeypatch.setattr(imports, "PROGRESS_EVERY", 10)
    monkeypatch.setattr(imports, "CHUNK_PROMPTS", 20)
    path = Path(tmp_path) / "many.jsonl"
    path.write_bytes(jsonl(records(45)))
    seen: list[tuple[str, int, int | None]] = []
    prompts_import(project=project, source=str(path), progress=lambda *point: seen.append(point))
    assert seen == [
        ("checking", 10, None),
        ("checking", 20, None),
        ("checking", 30, None),
        ("checking", 40, None),
        ("writing", 20, 45),
        ("writing", 40, 45),
        ("writing", 45, 45),
    ]


@pytest.mark.django_db(transaction=True)
def test_progress_is_written_from_its_own_thread_while_the_step_lasts_and_never_after(project, tmp_path):
    import time

    from django.utils import timezone

    job = ImportJob.objects.create(
        project=project, file_name="a.jsonl", file_size=100, state="importing", claimed_at=timezone.now()
    )
    reader = import_jobs._UploadReader(job)
    with import_jobs._ProgressWriter(job, "writing", reader) as progress:
        progress("writing", 20, 80)
        deadline = time.monotonic() + 10
        while ImportJob.objects.get().progress.get("done") != 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ImportJob.objects.get().progress == {"phase": "writing", "done": 20, "total": 80, "fraction": 0.25}
        ImportJob.objects.filter(pk=job.pk).update(state="done", progress={"fraction": 1.0})
        progress("writing", 40, 80)
        time.sleep(3 * import_jobs.PROGRESS_WRITE_SECONDS)
    assert ImportJob.objects.get().progress == {"fraction": 1.0}  # the finished job keeps its figures
