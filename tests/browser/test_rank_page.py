"""The ranking page in a real browser: keyboard only, mouse only, a forbidden tie, hostile text.

Each test checks what landed in the database. Set SCREENSHOT_DIR to keep screenshots.
"""

from __future__ import annotations

import os

import pytest

from annotate.models import Assignment, Completion, Project, Prompt, Ranking

pytestmark = pytest.mark.django_db(transaction=True)

CODE_REPLY = "Use a loop:\n\n```python\nfor i in range(3):\n    print(i)\n```\nDone."


def make_project(ranker, *, allow_ties: bool, prompts: int = 2, texts: list[str] | None = None) -> Project:
    project = Project.objects.create(
        name="Browser project",
        instructions="Rank the replies, best first.\nFlag anything unsafe.",
        allow_ties=allow_ties,
        min_completions=2,
    )
    project.annotators.add(ranker)
    texts = texts or ["A short reply.", CODE_REPLY, "A long reply.\n" + "More detail. " * 300, "Meh."]
    for number in range(prompts):
        prompt = Prompt.objects.create(
            project=project,
            text=f"Question {number}: how do I print 0, 1, 2 in Python?",
            context=[{"role": "user", "text": "Hi!"}, {"role": "assistant", "text": "Hello, how can I help?"}],
        )
        Completion.objects.bulk_create(
            Completion(prompt=prompt, text=text, position=position) for position, text in enumerate(texts)
        )
    return project


def open_rank_page(page_as, live_server, ranker, project, width: int = 1280):
    page = page_as(ranker, width=width)
    page.goto(f"{live_server.url}/projects/{project.pk}/rank/")
    page.wait_for_selector('#workspace[data-state="ready"]')
    return page


def shown_ids(page) -> list[int]:
    assignment = Assignment.objects.get(pk=int(page.get_attribute("#workspace", "data-assignment")))
    return assignment.shown_order


def wait_for_next_task(page, previous_assignment: str) -> None:
    page.wait_for_function(
        "previous => document.getElementById('workspace').dataset.assignment !== previous "
        "|| document.getElementById('workspace').dataset.state === 'done'",
        arg=previous_assignment,
    )


def screenshot(page, name: str) -> None:
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def test_it_ranks_a_task_by_keyboard_only(page_as, live_server, ranker):
    project = make_project(ranker, allow_ties=True)
    page = open_rank_page(page_as, live_server, ranker, project)
    ids = shown_ids(page)
    first_assignment = page.get_attribute("#workspace", "data-assignment")
    page.evaluate("window.__sameDocument = true")
    screenshot(page, "rank-desktop-start")

    # 3 best, then 2 (undone), then 1 tied with 3, then 4, then 2.
    for key in ["3", "2", "u", "t", "1", "4"]:
        page.keyboard.press(key)
    screenshot(page, "rank-desktop-ranked")
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    wait_for_next_task(page, first_assignment)

    ranking = Ranking.objects.get()
    assert ranking.order == [[ids[2], ids[0]], [ids[3]], [ids[1]]]
    assert ranking.assignment_id == int(first_assignment)
    assert ranking.seconds is not None and ranking.seconds > 0
    assert page.evaluate("window.__sameDocument") is True  # the next task came without a reload
    assert page.get_attribute("#workspace", "data-assignment") != first_assignment
    assert "1" in page.inner_text("#progress")
    assert page.errors == []


def test_it_ranks_a_task_by_mouse(page_as, live_server, ranker):
    project = make_project(ranker, allow_ties=False, texts=["Alpha reply.", "Beta reply.", "Gamma reply."])
    page = open_rank_page(page_as, live_server, ranker, project)
    ids = shown_ids(page)
    card = {number: page.locator(f'.completion[data-id="{ids[number - 1]}"]') for number in (1, 2, 3)}

    card[2].locator(".completion-head").drag_to(page.locator("#ranking-empty"))  # 2 is best so far
    card[3].locator(".best-next").click()  # then 3
    # 1 dropped above the first place: it becomes the best.
    card[1].locator(".completion-head").drag_to(
        page.locator("#ranking .group").first, target_position={"x": 20, "y": 4}
    )
    card[3].hover()  # a ranked reply shows its flag buttons on hover
    card[3].locator('.flag[data-flag="unsafe"]').click()
    page.fill("#comment", "Gamma is rude.")
    page.click("#submit")
    page.wait_for_selector('#workspace[data-state="ready"]')
    page.wait_for_function("document.getElementById('status').textContent === ''")

    ranking = Ranking.objects.get()
    assert ranking.order == [[ids[0]], [ids[1]], [ids[2]]]
    assert ranking.flags == {str(ids[2]): ["unsafe"]}
    assert ranking.comment == "Gamma is rude."
    assert {entry.completion_id: entry.flags for entry in ranking.entries.all()} == {
        ids[0]: [],
        ids[1]: [],
        ids[2]: ["unsafe"],
    }
    assert page.errors == []


