"""Soak: the real server (production start command) under a mixed load at concurrency 32.

    python bench/load.py [--seconds 60] [--workers 2]

Requests rotate between one paragraph, a full article and a 20-document batch. Reports
requests/s, p50/p99, failed requests, and the server's RSS after warm-up and after the run.
"""

from __future__ import annotations

import argparse
import json
import sys

from common import ROOT, free_port, project_server, rss_mb, save, synthetic_paragraphs, wrk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    paras = synthetic_paragraphs(400, seed=7)
    bodies = [("/v1/classify", json.dumps({"text": paras[0]})),
              ("/v1/classify", json.dumps({"text": "\n\n".join(paras[1:15])})),
              ("/v1/classify/batch", json.dumps({"documents": [{"id": str(i), "text": "\n\n".join(paras[20 + 3 * i:23 + 3 * i])}
                                                               for i in range(20)]}))]
    port = free_port()
    proc = project_server(port, workers=args.workers)
    url = f"http://127.0.0.1:{port}"
    try:
        wrk(url, bodies, 32, 10)  # warm-up
        rss_warm = rss_mb(proc.pid)
        result = wrk(url, bodies, 32, args.seconds)
        rss_after = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    result.update({"seconds": args.seconds, "workers": args.workers, "concurrency": 32,
                   "rss_mb_after_warmup": round(rss_warm, 1), "rss_mb_after_run": round(rss_after, 1),
                   "rss_growth": round(rss_after / rss_warm - 1, 4)})
    print(json.dumps(result, indent=2))
    save("load", result)
    if result["failed"] or result["rss_growth"] > 0.10:
        sys.exit(1)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
