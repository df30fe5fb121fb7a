"""Bad input, contract fuzzing, faults and logging: the service never falls over or leaks."""

import json
import shutil
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from app.model import DEFAULT_MODEL_PATH

from conftest import ROOT, Server

PROBLEM = "application/problem+json"
POST_ROUTES = ["/v1/classify", "/v1/classify/batch"]
GET_ROUTES = ["/v1/labels", "/v1/model", "/healthz", "/readyz", "/metrics", "/"]
LIMIT = 200_000  # FRAMING_MAX_BODY_BYTES of the `server` fixture


def body_for(route, text):
    return {"text": text} if route == "/v1/classify" else {"documents": [{"id": "x", "text": text}]}


def sized_body(route, size):
    """A valid JSON body of exactly ``size`` bytes."""
    empty = len(json.dumps(body_for(route, "")).encode())
    return json.dumps(body_for(route, "a" * (size - empty))).encode()


def check(response, statuses):
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith(PROBLEM)
        problem = response.json()
        assert problem["status"] == response.status_code and problem["detail"]
    assert "Traceback" not in response.text and "/work/" not in response.text


ODD_TEXTS = {
    "nul_and_controls": "Sanctions\x00 bite\x01\x07 hard\x1b[31m.",
    "emoji": "Sanctions 🚫🇷🇺 bite 💥 and we build our own chips 🔧.",
    "rtl_and_mixed": "العقوبات sanctions санкции 制裁 בסנקציות mixed scripts.",
    "lone_surrogate_escaped": "bad \\ud800 surrogate",
    "only_punctuation": "!!! ??? ...",
}


@pytest.mark.parametrize("route", POST_ROUTES)
def test_catalogue_of_bad_and_odd_input(server, route):
    url = server.url + route
    headers = {"content-type": "application/json"}
    cases = [
        (body_for(route, ""), {422}),
        (body_for(route, " \n\t "), {422}),
        ({"text": 5} if route == "/v1/classify" else {"documents": [{"id": "x", "text": 5}]}, {422}),
        ({"text": None} if route == "/v1/classify" else {"documents": None}, {422}),
        ({**body_for(route, "ok"), "extra": True}, {422}),
        ([1, 2, 3], {422}),
        ("just a string", {422}),
    ]
    for body, statuses in cases:
        check(httpx.post(url, json=body), statuses)
    for name, text in ODD_TEXTS.items():
        r = httpx.post(url, content=json.dumps(body_for(route, text)).encode(), headers=headers)
        check(r, {200, 422} if name == "only_punctuation" else {200})
    check(httpx.post(url, content=sized_body(route, LIMIT - 10), headers=headers), {200, 413})
    check(httpx.post(url, content=sized_body(route, LIMIT), headers=headers), {200, 413})
    check(httpx.post(url, content=sized_body(route, LIMIT + 1), headers=headers), {413})
    check(httpx.post(url, content=b"\xff\xfe\x00garbage", headers=headers), {422})
    check(httpx.post(url, content=b"[" * 100_000, headers=headers), {422})
    check(httpx.post(url, content=b'{"text": "x"}', headers={"content-type": "text/plain"}), {415})
    check(httpx.post(url, content=b'{"text": "x"}', headers={"content-type": ""}), {415})
    check(httpx.get(url), {405})
    assert httpx.get(server.url + "/healthz").status_code == 200
    assert httpx.get(server.url + "/readyz").status_code == 200


def test_hundred_thousand_tiny_paragraphs_are_refused_cleanly(server):
    text = "a\n\n" * 100_000  # 300 kB of one-letter paragraphs
    check(httpx.post(server.url + "/v1/classify", json={"text": text}), {413})
    many = {"paragraphs": ["a"] * 100_000}
    check(httpx.post(server.url + "/v1/classify", json=many), {413})
    few = {"text": "a\n\n" * 400}
    r = httpx.post(server.url + "/v1/classify", json=few, timeout=60)
    check(r, {200})
    assert len(r.json()["paragraphs"]) == 400