def test_a_tie_is_refused_where_the_project_forbids_ties(page_as, live_server, ranker):
    project = make_project(ranker, allow_ties=False, texts=["One.", "Two.", "Three."])
    page = open_rank_page(page_as, live_server, ranker, project)
    ids = shown_ids(page)
    first_assignment = page.get_attribute("#workspace", "data-assignment")

    page.keyboard.press("1")
    page.keyboard.press("t")
    assert "does not allow ties" in page.inner_text("#error")
    assert page.locator(".tie-above:visible").count() == 0  # no tie button either
    for key in ["2", "3", "Enter"]:
        page.keyboard.press(key)
    wait_for_next_task(page, first_assignment)
    assert Ranking.objects.get().order == [[ids[0]], [ids[1]], [ids[2]]]

    # A hand-made request with a tie is refused by the server, and writes nothing.
    second = shown_ids(page)
    answer = page.evaluate(
        """async ([url, order]) => {
            const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const response = await fetch(url, {method: "POST", body: JSON.stringify({order}),
                headers: {"Content-Type": "application/json", "X-CSRFToken": token}});
            return [response.status, (await response.json()).detail];
        }""",
        [
            f"/api/v1/assignments/{page.get_attribute('#workspace', 'data-assignment')}/ranking",
            [[second[0], second[1]], [second[2]]],
        ],
    )
    assert answer[0] == 400 and "does not allow ties" in answer[1]
    assert Ranking.objects.count() == 1

    # Skip by keyboard, with a reason: s, type, Enter.
    second_assignment = page.get_attribute("#workspace", "data-assignment")
    page.keyboard.press("s")
    page.keyboard.type("not English")
    page.keyboard.press("Enter")
    page.wait_for_selector('#workspace[data-state="done"]')
    skipped = Assignment.objects.get(pk=int(second_assignment))
    assert (skipped.state, skipped.skip_reason) == ("skipped", "not English")
    assert page.errors == []


def test_hostile_text_shows_as_text_and_runs_nothing(page_as, live_server, ranker):
    hostile = [
        "<script>window.__pwned = 'script'</script>",
        '<img src="x" onerror="window.__pwned = \'img\'">',
        CODE_REPLY,
    ]
    project = make_project(ranker, allow_ties=False, prompts=1, texts=hostile)
    Prompt.objects.update(text="<img src=y onerror=\"window.__pwned='prompt'\"> Which is best?")
    project.instructions = "<script>window.__pwned = 'instructions'</script>"
    project.save()
    page = open_rank_page(page_as, live_server, ranker, project, width=390)
    ids = shown_ids(page)
    screenshot(page, "rank-phone")

    assert page.evaluate("window.__pwned") is None
    assert page.locator("main img").count() == 0
    assert page.locator("main script:not(#rank-data)").count() == 0
    assert "<script>window.__pwned = 'script'</script>" in page.inner_text("#pool")
    assert "onerror" in page.inner_text("#prompt")
    assert page.inner_text(".completion-text pre code").rstrip("\n") == "for i in range(3):\n    print(i)"
    # At phone width nothing is wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    for key in ["3", "1"]:
        page.keyboard.press(key)
    screenshot(page, "rank-phone-ranked")
    for key in ["2", "Enter"]:
        page.keyboard.press(key)
    page.wait_for_selector('#workspace[data-state="done"]')
    assert Ranking.objects.get().order == [[ids[2]], [ids[0]], [ids[1]]]
    assert page.evaluate("window.__pwned") is None
    assert page.errors == []
