"""HTTP latency and throughput: the project server against a naive FastAPI peer, one run.

    python bench/http_bench.py [--seconds 10]

Both run under uvicorn on loopback, first with one worker each, then with two each (the Docker
image's production setting, ``WORKERS=2``); wrk drives them at concurrency 1, 8 and 32 with a
one-paragraph request and a 4,000-word article (explain off, as the peer has none). Ratios compare
servers with the same number of workers.
"""

from __future__ import annotations

import argparse
import json
import sys

from common import ROOT, free_port, project_server, rss_mb, save, start_server, synthetic_paragraphs, wrk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    paras = synthetic_paragraphs(200)
    one = paras[0]
    article, words = [], 0
    for p in paras[1:]:
        if words >= 4000:
            break
        article.append(p)
        words += len(p.split())
    article_text = "\n\n".join(article)
    bodies = {"one paragraph": json.dumps({"text": one, "explain": False}),
              "4,000-word article": json.dumps({"text": article_text, "explain": False})}
    results = {}
    def naive(workers):
        return lambda port: start_server([sys.executable, "-m", "uvicorn", "bench.naive_app:app", "--port", str(port),
                                          "--workers", str(workers), "--log-level", "warning"], port)

    servers = {
        "project (framing serve)": lambda port: project_server(port, workers=1),
        "naive FastAPI peer": naive(1),
        "project, 2 workers": lambda port: project_server(port, workers=2),
        "naive peer, 2 workers": naive(2),
    }
    for name, start in servers.items():
        port = free_port()
        proc = start(port)
        try:
            results[name] = {"rss_mb_after_load": round(rss_mb(proc.pid), 1)}  # the supervisor with 2 workers
            for kind, body in bodies.items():
                wrk(f"http://127.0.0.1:{port}", [("/v1/classify", body)], 8, 4)  # warm-up (every worker loaded)
                for c in (1, 8, 32):
                    r = wrk(f"http://127.0.0.1:{port}", [("/v1/classify", body)], c, args.seconds)
                    results[name][f"{kind}, c={c}"] = r
                    print(f"{name:26s} {kind:20s} c={c:<3d} {r['requests_per_s']:8.1f} req/s  p50 {r['p50_ms']:7.2f} ms"
                          f"  p99 {r['p99_ms']:7.2f} ms  failed {r['failed']}")
        finally:
            proc.terminate()
            proc.wait(30)
    pairs = {"1 worker": ("project (framing serve)", "naive FastAPI peer"),
             "2 workers": ("project, 2 workers", "naive peer, 2 workers")}
    ratio = {f"{kind}, {w}": results[a][f"{kind}, c=32"]["requests_per_s"] / results[b][f"{kind}, c=32"]["requests_per_s"]
             for w, (a, b) in pairs.items() for kind in bodies}
    print("project/naive requests/s at c=32:", {k: round(v, 2) for k, v in ratio.items()})
    save("http", {"words_in_article": words, "results": results, "project_over_naive_c32": ratio})


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
