"""The HTTP API against a real uvicorn process on loopback."""

import json

import httpx
import pytest

from app import LABELS

PROBLEM = "application/problem+json"
SEED = ("After the export ban, the plant sources microcontrollers through intermediaries in Central "
        "Asia.\n\nThe ministry will fund Russian-made replacements for foreign database software in state banks.")


def post(server, path, body=None, **kw):
    return httpx.post(server.url + path, json=body, timeout=30, **kw)


def assert_problem(r, status, detail_part=None):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in r.text and "/work" not in r.text and ".py" not in r.text
    if detail_part:
        assert detail_part in body["detail"]


def test_classify_text_returns_paragraphs_scores_labels_evidence(server):
    r = post(server, "/v1/classify", {"text": SEED})
    assert r.status_code == 200
    body = r.json()
    assert body["model"]["name"] and body["model"]["version"]
    assert set(body["thresholds"]) == set(LABELS)
    p0, p1 = body["paragraphs"]
    assert SEED[p0["start"]:p0["end"]] == p0["text"] and SEED[p1["start"]:p1["end"]] == p1["text"]
    assert set(p0["scores"]) == set(LABELS) and all(0 <= v <= 1 for v in p0["scores"].values())
    assert "sanctions" in p0["labels"] and "sovereignty" in p1["labels"]
    ev = p0["evidence"]["sanctions"]
    assert ev and all(p0["text"][s:e].lower() == item["term"] for item in ev for s, e in item["spans"])
    assert body["summary"]["paragraphs"] == 2
    strongest = max(body["paragraphs"], key=lambda p: p["scores"]["sanctions"])["index"]
    assert body["summary"]["labels"]["sanctions"]["strongest_paragraph"] == strongest


def test_classify_paragraphs_thresholds_and_no_explain(server):
    r = post(server, "/v1/classify", {"paragraphs": ["Wheat exports rose 4% in the third quarter.", "Погода в Москве."],
                                      "explain": False, "thresholds": {"sanctions": 0.0}})
    body = r.json()
    assert r.status_code == 200
    assert [p["lang"] for p in body["paragraphs"]] == ["en", "ru"]
    assert all("sanctions" in p["labels"] and p["evidence"] == {} for p in body["paragraphs"])
    assert body["thresholds"]["sanctions"] == 0.0


def test_batch(server):
    r = post(server, "/v1/classify/batch", {"documents": [{"id": "a", "text": SEED}, {"id": "b", "text": "Rain on Sunday."}]})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [d["id"] for d in results] == ["a", "b"]
    assert results[0]["summary"]["framed_paragraphs"] == 2 and results[1]["summary"]["framed_paragraphs"] == 0


def test_labels_model_health_ready_metrics(server):
    labels = httpx.get(server.url + "/v1/labels").json()["labels"]
    assert [l["name"] for l in labels] == list(LABELS) and all(l["description"] and 0 < l["threshold"] < 1 for l in labels)
    meta = httpx.get(server.url + "/v1/model").json()
    assert meta["labels"] == list(LABELS) and "cross_validation" in meta["metrics"]
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(server.url + "/readyz").json() == {"status": "ready"}
    post(server, "/v1/classify", {"text": SEED})
    metrics = httpx.get(server.url + "/metrics").text
    assert 'framing_requests_total{method="POST",route="/v1/classify",status="200"}' in metrics
    assert "framing_paragraphs_scored_total" in metrics
    assert "framing_request_duration_seconds_bucket" in metrics


def test_openapi_has_an_example_on_every_route(server):
    spec = httpx.get(server.url + "/openapi.json").json()
    for path in ("/v1/classify", "/v1/classify/batch"):
        ref = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert spec["components"]["schemas"][ref.split("/")[-1]].get("examples")
    assert {"/v1/labels", "/v1/model", "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
    assert httpx.get(server.url + "/docs").status_code == 200


@pytest.mark.parametrize("body, part", [
    ({"text": ""}, "text"),
    ({"text": "   \n\t "}, "text"),
    ({"paragraphs": []}, "paragraphs"),
    ({"text": 42}, "text"),
    ({}, "exactly one"),
    ({"text": "a", "paragraphs": ["b"]}, "exactly one"),
    ({"text": "ok", "surprise": 1}, "surprise"),
    ({"text": "ok", "thresholds": {"bogus": 0.5}}, "thresholds"),
    ({"text": "ok", "thresholds": {"sanctions": 2}}, "thresholds"),
    ({"text": None}, "text"),
])
def test_invalid_bodies_are_422(server, body, part):
    assert_problem(post(server, "/v1/classify", body), 422, part)


def test_invalid_json_and_bad_utf8_are_422(server):
    headers = {"content-type": "application/json"}
    assert_problem(httpx.post(server.url + "/v1/classify", content=b'{"text": ', headers=headers), 422)
    assert_problem(httpx.post(server.url + "/v1/classify", content=b'{"text": "\xff\xfe"}', headers=headers), 422)
    deep = b'{"text": "x", "lang": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    assert_problem(httpx.post(server.url + "/v1/classify", content=deep, headers=headers), 422)


def test_size_limits_are_413(server):
    big = {"text": "word " * 50_000}  # 250 kB > the 200 kB limit of this server
    assert_problem(post(server, "/v1/classify", big), 413, "limit")

    def chunks():  # no Content-Length: the limit holds on the streamed bytes
        yield b'{"text": "'
        for _ in range(300):
            yield b"x" * 1000
        yield b'"}'
    r = httpx.post(server.url + "/v1/classify", content=chunks(), headers={"content-type": "application/json"})
    assert_problem(r, 413)
    many = {"text": "\n".join(f"p{i}" for i in range(600))}  # 600 paragraphs > 500
    assert_problem(post(server, "/v1/classify", many), 413, "paragraphs")
    docs = {"documents": [{"id": str(i), "text": "x"} for i in range(6)]}
    assert_problem(post(server, "/v1/classify/batch", docs), 413, "documents")
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_wrong_content_type_is_415_and_wrong_method_405(server):
    r = httpx.post(server.url + "/v1/classify", content=json.dumps({"text": "x"}), headers={"content-type": "text/plain"})
    assert_problem(r, 415, "application/json")
    r = httpx.post(server.url + "/v1/classify", content=b'{"text": "x"}')
    assert_problem(r, 415)
    assert_problem(httpx.get(server.url + "/v1/classify"), 405)
    assert_problem(httpx.get(server.url + "/v1/nothing"), 404)


def test_api_keys(keyed_server):
    url = keyed_server.url
    assert_problem(httpx.post(url + "/v1/classify", json={"text": SEED}), 401)
    assert_problem(httpx.post(url + "/v1/classify", json={"text": SEED}, headers={"X-API-Key": "wrong"}), 401)
    assert httpx.post(url + "/v1/classify", json={"text": SEED}, headers={"X-API-Key": "k2-secret"}).status_code == 200
    assert httpx.get(url + "/v1/labels", headers={"Authorization": "Bearer k1-secret"}).status_code == 200
    for path in ("/v1/labels", "/v1/model", "/metrics", "/openapi.json"):
        assert_problem(httpx.get(url + path), 401)
    assert httpx.get(url + "/healthz").status_code == 200 and httpx.get(url + "/readyz").status_code == 200
