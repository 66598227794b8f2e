"""The ranking page against a hostile project, at 1280x800 and on a 390x844 phone.

Completions are untrusted Markdown: the page renders it sanitised (markdown-it with raw HTML off,
then DOMPurify), so no dialog ever opens and nothing runs; no box leaves its column; Arabic reads
right to left; a long ranked reply expands in place; the next task starts at the top; the first
reply of a real Open Assistant task shows without scrolling; a phone gets 44 px targets, a sticky
Submit and a drag that follows a finger.
"""

from __future__ import annotations

import pytest

from annotate.management.commands.seed_demo import DEMO_DATA, DEMO_INSTRUCTIONS
from annotate.models import Completion, Project, Prompt, Ranking
from annotate.services.imports import prompts_import
from tests.browser.test_rank_page import open_rank_page, screenshot, shown_ids, wait_for_next_task

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844, "has_touch": True, "is_mobile": True}

TABLE_AND_CODE = (
    "Here is a **comparison** with `inline code`:\n\n"
    "| Language | Typing | Released |\n|---|---|---|\n| Python | dynamic | 1991 |\n| Rust | static | 2015 |\n\n"
    "```python\n" + "x = 1  # " + "a very long line that must scroll inside its own box " * 8 + "\n```\n\n"
    "- one\n- two\n\n[docs](https://example.com/docs) and [bad](javascript:alert(1))"
)
ARABIC = "مرحبا بالعالم. هذه إجابة طويلة باللغة العربية، وتنتهي بنقطة."
HOSTILE = [
    "<script>alert('script')</script> plain words after",
    '<img src="x" onerror="alert(\'img\')"> and <svg onload="alert(1)"></svg>',
    TABLE_AND_CODE,
    ARABIC,
    "Long: " + ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 110)[:6000],
    'Emoji 🎉👩‍👩‍👧‍👦🚀 and <details open ontoggle="alert(2)">x</details> <a href="javascript:alert(3)">link</a>',
    "Unbroken: " + "x" * 800,
]


def hostile_project(ranker, *, prompts: int = 2, render_markdown: bool = True) -> Project:
    project = Project.objects.create(
        name="Hostile project",
        instructions="Rank the replies. <script>alert('instructions')</script> **Be careful.**",
        allow_ties=True,
        min_completions=2,
        max_completions=9,
        render_markdown=render_markdown,
    )
    project.annotators.add(ranker)
    for number in range(prompts):
        prompt = Prompt.objects.create(
            project=project,
            text=f"Prompt {number}: <img src=x onerror=alert('prompt')> which reply is best? 👀",
            context=[{"role": "user", "text": ARABIC}, {"role": "assistant", "text": "<script>alert('ctx')</script>"}],
        )
        Completion.objects.bulk_create(
            Completion(prompt=prompt, text=text, position=position) for position, text in enumerate(HOSTILE)
        )
    return project


