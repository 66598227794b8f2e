"""The admin's workspace in a real browser: create a project, upload a file and follow its import to
the end, add and create members, browse prompts, sort the annotators table. Hostile text (script tags,
onerror images, right-to-left, emoji, a 6,000-character reply) shows as text, no dialog fires, and
nothing overflows its card at 1280x800 or 390x844.
"""

from __future__ import annotations

import gzip
import json

import pytest

from annotate.models import ImportJob, Project, Prompt
from tests.browser.test_rank_layout import ARABIC, DESKTOP, HOSTILE, PHONE, watch_dialogs
from tests.browser.test_rank_page import screenshot
from tests.rewardtrain.ranking_factory import annotators, rank

pytestmark = pytest.mark.django_db(transaction=True)
HOSTILE_NAME = "<img src=x onerror=alert('name')> Projet مرحبا 🎉"

# Every card's boxes must stay inside it; what sits in a box that scrolls (a table, a code block)
# is checked through that box.
OVERFLOW_JS = """() => {
    const scrolls = (node) => ['auto', 'scroll', 'hidden'].includes(getComputedStyle(node).overflowX);
    const offenders = [];
    for (const card of document.querySelectorAll('main .card, main .page-head')) {
        const outer = card.getBoundingClientRect();
        for (const node of card.querySelectorAll('*')) {
            let inside = false;
            for (let up = node.parentElement; up && up !== card; up = up.parentElement) {
                if (scrolls(up)) { inside = true; break; }
            }
            if (inside) continue;
            const box = node.getBoundingClientRect();
            if (!box.width || getComputedStyle(node).position === 'fixed') continue;
            if (box.left < outer.left - 1 || box.right > outer.right + 1) {
                offenders.push([node.tagName + '.' + node.className, box.left, box.right, outer.right]);
            }
        }
    }
    return {offenders: offenders.slice(0, 5), scrollWidth: document.documentElement.scrollWidth};
}"""


def assert_nothing_overflows(page, width: int) -> None:
    found = page.evaluate(OVERFLOW_JS)
    assert found["offenders"] == []
    assert found["scrollWidth"] <= width


