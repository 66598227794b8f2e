"""The production web server (granian, as docker/ and `make up` run it) serves the WSGI app.

A real granian process on a free port: an API answer, a JSON request body and a static file, all
without a database query. The app's own behaviour is tested through Django's client elsewhere.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GRANIAN = Path(sys.executable).parent / "granian"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not GRANIAN.exists():
        pytest.fail(f"granian is not installed next to {sys.executable} (requirements.txt)")
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "test-only-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('web') / 'unused.sqlite3'}",
        "STATIC_ROOT": str(tmp_path_factory.mktemp("static")),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    command = [
        str(GRANIAN), "--interface", "wsgi", "config.wsgi:application",
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--blocking-threads", "2", "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"granian exited: {process.stdout.read().decode(errors='replace')[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("granian did not listen within 30 s")
    yield port
    process.terminate()
    process.wait(10)


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=body, headers={"Host": "127.0.0.1", **(headers or {})})
    response = connection.getresponse()
    return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()


def test_an_api_call_without_credentials_is_refused_as_json(server):
    status, headers, body = request(server, "GET", "/api/v1/me")
    assert status == 401
    assert headers["content-type"].startswith("application/json")
    assert "detail" in json.loads(body)


def test_a_json_body_reaches_the_view(server):
    status, _, body = request(
        server,
        "POST",
        "/api/v1/auth/token",
        json.dumps({"username": "x"}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 400
    errors = json.loads(body)["errors"]
    assert "password" in errors and "username" not in errors  # the body arrived: only the password is missing


def test_static_files_are_served(server):
    status, headers, body = request(server, "GET", "/static/js/rank.js")
    assert status == 200
    assert b"function" in body or b"=>" in body
    assert "javascript" in headers["content-type"]
