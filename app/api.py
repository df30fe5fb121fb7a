"""The HTTP service: FastAPI app factory, request guard, problem+json errors, metrics, page."""

from __future__ import annotations

import gc
import hmac
import logging
import time
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from .coalesce import ScoreCoalescer
from .labels import load_codebook
from .model import DocumentResult, FramingModel, ModelLoadError
from .schemas import (
    BatchRequest,
    BatchResponse,
    ClassifyRequest,
    ClassifyResponse,
    Health,
    LabelsResponse,
    ModelInfo,
    Problem,
)
from .settings import Settings

log = logging.getLogger("framing.api")
PROBLEM = "application/problem+json"


def _problems(*statuses: int) -> dict:
    """OpenAPI entries for problem+json error responses."""
    text = {401: "API key missing or wrong", 405: "Method not allowed", 413: "Body, paragraphs or documents over the limit",
            415: "Body is not application/json", 422: "Invalid body", 503: "Model not loaded"}
    return {code: {"model": Problem, "description": text[code], "content": {PROBLEM: {}}} for code in statuses}


POST_ERRORS = _problems(401, 413, 415, 422, 503)
GET_ERRORS = _problems(401, 503)
PUBLIC_PATHS = {"/", "/healthz", "/readyz"}
BODY_PATHS = {"/v1/classify", "/v1/classify/batch"}  # the routes whose JSON body the guard checks
INLINE_CHARS = 4_000  # requests up to this much text are scored on the event loop
_CYRILLIC_LEADS = (b"\xd0", b"\xd1", b"\xd2", b"\xd3")  # UTF-8 lead bytes of U+0400..U+04FF
_NOT_LATIN = bytes(b for b in range(256) if not (65 <= b <= 90 or 97 <= b <= 122))


class ProblemError(Exception):
    """An error answered as problem+json with ``status`` and ``detail``."""

    def __init__(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None):
        self.status, self.title, self.detail, self.headers = status, title, detail, headers


def problem_response(status: int, title: str, detail: str, errors=None, headers=None) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, errors=errors).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


