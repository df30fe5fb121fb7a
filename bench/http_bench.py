"""HTTP latency and throughput: the project server against a naive FastAPI peer, one run.

    python bench/http_bench.py [--seconds 10]

Both run under uvicorn with one worker on loopback; wrk drives them at concurrency 1, 8 and 32
with a one-paragraph request and a 4,000-word article (explain off, as the peer has none).
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
    servers = {
        "project (framing serve)": lambda port: project_server(port, workers=1),
        "naive FastAPI peer": lambda port: start_server(
            [sys.executable, "-m", "uvicorn", "bench.naive_app:app", "--port", str(port), "--log-level", "warning"], port),
    }
    for name, start in servers.items():
        port = free_port()
        proc = start(port)
        try:
            results[name] = {"rss_mb_after_load": round(rss_mb(proc.pid), 1)}
            for kind, body in bodies.items():
                wrk(f"http://127.0.0.1:{port}", [("/v1/classify", body)], 8, 2)  # warm-up
                for c in (1, 8, 32):
                    r = wrk(f"http://127.0.0.1:{port}", [("/v1/classify", body)], c, args.seconds)
                    results[name][f"{kind}, c={c}"] = r
                    print(f"{name:26s} {kind:20s} c={c:<3d} {r['requests_per_s']:8.1f} req/s  p50 {r['p50_ms']:7.2f} ms"
                          f"  p99 {r['p99_ms']:7.2f} ms  failed {r['failed']}")
        finally:
            proc.terminate()
            proc.wait(30)
    ratio = {kind: results["project (framing serve)"][f"{kind}, c=32"]["requests_per_s"]
             / results["naive FastAPI peer"][f"{kind}, c=32"]["requests_per_s"] for kind in bodies}
    print("project/naive requests/s at c=32:", {k: round(v, 2) for k, v in ratio.items()})
    save("http", {"words_in_article": words, "results": results, "project_over_naive_c32": ratio})


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
