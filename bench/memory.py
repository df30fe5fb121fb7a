"""Memory: RSS of one server worker with the model loaded, and peak RSS of ``framing score`` on a
stream of 1,000,000 paragraphs (100,000 documents of 10).

    python bench/memory.py [--paragraphs 1000000] [--jobs 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, free_port, project_server, rss_mb, save, synthetic_paragraphs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--paragraphs", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    port = free_port()
    server = project_server(port, workers=1)
    try:
        import httpx

        httpx.post(f"http://127.0.0.1:{port}/v1/classify", json={"text": "Sanctions bite."})
        worker_rss = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    pool = synthetic_paragraphs(20_000)
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "stream.jsonl", Path(tmp) / "out.jsonl"
        with open(src, "w") as f:
            for d in range(args.paragraphs // 10):
                f.write(json.dumps({"id": f"d{d}", "outlet": f"o{d % 7}",
                                    "text": "\n\n".join(pool[(d * 10 + k) % len(pool)] for k in range(10))}) + "\n")
        size_mb = src.stat().st_size / 1e6
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "score", str(src), "-o", str(out), "-q",
                                 "--jobs", str(args.jobs)], cwd=ROOT)
        peak, started = 0.0, time.perf_counter()
        while proc.poll() is None:
            try:
                peak = max(peak, rss_mb(proc.pid))  # the process and its workers together
            except Exception:
                pass
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        rows = sum(1 for _ in open(out))
    result = {"server_worker_rss_mb": round(worker_rss, 1), "score_input_mb": round(size_mb, 1),
              "score_paragraphs": rows, "score_jobs": args.jobs, "score_peak_rss_mb": round(peak, 1),
              "score_seconds": round(seconds, 1), "score_paragraphs_per_s": round(rows / seconds)}
    print(json.dumps(result, indent=2))
    save(f"memory-jobs{args.jobs}", result)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
