"""docker/: the compose file describes the production stack the docs promise.

Docker itself is not available to the test suite, so these read the files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

DOCKER = Path(__file__).resolve().parent.parent / "docker"


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yml").read_text())


def test_the_stack_has_every_service():
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker", "gpu-worker", "beat"}


def test_web_runs_granian_and_the_workers_split_the_queues():
    services = compose()["services"]
    assert services["web"]["command"].startswith("granian --interface wsgi config.wsgi:application")
    assert "-Q ${WORKER_QUEUES:-default}" in services["worker"]["command"]
    assert "-Q training --concurrency 1" in services["gpu-worker"]["command"]
    assert services["beat"]["command"].startswith("celery -A config beat")
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]


def test_the_gpu_worker_reserves_an_nvidia_gpu():
    devices = compose()["services"]["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_app_services_share_settings_artifacts_and_wait_for_migrations():
    config = compose()
    for name in ("web", "worker", "gpu-worker", "beat"):
        service = config["services"][name]
        assert service["env_file"] == [".env"], name
        assert service["environment"]["DATABASE_URL"].startswith("postgres://"), name
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0", name
        assert "artifacts:/var/lib/rankforge/artifacts" in service["volumes"], name
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
    assert {"postgres-data", "artifacts"} <= set(config["volumes"])
    assert "postgres-data:/var/lib/postgresql/data" in config["services"]["postgres"]["volumes"]


def test_every_compose_variable_is_in_the_example_env_file():
    used = set(re.findall(r"\$\{(\w+)", (DOCKER / "compose.yml").read_text()))
    used -= {"RANKFORGE_IMAGE", "RANKFORGE_GPU_IMAGE"}  # image names have working defaults
    example = {line.split("=", 1)[0] for line in (DOCKER / "env.example").read_text().splitlines() if "=" in line}
    assert used <= example, used - example


def test_the_image_runs_as_a_non_root_user_and_the_entrypoint_is_executable():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert "ARG TORCH_VARIANT=cpu" in dockerfile
    assert "collectstatic --noinput" in dockerfile
    assert re.search(r"^USER rankforge$", dockerfile, re.MULTILINE)
    assert os.access(DOCKER / "entrypoint.sh", os.X_OK)
