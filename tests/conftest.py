"""Shared fixtures: the shipped model and real uvicorn servers on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.model import DEFAULT_MODEL_PATH, FramingModel

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``framing serve`` in a subprocess; stopped with SIGTERM."""

    def __init__(self, env: dict[str, str] | None = None, args: list[str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, "FRAMING_LOG_LEVEL": "warning", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port), *(args or [])],
            cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def wait_ready(self, timeout: float = 60) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError("server did not become ready")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


@pytest.fixture(scope="session")
def model() -> FramingModel:
    return FramingModel.load()


@pytest.fixture(scope="session")
def server():
    srv = Server(env={"FRAMING_MAX_BODY_BYTES": "200000", "FRAMING_MAX_PARAGRAPHS": "500",
                      "FRAMING_MAX_BATCH_DOCUMENTS": "5"}).wait_ready()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def keyed_server():
    srv = Server(env={"FRAMING_API_KEYS": "k1-secret,k2-secret"}).wait_ready()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def seed_rows():
    from training.corpus import read_labelled

    return read_labelled(ROOT / "seeds" / "labels.jsonl")


assert DEFAULT_MODEL_PATH.is_file(), "the shipped model is missing: run `framing train`"
