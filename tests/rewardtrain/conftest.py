"""Fixtures of the tests that run training: a tiny random encoder, and settings for runs executed in the test."""

from __future__ import annotations

import pytest

from tests.rewardtrain.training_helpers import build_tiny_encoder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return str(build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder")))


@pytest.fixture
def quick_training(settings, tmp_path):
    """Artifacts under the test's directory; runs executed by the test itself, without a heartbeat thread."""
    settings.ARTIFACT_DIR = tmp_path / "artifacts"
    settings.TRAINING_DISPATCH = "poll"  # the tests execute runs themselves
    settings.TRAINING_HEARTBEAT_SECONDS = 0  # no second connection inside the test's transaction
    settings.TRAINING_PROGRESS_SECONDS = 0
