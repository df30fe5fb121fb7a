"""The peer: the minimal FastAPI endpoint a user would write around the same skops pipeline.

    uvicorn bench.naive_app:app
"""

import skops.io as sio
from fastapi import FastAPI

from app.model import DEFAULT_MODEL_PATH

pipeline = sio.load(DEFAULT_MODEL_PATH, trusted=sio.get_untrusted_types(file=DEFAULT_MODEL_PATH))
labels = ["sovereignty", "sanctions", "ontological_security"]
app = FastAPI()


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.post("/v1/classify")
def classify(body: dict):
    paragraphs = [p for p in body["text"].split("\n\n") if p.strip()]
    proba = pipeline.predict_proba(paragraphs)
    return {"paragraphs": [{"text": p, "scores": dict(zip(labels, row))} for p, row in zip(paragraphs, proba.tolist())]}