def watch_dialogs(page) -> list[str]:
    dialogs: list[str] = []

    def on_dialog(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return dialogs


# Every box that must stay inside the column it sits in, as [selector, column, left, right]
# for each offender (1 px of rounding allowed), and the page's scroll width.
OVERFLOW_JS = """() => {
    const columns = [...document.querySelectorAll(
        '.pool-col, .ranking-col, .ranking-panel, .prompt-card, .instructions')];
    const boxes = '.completion, .completion-head button, .rich, .rich pre, .rich .table-wrap, .rich p, .action-bar';
    const offenders = [];
    for (const column of columns) {
        const outer = column.getBoundingClientRect();
        for (const node of column.querySelectorAll(boxes)) {
            const box = node.getBoundingClientRect();
            if (!box.width) continue;
            if (node.classList.contains('action-bar') && getComputedStyle(node).position === 'fixed') continue;
            if (box.left < outer.left - 1 || box.right > outer.right + 1) {
                const name = node.tagName + '.' + node.className;
                offenders.push([name, column.className, box.left, box.right, outer.right]);
            }
        }
    }
    return {offenders, scrollWidth: document.documentElement.scrollWidth};
}"""


def assert_nothing_overflows(page, width: int) -> None:
    found = page.evaluate(OVERFLOW_JS)
    assert found["offenders"] == []
    assert found["scrollWidth"] <= width


def card(page, completion_id: int):
    return page.locator(f'.completion[data-id="{completion_id}"]')


def label_of(ids: list[int], text_start: str) -> str:
    """The key that ranks the shown reply whose text starts with text_start."""
    texts = dict(Completion.objects.filter(pk__in=ids).values_list("pk", "text"))
    return str(next(number for number, pk in enumerate(ids, 1) if texts[pk].startswith(text_start)))


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_hostile_project_renders_as_text_and_markdown_and_stays_in_its_columns(
    page_as, live_server, ranker, viewport
):
    project = hostile_project(ranker)
    page = page_as(ranker, **viewport)
    dialogs = watch_dialogs(page)
    page.goto(f"{live_server.url}/projects/{project.pk}/rank/")
    page.wait_for_selector('#workspace[data-state="ready"]')
    ids = shown_ids(page)
    name = "desktop" if viewport is DESKTOP else "phone"
    screenshot(page, f"hostile-{name}-start")

    # Raw HTML shows as text; nothing from a completion became an element that could run.
    assert "<script>alert('script')</script> plain words after" in page.inner_text("#pool")
    assert "onerror" in page.inner_text("#prompt") and "<script>" in page.inner_text("#instructions")
    assert page.locator("main img, main svg, main iframe, main script:not(#rank-data), main [onerror]").count() == 0
    assert page.locator(".rich details, .rich [ontoggle]").count() == 0
    # Markdown: emphasis, inline code, a table, a list, fenced code, links that open safely.
    table_card = card(page, ids[int(label_of(ids, "Here is")) - 1])
    assert table_card.locator("strong").inner_text() == "comparison"
    assert table_card.locator(".table-wrap table th").count() == 3
    assert table_card.locator("td").count() == 6
    assert table_card.locator("ul li").count() == 2
    assert table_card.locator("pre.code code").inner_text().startswith("x = 1")
    link = table_card.locator('a:has-text("docs")')
    assert link.get_attribute("href") == "https://example.com/docs"
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert link.get_attribute("target") == "_blank"
    assert page.locator('.rich a[href^="javascript"]').count() == 0
    assert page.locator("#instructions strong").inner_text() == "Be careful."
    # Right-to-left text reads right to left, in the context and in a reply.
    arabic = card(page, ids[int(label_of(ids, "مرحبا")) - 1]).locator(".completion-text p")
    assert arabic.get_attribute("dir") == "auto"
    assert arabic.evaluate("node => getComputedStyle(node).direction") == "rtl"
    assert page.locator("#context p").first.evaluate("node => getComputedStyle(node).direction") == "rtl"
    assert page.locator(".rich:not([dir='auto'])").count() == 0
    assert_nothing_overflows(page, viewport["width"])

    # Rank the table, the unbroken line, the long reply and the Arabic one: their boxes stay
    # inside the (narrower) ranking column, and so do their buttons.
    for start in ["Here is", "Unbroken", "Long:", "مرحبا"]:
        page.keyboard.press(label_of(ids, start))
    screenshot(page, f"hostile-{name}-ranked")
    assert_nothing_overflows(page, viewport["width"])
    # Submit stays reachable without scrolling.
    submit = page.locator("#submit").bounding_box()
    assert submit["y"] >= 0 and submit["y"] + submit["height"] <= viewport["height"]

    for start in ["<script>", "<img", "Emoji"]:
        page.keyboard.press(label_of(ids, start))
    assert_nothing_overflows(page, viewport["width"])
    first = page.get_attribute("#workspace", "data-assignment")
    page.keyboard.press("Enter")
    wait_for_next_task(page, first)
    assert Ranking.objects.count() == 1
    assert dialogs == []
    assert page.errors == []


def test_a_long_ranked_reply_expands_in_place(page_as, live_server, ranker):
    project = hostile_project(ranker, prompts=1)
    page = open_rank_page(page_as, live_server, ranker, project)
    ids = shown_ids(page)
    page.keyboard.press(label_of(ids, "Long:"))
    long_card = card(page, ids[int(label_of(ids, "Long:")) - 1])
    text = long_card.locator(".completion-text")
    collapsed = text.bounding_box()["height"]
    assert collapsed < 150  # a ranked reply is compact...
    long_card.locator(".expand").click()  # ...until asked
    expanded = text.bounding_box()["height"]
    assert expanded > 1000 and expanded >= text.evaluate("node => node.scrollHeight") - 1
    assert long_card.locator(".expand").inner_text() == "Show less"
    long_card.locator(".expand").click()
    assert text.bounding_box()["height"] == collapsed
    # A short ranked reply has nothing to expand.
    page.keyboard.press(label_of(ids, "مرحبا"))
    assert card(page, ids[int(label_of(ids, "مرحبا")) - 1]).locator(".expand").is_hidden()
    assert page.errors == []


def test_plain_text_projects_show_markdown_as_written(page_as, live_server, ranker):
    project = hostile_project(ranker, prompts=1, render_markdown=False)
    page = open_rank_page(page_as, live_server, ranker, project)
    ids = shown_ids(page)
    table_card = card(page, ids[int(label_of(ids, "Here is")) - 1])
    assert "Here is a **comparison** with `inline code`:" in table_card.inner_text()
    assert table_card.locator("strong, table, pre, a").count() == 0
    assert page.locator("#instructions strong").count() == 1  # instructions are staff Markdown either way
    assert page.errors == []


def test_the_next_task_starts_at_the_top_and_instructions_fold_once_read(page_as, live_server, ranker):
    project = hostile_project(ranker, prompts=3)
    Prompt.objects.update(context=[{"role": "user", "text": "An earlier question. " * 40}])
    page = page_as(ranker, **PHONE)  # where the ranked replies make a long page
    page.goto(f"{live_server.url}/projects/{project.pk}/rank/")
    page.wait_for_selector('#workspace[data-state="ready"]')
    assert page.locator("#instructions-box").evaluate("node => node.open") is True  # a first visit
    for number in range(1, len(HOSTILE) + 1):
        page.keyboard.press(str(number))
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    assert page.evaluate("window.scrollY") > 1000
    first = page.get_attribute("#workspace", "data-assignment")
    page.keyboard.press("Enter")
    wait_for_next_task(page, first)
    assert page.evaluate("window.scrollY") == 0
    assert page.evaluate("document.querySelector('.ranking-panel').scrollTop") == 0
    assert page.locator("#instructions-box").evaluate("node => node.open") is False

    # Remembered for this project: a new page keeps them folded.
    page.reload()
    page.wait_for_selector('#workspace[data-state="ready"]')
    assert page.locator("#instructions-box").evaluate("node => node.open") is False
    # Long context starts folded too, and opens on demand.
    assert page.locator("#context-box").evaluate("node => node.open") is False
    page.click("#context-summary")
    assert page.locator("#context").is_visible()
    assert page.errors == []


def test_the_first_reply_of_real_tasks_shows_without_scrolling_at_1280x800(page_as, live_server, ranker):
    project = Project.objects.create(name="Open Assistant", instructions=DEMO_INSTRUCTIONS, allow_ties=True)
    project.annotators.add(ranker)
    prompts_import(project=project, source=DEMO_DATA, format="oasst")
    page = page_as(ranker, **DESKTOP)
    page.goto(f"{live_server.url}/projects/{project.pk}/rank/")
    page.wait_for_selector('#workspace[data-state="ready"]')
    screenshot(page, "oasst-desktop")
    tops = []
    for _ in range(8):
        tops.append(page.locator("#pool .completion-text").first.bounding_box()["y"])
        submit = page.locator("#submit").bounding_box()
        assert submit["y"] + submit["height"] <= DESKTOP["height"]
        assert_nothing_overflows(page, DESKTOP["width"])
        for number in range(1, page.locator("#pool .completion").count() + 1):
            page.keyboard.press(str(number))
        first = page.get_attribute("#workspace", "data-assignment")
        page.keyboard.press("Enter")
        wait_for_next_task(page, first)
    # The first reply's text starts in the top 600 px on every task (the instructions open on the first).
    assert max(tops) < 600, tops
    assert page.errors == []


def test_a_phone_gets_big_targets_few_chips_and_a_finger_drag(page_as, live_server, ranker):
    project = hostile_project(ranker, prompts=1)
    Completion.objects.filter(position__gte=3).delete()  # three short-ish replies
    Completion.objects.filter(position=2).update(text="A short reply.")
    page = page_as(ranker, **PHONE)
    page.goto(f"{live_server.url}/projects/{project.pk}/rank/")
    page.wait_for_selector('#workspace[data-state="ready"]')
    ids = shown_ids(page)

    page.keyboard.press("1")
    # Every visible control is at least 44 px each way.
    small = page.evaluate(
        """() => [...document.querySelectorAll('main button, main summary, .drag-handle')]
            .filter((node) => node.getClientRects().length)
            .map((node) => [node.textContent.trim(), node.getBoundingClientRect()])
            .filter(([, box]) => box.width < 44 || box.height < 44)"""
    )
    assert small == []
    # A card shows only its chosen flags; the rest open behind "Flag…".
    ranked = card(page, ids[0])
    assert ranked.locator(".flag:visible").count() == 0
    ranked.locator(".flag-toggle").tap()
    ranked.locator('.flag[data-flag="incorrect"]').tap()
    ranked.locator(".flag-toggle").tap()
    assert ranked.locator(".flag:visible").all_inner_texts() == ["incorrect"]
    # Submit sits in a bar fixed at the bottom of the screen.
    submit = page.locator("#submit").bounding_box()
    assert submit["y"] + submit["height"] <= PHONE["height"] and submit["y"] > PHONE["height"] - 120

    # A finger drags the last reply in the pool into first place in the ranking.
    last = page.locator("#pool .completion").last
    last_id = int(last.get_attribute("data-id"))
    page.locator("#ranking .group").first.scroll_into_view_if_needed()
    handle = last.locator(".drag-handle").bounding_box()
    target = page.locator("#ranking .group").first.bounding_box()
    assert handle["y"] > 0 and target["y"] + 4 < PHONE["height"] - 100  # both on screen
    cdp = page.context.new_cdp_session(page)
    start = {"x": handle["x"] + handle["width"] / 2, "y": handle["y"] + handle["height"] / 2}
    end = {"x": target["x"] + target["width"] / 2, "y": target["y"] + 4}
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [start]})
    for step in range(1, 6):
        point = {axis: start[axis] + (end[axis] - start[axis]) * step / 5 for axis in ("x", "y")}
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    page.wait_for_function(
        "id => document.querySelector('#ranking .group .completion').dataset.id === String(id)", arg=last_id
    )

    page.keyboard.press([str(number) for number, pk in enumerate(ids, 1) if pk not in (ids[0], last_id)][0])
    page.locator("#submit").tap()
    page.wait_for_selector('#workspace[data-state="done"]')
    ranking = Ranking.objects.get()
    assert ranking.order[0] == [last_id] and ranking.order[1] == [ids[0]]
    assert ranking.flags == {str(ids[0]): ["incorrect"]}
    assert page.errors == []
