"""Settings come from the environment; production refuses the insecure default key.

Each case imports config.settings in a fresh interpreter with a controlled environment,
because settings are read once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

PRINT_SETTINGS = """
import json
from django.conf import settings
database = settings.DATABASES["default"]
print(json.dumps({
    "engine": database["ENGINE"],
    "name": str(database["NAME"]),
    "host": database.get("HOST", ""),
    "broker": settings.CELERY_BROKER_URL,
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "debug": settings.DEBUG,
    "allowed_hosts": settings.ALLOWED_HOSTS,
    "artifact_dir": str(settings.ARTIFACT_DIR),
    "secure_cookies": getattr(settings, "SESSION_COOKIE_SECURE", False),
}))
"""


def run_settings(tmp_path: Path, code: str = PRINT_SETTINGS, **env: str) -> subprocess.CompletedProcess:
    """Import the settings in a new Python, outside pytest, with only the given variables."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTEST_VERSION", "RANKFORGE_TESTING", "DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"}
        and key != "DJANGO_ALLOW_ASYNC_UNSAFE"  # the browser tests set it in this process
        and not key.startswith("PYTEST_")
    }
    clean |= {"DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(tmp_path / "var"), **env}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=clean, capture_output=True, text=True, timeout=60)


def settings_in(tmp_path: Path, **env: str) -> dict:
    result = run_settings(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_refuses_to_start_with_the_default_secret_key(tmp_path):
    result = run_settings(tmp_path, "import django; django.setup()", DEBUG="0")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_production_starts_with_its_own_secret_key_and_secure_cookies(tmp_path):
    values = settings_in(
        tmp_path, DEBUG="0", SECRET_KEY="a-real-secret-from-the-environment", ALLOWED_HOSTS="rf.example"
    )
    assert values["debug"] is False
    assert values["allowed_hosts"] == ["rf.example"]
    assert values["secure_cookies"] is True


def test_a_command_from_another_shell_reads_the_key_make_up_keeps_under_var(tmp_path):
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret_key").write_text("a-random-key-written-by-make-up\n")
    code = "from django.conf import settings; print(settings.SECRET_KEY, settings.DEBUG)"
    result = run_settings(tmp_path, code)  # no DEBUG, no SECRET_KEY: a fresh shell
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["a-random-key-written-by-make-up", "False"]
    # The environment still wins, and an empty file is no key.
    assert run_settings(tmp_path, code, SECRET_KEY="from-the-environment").stdout.split()[0] == "from-the-environment"
    (tmp_path / "var" / "secret_key").write_text("")
    refused = run_settings(tmp_path, code)
    assert refused.returncode != 0 and "SECRET_KEY is the insecure default" in refused.stderr


def test_development_may_use_the_default_key(tmp_path):
    assert settings_in(tmp_path, DEBUG="1")["debug"] is True


def test_without_urls_it_uses_sqlite_under_var_and_runs_tasks_in_process(tmp_path):
    values = settings_in(tmp_path, DEBUG="1")
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(tmp_path / "var" / "rankforge.sqlite3")
    assert values["eager"] is True
    assert values["broker"] == "filesystem://"
    assert values["artifact_dir"] == str(tmp_path / "var" / "artifacts")


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_database_url_and_redis_url_switch_to_postgresql_and_a_real_broker(tmp_path, scheme):
    values = settings_in(
        tmp_path,
        DEBUG="1",
        DATABASE_URL=f"{scheme}://rankforge:secret@db.internal:5432/rankforge",
        REDIS_URL="redis://cache.internal:6379/0",
        ARTIFACT_DIR="/srv/artifacts",
    )
    assert values["engine"] == "django.db.backends.postgresql"
    assert (values["name"], values["host"]) == ("rankforge", "db.internal")
    assert values["broker"] == "redis://cache.internal:6379/0"
    assert values["eager"] is False
    assert values["artifact_dir"] == "/srv/artifacts"


def test_check_deploy_is_clean_in_the_documented_production_configuration(tmp_path):
    """docs/deployment.md: DEBUG off, a real key, the host, behind a proxy terminating TLS (BEHIND_TLS=1)."""
    code = "import sys; from django.core.management import execute_from_command_line as run; " + (
        "run(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])"
    )
    production = {"DEBUG": "0", "SECRET_KEY": "x" * 60 + "-a-real-secret", "ALLOWED_HOSTS": "rf.example"}
    result = run_settings(tmp_path, code, **production, BEHIND_TLS="1")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
    without_tls = run_settings(tmp_path, code, **production)
    assert without_tls.returncode != 0 and "SECURE_HSTS_SECONDS" in without_tls.stderr