class RequestGuard:
    """Pure ASGI middleware: API keys (401), content type (415) and body size (413).

    The size limit is enforced on ``Content-Length`` and again on the bytes actually received,
    since a chunked body has no length and uvicorn sets no limit of its own.
    """

    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.settings = settings
        self.keys = [k.encode() for k in settings.api_keys]

    def _authorised(self, headers: dict[bytes, bytes]) -> bool:
        supplied = headers.get(b"x-api-key")
        auth = headers.get(b"authorization", b"")
        if supplied is None and auth.lower().startswith(b"bearer "):
            supplied = auth[7:].strip()
        if supplied is None:
            return False
        # compare against every key so timing does not reveal which one nearly matched
        return any([hmac.compare_digest(supplied, key) for key in self.keys])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        path = scope["path"]
        if self.keys and path not in PUBLIC_PATHS and not self._authorised(headers):
            return await problem_response(
                401, "Unauthorized", "a valid API key is required in the X-API-Key header",
                headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
        if scope["method"] == "POST" and path in BODY_PATHS:
            ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if ctype != b"application/json":
                shown = ctype.decode("latin-1") or "none"
                return await problem_response(
                    415, "Unsupported Media Type",
                    f"send the body as application/json (got {shown})")(scope, receive, send)
            limit = self.settings.max_body_bytes
            declared = headers.get(b"content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > limit):
                return await problem_response(
                    413, "Content Too Large", f"the body is larger than the limit of {limit} bytes"
                )(scope, receive, send)
            # Read the body here, never past the limit, then replay it to the app.
            chunks, received, more = [], 0, True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return None  # client went away
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    return await problem_response(
                        413, "Content Too Large", f"the body is larger than the limit of {limit} bytes"
                    )(scope, receive, send)
                chunks.append(chunk)
                more = message.get("more_body", False)
            replayed = False

            async def replay():
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                return await receive()

            return await self.app(scope, replay, send)
        return await self.app(scope, receive, send)



class Observer:
    """Pure ASGI middleware: count, time and log every request (method, route, status, size).

    Logs never carry the text or the key."""

    def __init__(self, app: ASGIApp, metrics: "Metrics"):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            name = getattr(scope.get("route"), "path", "unmatched")  # the router sets it in scope
            elapsed = time.perf_counter() - started
            method = scope["method"]
            self.metrics.requests.labels(method, name, str(status)).inc()
            self.metrics.latency.labels(method, name).observe(elapsed)
            size = dict(scope["headers"]).get(b"content-length", b"0").decode("latin-1")
            log.info("%s %s %s %.1fms %sB", method, name, status, elapsed * 1000, size)


class Metrics:
    """Prometheus counters of one worker process."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("framing_requests_total", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("framing_request_duration_seconds", "Request latency", ["method", "route"],
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
                                 registry=self.registry)
        self.paragraphs = Counter("framing_paragraphs_scored_total", "Paragraphs scored", registry=self.registry)


def detect_lang(text: str) -> str:
    """'ru' when Cyrillic letters outnumber Latin ones, else 'en'.

    Counted on the UTF-8 bytes (lead bytes of U+0400..U+04FF against ASCII letters): C-speed
    ``bytes.count``/``translate`` instead of a Python loop over characters."""
    raw = text.encode("utf-8", "surrogatepass")
    cyrillic = sum(map(raw.count, _CYRILLIC_LEADS))
    return "ru" if cyrillic > len(raw.translate(None, _NOT_LATIN)) else "en"


def document_json(result: DocumentResult, lang: str | None) -> dict[str, Any]:
    paragraphs = []
    for p in result.paragraphs:
        paragraphs.append({
            "index": p.index, "start": p.start, "end": p.end, "text": p.text,
            "lang": lang or detect_lang(p.text), "scores": p.scores, "labels": p.labels,
            "evidence": {label: [{"term": e.term, "weight": e.weight, "spans": e.spans} for e in evs]
                         for label, evs in p.evidence.items()},
        })
    return {"paragraphs": paragraphs, "summary": result.summary}


def create_app(settings: Settings | None = None, model: FramingModel | None = None) -> FastAPI:
    """Build the app. The model is loaded once, in the lifespan, unless one is passed in."""
    settings = settings or Settings()
    metrics = Metrics()
    if not log.handlers:  # uvicorn configures only its own loggers
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(settings.log_level.upper())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.model is None:
            try:
                app.state.model = FramingModel.load_shared(settings.model_path)
            except ModelLoadError as exc:
                # stay up so /healthz answers, but /readyz and scoring fail: never made-up scores
                app.state.model_error = str(exc)
                log.error("model not loaded: %s", exc)
        # Everything alive now (modules, the model) lives as long as the process: keep it out of
        # the cyclic collector's full passes, which otherwise stall a request for tens of ms.
        gc.collect()
        gc.freeze()
        yield

    app = FastAPI(
        title="Framing classifier",
        version="1.0.0",
        summary="Tags paragraphs with sovereignty, sanctions and ontological-security framings.",
        lifespan=lifespan,
        telemetry=None if settings.otel else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.model, app.state.model_error = model, None  # a given model serves even without lifespan

    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST"], allow_headers=["*"])

    # the guard runs before anything reads the body; the observer (added later, so outside it)
    # still counts and logs what the guard refuses
    app.add_middleware(RequestGuard, settings=settings)

    app.add_middleware(Observer, metrics=metrics)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
        return problem_response(422, "Unprocessable Content", detail or "invalid body", errors[:20])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400:  # FastAPI's answer to a body it cannot decode (bad UTF-8, nesting)
            return problem_response(422, "Unprocessable Content",
                                    "the body is not valid JSON in UTF-8 (or is nested too deeply)")
        return problem_response(exc.status_code, _title(exc.status_code), str(exc.detail),
                                headers=getattr(exc, "headers", None))

    @app.exception_handler(ProblemError)
    async def problem_error(request: Request, exc: ProblemError):
        return problem_response(exc.status, exc.title, exc.detail, headers=exc.headers)

    @app.exception_handler(RecursionError)
    async def too_deep(request: Request, exc: RecursionError):
        return problem_response(422, "Unprocessable Content", "the JSON body is nested too deeply")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(500, "Internal Server Error", "the server failed to handle this request")

    def ready_model(request: Request) -> FramingModel:
        model_ = request.app.state.model
        if model_ is None:
            raise ProblemError(503, "Service Unavailable", "the model is not loaded; see /readyz")
        return model_

    def paragraphs_of(model_: FramingModel, text: str | None, paragraphs) -> list:
        parts = model_.split(text, paragraphs, settings.max_paragraph_chars)
        if len(parts) > settings.max_paragraphs:  # refuse before any scoring
            raise ProblemError(413, "Content Too Large",
                               f"{len(parts)} paragraphs exceed the limit of {settings.max_paragraphs}")
        return parts

    def scored_document(model_: FramingModel, parts, explain: bool, thresholds, lang, proba=None) -> dict[str, Any]:
        scored = model_.score_paragraphs(parts, thresholds, explain=explain, top_k=settings.explain_top_k,
                                         proba=proba)
        result = DocumentResult(scored, model_.summarize(scored))
        metrics.paragraphs.inc(len(scored))
        return document_json(result, lang)

    def classify_document(model_: FramingModel, text: str | None, paragraphs, explain: bool,
                          thresholds, lang) -> dict[str, Any]:
        return scored_document(model_, paragraphs_of(model_, text, paragraphs), explain, thresholds, lang)

    # small requests without evidence, read in the same loop turn, are scored in one call
    coalescer = ScoreCoalescer(lambda texts: app.state.model.predict_proba(texts))

    async def off_loop_if_large(size: int, fn, *args):
        """Score small requests on the event loop (no thread hop: lowest latency) and large ones
        in the thread pool, so one long request never stops the server from reading others
        (graceful shutdown waits only for requests it has read)."""
        if size <= INLINE_CHARS:
            return fn(*args)
        return await run_in_threadpool(fn, *args)

    def header(model_: FramingModel, thresholds) -> dict[str, Any]:
        resolved = model_.resolve_thresholds(thresholds)
        return {"model": {"name": model_.metadata.get("name", "framing"),
                          "version": model_.metadata.get("version", "0")},
                "thresholds": dict(zip(model_.labels, resolved.tolist()))}

    @app.post("/v1/classify", response_model=ClassifyResponse, tags=["classify"],
              summary="Classify one text paragraph by paragraph", responses=POST_ERRORS)
    async def classify(body: ClassifyRequest, request: Request):
        model_ = ready_model(request)
        size = len(body.text or "") + sum(map(len, body.paragraphs or ()))
        if size <= INLINE_CHARS and not body.explain:
            parts = paragraphs_of(model_, body.text, body.paragraphs)
            proba = await coalescer.predict_proba([p.text for p in parts])
            doc = scored_document(model_, parts, False, body.thresholds, body.lang, proba)
        else:
            doc = await off_loop_if_large(size, classify_document, model_, body.text, body.paragraphs,
                                          body.explain, body.thresholds, body.lang)
        return {**header(model_, body.thresholds), **doc}

    @app.post("/v1/classify/batch", response_model=BatchResponse, tags=["classify"],
              summary="Classify several documents", responses=POST_ERRORS)
    async def classify_batch(body: BatchRequest, request: Request):
        model_ = ready_model(request)
        if len(body.documents) > settings.max_batch_documents:
            raise ProblemError(413, "Content Too Large",
                               f"{len(body.documents)} documents exceed the limit of {settings.max_batch_documents}")
        def score_all():
            return [{"id": d.id, **classify_document(model_, d.text, None, body.explain, body.thresholds, None)}
                    for d in body.documents]

        results = await off_loop_if_large(sum(len(d.text) for d in body.documents), score_all)
        return {**header(model_, body.thresholds), "results": results}

    @app.get("/v1/labels", response_model=LabelsResponse, tags=["model"], summary="The label set", responses=GET_ERRORS)
    def labels(request: Request):
        model_ = request.app.state.model
        thresholds = dict(zip(model_.labels, model_.thresholds.tolist())) if model_ else {}
        return {"labels": [{"name": l.name, "title": l.title, "description": l.description,
                            "include": list(l.include), "exclude": list(l.exclude),
                            "threshold": thresholds.get(l.name, 0.5)} for l in load_codebook()]}

    @app.get("/v1/model", response_model=ModelInfo, tags=["model"], summary="Model metadata and metrics", responses=GET_ERRORS)
    def model_info(request: Request):
        meta = dict(ready_model(request).metadata)
        meta.pop("selection", None)
        return meta

    @app.get("/healthz", response_model=Health, tags=["ops"], summary="The process is alive")
    def healthz():
        return {"status": "ok"}

    @app.get("/readyz", response_model=Health, tags=["ops"], summary="The model is loaded",
             responses=_problems(503))
    def readyz(request: Request):
        if request.app.state.model is None:
            raise ProblemError(503, "Service Unavailable", f"model not loaded: {request.app.state.model_error}")
        return {"status": "ready"}

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics of this worker",
             response_class=Response, responses=GET_ERRORS)
    def prometheus():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    page = resources.files("app").joinpath("web/index.html").read_text("utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index():
        return HTMLResponse(page)

    return app


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
