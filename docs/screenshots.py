"""Regenerate the screenshots in docs/screenshots/ from a throwaway copy of the demo.

    .venv/bin/python docs/screenshots.py            # writes docs/screenshots/*.png
    .venv/bin/python docs/screenshots.py --out var/shots

It builds the demo as `make up` does (migrate, seed_demo) in a temporary SQLite database, serves
it on a free local port, and photographs it with the browser tests' tooling: Playwright driving
Debian's /usr/bin/chromium (`make browser`). Nothing of a running instance is touched.

- rank-desktop.png: the ranking page at 1280x800 (what is on screen without scrolling), on the
  first task with 4 or more replies after a submit (the instructions fold after the first
  submit), two replies ranked.
- rank-phone.png: the same page on a 390x844 phone (its screen, Submit fixed at the bottom).
- project.png: the project page as staff at 1280x800, the whole page.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "screenshots-demo"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped (exit {server.returncode})")
        try:
            urllib.request.urlopen(url + "login/", timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server did not answer at {url} within {seconds:.0f} s")


def log_in(browser, url: str, username: str, **context_options):
    context = browser.new_context(**context_options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(url + "login/")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"], input[type="submit"]')
    page.wait_for_load_state("networkidle")
    return page


def rank_page(page, url: str) -> None:
    """Submit tasks until one with at least 4 replies shows (the instructions fold after the
    first submit), then rank its two best."""
    page.goto(url + "projects/1/rank/")
    page.wait_for_selector('#workspace[data-state="ready"]')
    for _ in range(20):
        count = page.locator("#pool .completion").count()
        if count >= 4 and page.evaluate("!document.getElementById('instructions-box').open"):
            break
        for number in range(1, count + 1):
            page.keyboard.press(str(number))
        first = page.get_attribute("#workspace", "data-assignment")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "previous => document.getElementById('workspace').dataset.assignment !== previous", arg=first
        )
        page.wait_for_selector('#workspace[data-state="ready"]')
    page.wait_for_function("document.getElementById('status').textContent === ''")
    for key in ("2", "1"):
        page.keyboard.press(key)
    page.mouse.move(0, 0)


def shoot(out: Path, url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = log_in(browser, url, "annotator1", viewport=DESKTOP)
        rank_page(page, url)
        page.screenshot(path=out / "rank-desktop.png")

        page = log_in(browser, url, "annotator2", viewport=PHONE, is_mobile=True, has_touch=True)
        rank_page(page, url)
        page.screenshot(path=out / "rank-phone.png")  # the screen: a whole-page shot misplaces the fixed bar

        page = log_in(browser, url, "admin", viewport=DESKTOP)
        page.goto(url + "projects/1/")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=out / "project.png", full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"needs Debian's {CHROMIUM}: run `make browser`")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rankforge-shots-") as var_dir:
        env = {
            key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}
        }
        env |= {
            "VAR_DIR": var_dir,
            "DEBUG": "true",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEMO_PASSWORD": PASSWORD,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        manage = [sys.executable, str(ROOT / "manage.py")]
        for command in (["migrate", "--noinput"], ["seed_demo"]):
            subprocess.run(manage + command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        server = subprocess.Popen(
            manage + ["runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_up(url, server)
            shoot(args.out, url)
        finally:
            server.terminate()
            server.wait(timeout=30)
    for name in ("rank-desktop.png", "rank-phone.png", "project.png"):
        print(args.out / name)


if __name__ == "__main__":
    main()
