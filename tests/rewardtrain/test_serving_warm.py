"""Warm models in real serving processes: every granian worker loads the active model before its first
request, and a version activated from another process is loaded by every worker without any request.

A SQLite file database migrated by ``manage.py``, two tiny trained artifacts, and granian with two
workers, as docker/ and ``make up`` run it. The proof is the order of events: each worker logs
"loaded version N" (with its pid) before the test sends anything.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.core.conftest import make_records
from tests.rewardtrain.training_helpers import TINY_CONFIG, build_tiny_encoder
from tests.test_web_server import GRANIAN, free_port

ROOT = Path(__file__).resolve().parent.parent.parent
LOADED = re.compile(r"scoring: loaded version (\d+) of project \d+ \(pid (\d+)\)")

SETUP = """
from django.contrib.auth.models import User
from rewardtrain.models import ModelVersion
from annotate.models import Project
from rest_framework.authtoken.models import Token
admin = User.objects.create_user("admin", password="x", is_staff=True)
project = Project.objects.create(name="Warm")
ModelVersion.objects.create(project=project, version=1, artifact_path={first!r}, is_active=True)
ModelVersion.objects.create(project=project, version=2, artifact_path={second!r})
print(project.pk, Token.objects.create(user=admin).key)
"""

ACTIVATE = """
from rewardtrain.models import ModelVersion
from rewardtrain.services.registry import model_version_activate
model_version_activate(version=ModelVersion.objects.get(version=2))
"""


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> list[str]:
    from rewardtrain.core.config import TrainConfig
    from rewardtrain.core.train import train

    model = str(build_tiny_encoder(tmp_path_factory.mktemp("tiny")))
    settings = {key: value for key, value in TINY_CONFIG.items() if key != "eval_fraction"}
    out = []
    for seed in (0, 1):
        config = TrainConfig(model=model, seed=seed, **settings)
        result = train(config, make_records(8, seed=seed), [], out_dir=tmp_path_factory.mktemp(f"v{seed}") / "rm")
        out.append(str(result.out_dir))
    return out


class Output:
    """The server's merged stdout/stderr, read in a thread so the pipe never fills."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            self.lines.append(raw.decode(errors="replace"))

    def loaded(self, version: int) -> set[str]:
        """Pids of the workers that logged loading ``version``."""
        return {pid for line in self.lines for number, pid in LOADED.findall(line) if int(number) == version}

    def loaded_any(self) -> set[int]:
        return {int(number) for line in self.lines for number, _ in LOADED.findall(line)}

    def wait_loaded(self, version: int, workers: int, timeout: float) -> set[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(pids := self.loaded(version)) >= workers:
                return pids
            time.sleep(0.1)
        pytest.fail(f"{workers} workers did not load version {version} in {timeout} s:\n{''.join(self.lines)[-3000:]}")


def post(port: int, path: str, body: dict, token: str) -> tuple[int, dict, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Host": "127.0.0.1", "Authorization": f"Token {token}", "Content-Type": "application/json"}
    connection.request("POST", path, body=json.dumps(body).encode(), headers=headers)
    response = connection.getresponse()
    return response.status, {name.lower(): value for name, value in response.getheaders()}, json.loads(response.read())


def manage(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def database(tmp_path_factory, artifacts) -> tuple[dict, str, str]:
    """(environment, project id, staff token) of a migrated SQLite file with version 1 active, 2 not."""
    directory = tmp_path_factory.mktemp("warm")
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "test-only-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}",
        "VAR_DIR": str(directory / "var"),
        "SCORING_DEVICE": "cpu",
        "SCORING_WATCH_SECONDS": "0.5",
        "API_TOKEN_CACHE_SECONDS": "0",
        "LOG_LEVEL": "INFO",
    }
    for name in ("DJANGO_SETTINGS_MODULE", "REDIS_URL"):
        env.pop(name, None)
    manage(env, "migrate", "--noinput")
    created = manage(env, "shell", "-c", SETUP.format(first=artifacts[0], second=artifacts[1]))
    project_id, token = created.strip().splitlines()[-1].split()
    return env, project_id, token


def test_serve_rewards_loads_the_model_before_it_listens(database):
    env, project_id, token = database
    port = free_port()
    command = [sys.executable, "manage.py", "serve_rewards", "--port", str(port), "--project", project_id, "--quiet"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = Output(server.stdout)
    try:
        deadline = time.monotonic() + 300
        while not any("Serving rewards at" in line for line in output.lines):
            assert time.monotonic() < deadline and server.poll() is None, "".join(output.lines)[-3000:]
            time.sleep(0.1)
        (version,) = output.loaded_any()  # loaded before "Serving rewards at": before any request could come
        status, headers, body = post(port, f"/api/v1/projects/{project_id}/get_reward", {"query": ["w1"]}, token)
        assert status == 200 and body["model_version"] == version and headers["x-model-version"] == str(version)
    finally:
        server.terminate()
        server.wait(15)


def test_every_worker_is_warm_before_its_first_request_and_loads_an_activation_from_elsewhere(database):
    if not GRANIAN.exists():
        pytest.fail(f"granian is not installed next to {sys.executable} (requirements.txt)")
    env, project_id, token = database
    port = free_port()
    command = [
        str(GRANIAN), "--interface", "wsgi", "config.wsgi:application", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "2", "--blocking-threads", "2", "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = Output(server.stdout)
    try:
        workers = output.wait_loaded(1, workers=2, timeout=300)  # before any request was sent
        score = f"/api/v1/projects/{project_id}/score"
        items = {"items": [{"prompt": "w1 w2", "completions": ["great great", "awful awful"]}]}
        for _ in range(4):  # whichever worker answers, it is warm and says which version answered
            status, headers, body = post(port, score, items, token)
            assert status == 200, body
            assert body["model_version"] == 1 and headers["x-model-version"] == "1"
        assert output.loaded(1) == workers  # nobody loaded anything on request

        manage(env, "shell", "-c", ACTIVATE)  # another process activates: no worker takes that request
        assert output.wait_loaded(2, workers=2, timeout=180) == workers
        reward = f"/api/v1/projects/{project_id}/get_reward"
        for _ in range(4):
            status, headers, body = post(port, reward, {"query": ["User: w1\n\nAssistant: great"]}, token)
            assert status == 200 and body["model_version"] == 2 and headers["x-model-version"] == "2", body
    finally:
        server.terminate()
        server.wait(15)