@pytest.fixture
def staff(transactional_db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("boss", password="boss-pass-123", is_staff=True)


@pytest.fixture
def import_worker(settings, tmp_path):
    """Import jobs run by a real Celery worker thread on the broker when REDIS_URL is set (the page
    follows a job that runs elsewhere); without a broker they run in-process, as the default does."""
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    from config.celery import app

    if not settings.REDIS_URL:
        previous = app.conf.task_always_eager
        app.conf.task_always_eager = True
        yield None
        app.conf.task_always_eager = previous
        return
    from celery.contrib.testing.worker import start_worker

    with start_worker(app, pool="solo", perform_ping_check=False, queues=["default"], shutdown_timeout=10):
        yield app


def hostile_records(count: int) -> bytes:
    lines = []
    for number in range(count):
        lines.append(
            json.dumps(
                {
                    "id": f"h{number}",
                    "prompt": f"{number}: <script>alert('prompt')</script> {ARABIC} 🚀",
                    "context": [{"role": "user", "text": "<img src=x onerror=alert('ctx')>"}],
                    "completions": HOSTILE[:4] if number % 2 else [HOSTILE[4], HOSTILE[5], HOSTILE[6], "Fine."],
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


def test_it_creates_a_project_with_field_messages_beside_bad_fields(page_as, live_server, staff):
    page = page_as(staff, **{"width": DESKTOP["width"], "height": DESKTOP["height"]})
    dialogs = watch_dialogs(page)
    page.goto(f"{live_server.url}/")
    page.click("text=New project")
    page.fill("#id_name", HOSTILE_NAME)
    page.fill("#id_instructions", "Rank **best** first. <script>alert('instructions')</script>")
    page.click("#instructions-preview-toggle")
    assert page.inner_text("#instructions-preview strong") == "best"  # Markdown rendered, script shown as text
    assert "<script>" in page.inner_text("#instructions-preview")
    page.fill("#id_min_completions", "7")
    page.fill("#id_max_completions", "5")
    page.click("button[type=submit].primary")
    assert page.inner_text("#id_min_completions-errors") == "must not exceed max_completions (7 > 5)"
    assert Project.objects.count() == 0
    page.fill("#id_min_completions", "2")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/import/")
    project = Project.objects.get()
    assert project.name == HOSTILE_NAME and (project.min_completions, project.max_completions) == (2, 5)
    assert page.inner_text(".page-head h1").startswith("<img src=x")
    assert page.locator("img").count() == 0 and dialogs == [] and page.errors == []


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_an_upload_is_previewed_then_imported_while_the_page_follows_it(
    page_as, live_server, staff, import_worker, viewport, tmp_path
):
    project = Project.objects.create(name=HOSTILE_NAME, min_completions=2)
    path = tmp_path / "hostile.jsonl.gz"
    path.write_bytes(gzip.compress(hostile_records(400)))
    page = page_as(staff, **viewport)
    dialogs = watch_dialogs(page)
    page.goto(f"{live_server.url}/projects/{project.pk}/import/")
    page.set_input_files("#id_file", str(path))
    page.click("text=Upload and check")
    page.wait_for_selector('#import-job[data-state="checked"]', timeout=60_000)  # import.js reloads on change
    assert page.inner_text("#import-preview-counts").split()[:3] == ["new", "prompts", "400"]
    assert "<script>alert('prompt')</script>" in page.inner_text(".preview-records")
    assert Prompt.objects.count() == 0
    assert_nothing_overflows(page, viewport["width"])
    screenshot(page, f"import-preview-{viewport['width']}")
    page.click("#import-start")
    page.wait_for_selector('#import-job[data-state="done"]', timeout=120_000)
    assert page.inner_text("#import-result").startswith("400 prompts created")
    assert Prompt.objects.filter(project=project).count() == 400
    job = ImportJob.objects.get()
    assert job.state == "done" and job.progress["fraction"] == 1.0
    assert page.locator("img").count() == 0 and dialogs == [] and page.errors == []


def test_a_file_dropped_on_the_upload_card_is_uploaded(page_as, live_server, staff, import_worker):
    project = Project.objects.create(name="Dropped", min_completions=2)
    page = page_as(staff)
    page.goto(f"{live_server.url}/projects/{project.pk}/import/")
    page.evaluate(
        """text => {
            const files = new DataTransfer();
            files.items.add(new File([text], "dropped.jsonl", {type: "application/json"}));
            const form = document.getElementById("upload-form");
            form.dispatchEvent(new DragEvent("dragover", {dataTransfer: files, bubbles: true, cancelable: true}));
            form.dispatchEvent(new DragEvent("drop", {dataTransfer: files, bubbles: true, cancelable: true}));
        }""",
        hostile_records(3).decode(),
    )
    assert page.inner_text("#upload-chosen") == "Chosen: dropped.jsonl"
    page.click("text=Upload and check")
    page.wait_for_selector('#import-job[data-state="checked"]', timeout=60_000)
    assert ImportJob.objects.get().file_name == "dropped.jsonl"
    assert page.errors == []


def test_a_bad_upload_names_its_line_and_field(page_as, live_server, staff, import_worker, tmp_path):
    project = Project.objects.create(name="Strict", min_completions=4)
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"prompt": "ok", "completions": ["a", "b", "c", "d"]}\n{"prompt": "short", "completions": ["a"]}\n'
    )
    page = page_as(staff)
    page.goto(f"{live_server.url}/projects/{project.pk}/import/")
    page.set_input_files("#id_file", str(path))
    page.click("text=Upload and check")
    page.wait_for_selector('#import-job[data-state="failed"]', timeout=60_000)
    assert page.inner_text("#import-error") == "line 2: completions: 1 given; this project takes 4 to 9 per prompt"
    assert Prompt.objects.count() == 0


def test_members_are_added_and_created_and_listed(page_as, live_server, staff):
    from django.contrib.auth import get_user_model

    project = Project.objects.create(name="Team")
    get_user_model().objects.create_user("<b>existing</b>", password="x-pass-12345")
    page = page_as(staff, width=PHONE["width"], height=PHONE["height"])
    dialogs = watch_dialogs(page)
    page.goto(f"{live_server.url}/projects/{project.pk}/members/")
    page.fill("#id_add-username", "ghost")
    page.click("#member-add button[type=submit]")
    assert page.inner_text("#id_add-username-errors") == "There is no account named “ghost”. Create it below."
    page.fill("#id_add-username", "<b>existing</b>")
    page.click("#member-add button[type=submit]")
    page.wait_for_selector("#members-table >> text=<b>existing</b>")
    page.fill("#id_create-username", "fresh")
    page.click("#member-create button[type=submit]")
    password = page.inner_text("#new-account-password")
    assert len(password) >= 12
    assert set(project.annotators.values_list("username", flat=True)) == {"<b>existing</b>", "fresh"}
    assert_nothing_overflows(page, PHONE["width"])
    screenshot(page, "members-390")
    assert dialogs == [] and page.errors == []


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_prompt_browser_and_a_prompt_with_its_rankings(page_as, live_server, staff, viewport):
    project = Project.objects.create(name=HOSTILE_NAME, min_completions=2, max_completions=9)
    raters = annotators(3, prefix="rater-مرحبا-")
    prompt = Prompt.objects.create(project=project, text="<img src=x onerror=alert('p')> Which? 👀 " + ARABIC)
    from annotate.models import Completion

    Completion.objects.bulk_create(Completion(prompt=prompt, text=text, position=n) for n, text in enumerate(HOSTILE))
    other = Prompt.objects.create(project=project, text="A calm prompt")
    Completion.objects.bulk_create(Completion(prompt=other, text=f"Reply {n}", position=n) for n in range(2))
    order = [[n] for n in range(len(HOSTILE))]
    rank(prompt, raters[0], order)
    rank(prompt, raters[1], order[::-1])
    rank(prompt, raters[2], [[0, 1], *order[2:]])
    page = page_as(staff, **viewport)
    dialogs = watch_dialogs(page)
    page.goto(f"{live_server.url}/projects/{project.pk}/prompts/")
    assert page.inner_text("#prompt-count") == "2 prompts"
    page.fill("#id_q", "calm")
    page.click("#prompt-filters button[type=submit]")
    assert page.inner_text("#prompt-count") == "1 prompt"
    page.select_option("#id_state", "done")
    page.fill("#id_q", "")
    page.click("#prompt-filters button[type=submit]")
    assert page.inner_text("#prompt-count") == "1 prompt"
    assert_nothing_overflows(page, viewport["width"])
    page.click("#prompt-table a")
    page.wait_for_selector("#rankings-table")
    assert page.locator("#rankings-table tbody tr").count() == len(HOSTILE)
    assert page.locator("#rankings-table thead th").count() == 2 + 3
    assert_nothing_overflows(page, viewport["width"])
    screenshot(page, f"prompt-detail-{viewport['width']}")
    assert page.locator("img").count() == 0 and dialogs == [] and page.errors == []


def test_the_annotators_table_sorts_and_a_row_opens_their_rankings(page_as, live_server, staff, make_prompt):
    project = Project.objects.create(name="Sorted", min_completions=2)
    raters = annotators(3)
    prompts = [make_prompt(project, k=3, text=f"Prompt {n}") for n in range(3)]
    for count, rater in zip((2, 3, 1), raters, strict=True):
        for prompt in prompts[:count]:
            rank(prompt, rater, [[0], [1], [2]])
    page = page_as(staff, **{"width": DESKTOP["width"], "height": DESKTOP["height"]})
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    names = "() => [...document.querySelectorAll('#annotators-table tbody tr td:first-child a')].map(c => c.innerText)"
    header = page.locator("#annotators-table th", has_text="Rankings")
    header.click()
    assert page.evaluate(names) == ["rater2", "rater0", "rater1"]
    header.click()
    assert page.evaluate(names) == ["rater1", "rater0", "rater2"]
    assert header.get_attribute("aria-sort") == "descending"
    assert_nothing_overflows(page, DESKTOP["width"])
    page.click("#annotators-table >> text=rater2")
    page.wait_for_url("**/prompts/?annotator=rater2")
    assert page.inner_text("#prompt-count") == "1 prompt"
    assert page.errors == []


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_project_page_of_a_hostile_project_stays_in_its_cards(page_as, live_server, staff, viewport):
    project = Project.objects.create(name=HOSTILE_NAME, min_completions=2, max_completions=9)
    raters = annotators(2, prefix="<img src=x onerror=alert('rater')>")
    prompt = Prompt.objects.create(project=project, text="<script>alert('p')</script> " + "x" * 400)
    from annotate.models import Completion

    Completion.objects.bulk_create(Completion(prompt=prompt, text=text, position=n) for n, text in enumerate(HOSTILE))
    order = [[n] for n in range(len(HOSTILE))]
    rank(prompt, raters[0], order)
    rank(prompt, raters[1], order[::-1])
    page = page_as(staff, **viewport)
    dialogs = watch_dialogs(page)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.wait_for_selector("#plot-agreement rect", state="attached")
    assert page.locator("#overview").bounding_box()["y"] < page.locator("#training").bounding_box()["y"]
    assert_nothing_overflows(page, viewport["width"])
    screenshot(page, f"project-page-{viewport['width']}")
    assert page.locator("img").count() == 0 and dialogs == [] and page.errors == []
