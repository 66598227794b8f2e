"""A pytest plugin (loaded by pyproject.toml's addopts): in CI a test may skip only for want of a
service or device the run leaves out on purpose.

Under ``CI`` (set by CI; ``.ci/run`` runs ``make test``), a skip whose reason names none of
PostgreSQL, Redis, SQLite or CUDA (a missing data file, browser or package) fails the test instead, so
CI never passes by running less than it should. It imports nothing of Django: it loads before settings.
"""

from __future__ import annotations

import os
import re

import pytest

# Skips that say a run lacks a service or device on purpose: the SQLite pass of `make test` has no
# PostgreSQL or Redis, and no CI machine has CUDA. Any other skip in CI (a missing data file, a missing
# browser or package) fails the test instead, so CI never passes by running less than it should.
ENVIRONMENT_SKIP = re.compile(r"PostgreSQL|DATABASE_URL|REDIS_URL|Redis broker|SQLite|CUDA|GPU")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not ENVIRONMENT_SKIP.search(reason):
            report.outcome = "failed"
            report.longrepr = f"skipped in CI ({reason}): CI provides every data file, package and browser it uses"