def test_get_routes_refuse_post(server):
    for route in GET_ROUTES:
        r = httpx.post(server.url + route, json={})
        check(r, {405})


def test_sigterm_lets_in_flight_requests_finish_and_exits_zero():
    srv = Server().wait_ready()
    # heavy enough (1,500 paragraphs with evidence, each) that all four are still running at SIGTERM
    article = {"text": "\n\n".join(f"Sanctions forced plant {i} to find its own suppliers of chips." for i in range(1500))}
    results, finished = [], []

    def slow_request():
        try:
            results.append(httpx.post(srv.url + "/v1/classify", json=article, timeout=120).status_code)
        except httpx.HTTPError as exc:
            results.append(repr(exc))
        finished.append(time.monotonic())

    threads = [threading.Thread(target=slow_request) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # all four sent and read by the server
    signalled = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(httpx.HTTPError):  # new connections are refused once shutdown began
        httpx.get(srv.url + "/healthz", timeout=2)
    for t in threads:
        t.join(120)
    assert results == [200] * 4
    assert all(f > signalled for f in finished)  # they were in flight when the signal came
    assert srv.proc.wait(60) == 0


@pytest.mark.parametrize("damage", ["missing", "truncated", "tampered", "untrusted"])
def test_service_refuses_to_start_on_a_bad_model(tmp_path, damage):
    model = tmp_path / "framing.skops"
    shutil.copy(DEFAULT_MODEL_PATH.with_suffix(".json"), model.with_suffix(".json"))
    if damage == "truncated":
        data = DEFAULT_MODEL_PATH.read_bytes()
        model.write_bytes(data[: len(data) // 3])
    elif damage == "tampered":
        data = bytearray(DEFAULT_MODEL_PATH.read_bytes())
        data[len(data) // 2] ^= 0xFF
        model.write_bytes(bytes(data))
    elif damage == "untrusted":
        import skops.io as sio
        from sklearn.preprocessing import FunctionTransformer

        sio.dump(FunctionTransformer(func=shutil.rmtree), model)
        meta = json.loads(model.with_suffix(".json").read_text())
        from app.model import sha256_file

        meta["artifact_sha256"] = sha256_file(model)  # even with a matching hash it is refused
        model.with_suffix(".json").write_text(json.dumps(meta))
    r = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--port", "1", "--model", str(model)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(model) in lines[0], r.stderr
    expected = {"missing": "does not exist", "truncated": "does not match", "tampered": "does not match",
                "untrusted": "untrusted types"}[damage]
    assert expected in lines[0]


def test_app_without_a_model_stays_up_but_not_ready(tmp_path):
    """Started directly (uvicorn app.main:app), a bad model leaves /readyz failing, never scores."""
    env = {"FRAMING_MODEL_PATH": str(tmp_path / "none.skops"), "FRAMING_LOG_LEVEL": "warning"}
    import os
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)], cwd=ROOT,
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(url + "/healthz")
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert httpx.get(url + "/healthz").status_code == 200
        check(httpx.get(url + "/readyz"), {503})
        check(httpx.post(url + "/v1/classify", json={"text": "Sanctions bite."}), {503})
    finally:
        proc.terminate()
        proc.wait(30)


def test_request_logs_carry_route_status_duration_not_text_or_key():
    srv = Server(env={"FRAMING_LOG_LEVEL": "info", "FRAMING_API_KEYS": "sekret-key-123"}).wait_ready()
    secret_text = "Zanzibar-unique-phrase sanctions"
    r = httpx.post(srv.url + "/v1/classify", json={"text": secret_text}, headers={"X-API-Key": "sekret-key-123"})
    assert r.status_code == 200
    httpx.post(srv.url + "/v1/classify", json={"text": secret_text}, headers={"X-API-Key": "wrong"})
    srv.stop()
    log = srv.proc.stderr.read()
    assert "POST /v1/classify 200" in log and "POST unmatched 401" in log or "POST /v1/classify 401" in log
    assert "Zanzibar" not in log and "sekret" not in log and "wrong" not in log
