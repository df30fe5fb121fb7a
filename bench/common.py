"""Shared benchmark helpers: synthetic paragraphs from the corpus vocabulary, servers, wrk."""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SEED = 20261122


def synthetic_paragraphs(n: int, seed: int = SEED) -> list[str]:
    """``n`` paragraphs with the corpus's word distribution and paragraph lengths (fixed seed)."""
    sys.path.insert(0, str(ROOT))
    from training.corpus import load_corpus

    rows = load_corpus()
    rng = random.Random(seed)
    words = [w for r in rows for w in r["text"].split()]
    lengths = [len(r["text"].split()) for r in rows]
    out = []
    for _ in range(n):
        k = rng.choice(lengths)
        start = rng.randrange(0, len(words) - k)
        # a run of real words (keeps bigrams realistic) with some words swapped at random
        para = words[start:start + k]
        for i in rng.sample(range(k), k // 4):
            para[i] = rng.choice(words)
        out.append(" ".join(para))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(cmd: list[str], port: int, env: dict | None = None, ready_path: str = "/healthz",
                 timeout: float = 120) -> subprocess.Popen:
    import httpx

    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"server did not start: {cmd}")


def project_server(port: int, workers: int = 1) -> subprocess.Popen:
    """The production start command: ``framing serve``."""
    return start_server([sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                         "--workers", str(workers)], port, env={"FRAMING_LOG_LEVEL": "warning"}, ready_path="/readyz")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, MB."""
    import psutil

    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 1e6


def wrk(url: str, bodies: list[tuple[str, str]], concurrency: int, seconds: int) -> dict:
    """Run wrk with POST bodies (path, json) in rotation; parse requests/s, p50, p99, errors."""
    script = RESULTS / f"wrk-{os.getpid()}.lua"
    entries = ",\n".join(f"{{path={json.dumps(p)}, body={json.dumps(b)}}}" for p, b in bodies)
    script.write_text(
        "local reqs = {\n" + entries + "\n}\nlocal i = 0\n"
        "request = function()\n  i = i + 1\n  local r = reqs[(i % #reqs) + 1]\n"
        "  return wrk.format('POST', r.path, {['Content-Type']='application/json'}, r.body)\nend\n")
    threads = min(2, concurrency)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--latency", "--timeout", "30s", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    script.unlink()

    def latency(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": latency(50), "p99_ms": latency(99), "requests": requests,
            "failed": (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)}


def save(name: str, data: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
