"""The repository stands on its own: no path of a developer's machine, and the data its tests and
benchmarks read is inside it, with its license."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from rewardtrain.core.config import shipped_data_dir

ROOT = Path(__file__).resolve().parents[1]

# An absolute path into a place that belongs to one machine: a work tree, a home, a temp folder, a mount.
# (Paths a deployment chooses for itself, such as /srv/models in docs/deployment.md, are examples, not these.)
MACHINE_PATH = re.compile(r"(?<![\w.~$/-])/(?:work|tmp|root|home|Users|mnt)/[\w.-]")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    files = []
    for name in names.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file() or name.endswith((".gz", ".png", ".jpg", ".ico", ".parquet")):
            continue
        if b"\0" in path.read_bytes()[:4096]:  # binary
            continue
        files.append(path)
    return files


def test_no_file_names_an_absolute_path_of_a_machine():
    found = []
    for path in tracked_text_files():
        if path == Path(__file__).resolve():
            continue  # its own examples of what the pattern must catch
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for match in MACHINE_PATH.finditer(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]} ({match.group(0)}...)")
    assert not found, "absolute paths of a machine in the repository:\n" + "\n".join(found)


def test_the_pattern_catches_what_it_should_and_nothing_else():
    for bad in ('load("/work/shared/data/x")', "--out /tmp/rm", "cd /home/me/rankforge", "'/root/.cache'"):
        assert MACHINE_PATH.search(bad), bad
    for fine in ("annotate/fixtures/hh_rlhf", "$TMPDIR/rm", "/srv/models:/models:ro", "var/tmp/x", "~/work/x"):
        assert not MACHINE_PATH.search(fine), fine


def test_the_shipped_data_is_there_with_its_license_and_readme():
    data = shipped_data_dir()
    for folder, files in {
        "oasst_en100": ["en_100_tree.jsonl"],
        "hh_rlhf": ["helpful-base-test.jsonl.gz", "harmless-base-test.jsonl.gz"],
    }.items():
        for name in [*files, "LICENSE", "README.md"]:
            assert (data / folder / name).is_file(), f"{folder}/{name} missing under {data}"


def run_pytest_in_ci(tmp_path: Path, reason: str) -> subprocess.CompletedProcess:
    test_file = tmp_path / "test_skipping.py"
    test_file.write_text(f"import pytest\n\n\ndef test_it():\n    pytest.skip({reason!r})\n")
    env = {**os.environ, "CI": "true", "VAR_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(ROOT / "pyproject.toml")]
    return subprocess.run(
        [*command, str(test_file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_in_ci_a_test_that_skips_for_want_of_data_fails(tmp_path):
    result = run_pytest_in_ci(tmp_path, "no copy of the shared data on this machine")
    assert result.returncode == 1, result.stdout
    assert "skipped in CI (" in result.stdout and "no copy of the shared data on this machine)" in result.stdout


def test_in_ci_a_test_may_skip_for_a_service_the_run_leaves_out(tmp_path):
    result = run_pytest_in_ci(tmp_path, "needs PostgreSQL: set DATABASE_URL")
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
