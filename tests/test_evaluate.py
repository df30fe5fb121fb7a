"""The evaluation figures are scikit-learn's, computed for every bootstrap resample at once."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_recall_fscore_support

from app.labels import LABELS
from training import evaluate


def sklearn_scores(Y, P):
    p, r, f, s = precision_recall_fscore_support(Y, P, zero_division=0, labels=range(Y.shape[1]))
    return p, r, f, s, f1_score(Y, P, average="macro", zero_division=0), f1_score(Y, P, average="micro", zero_division=0)


@pytest.mark.parametrize("seed", range(5))
def test_label_scores_equal_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    Y, P = rng.integers(0, 2, (n, len(LABELS))), rng.integers(0, 2, (n, len(LABELS)))
    Y[:, 2] = 0  # a label nobody has, and (below) one nobody predicts: zero_division cases
    P[:, 1] = 0
    got = evaluate.label_scores(Y, P)
    p, r, f, s, macro, micro = sklearn_scores(Y, P)
    assert got["macro_f1"] == pytest.approx(macro, abs=1e-12)
    assert got["micro_f1"] == pytest.approx(micro, abs=1e-12)
    for j, label in enumerate(LABELS):
        m = got["per_label"][label]
        assert (m["precision"], m["recall"], m["f1"], m["support"]) == pytest.approx((p[j], r[j], f[j], s[j]), abs=1e-12)


def test_bootstrap_intervals_are_the_percentiles_of_scikit_learns_scores_on_the_resamples():
    rng = np.random.default_rng(3)
    Y, P = rng.integers(0, 2, (40, len(LABELS))), rng.integers(0, 2, (40, len(LABELS)))
    got = evaluate.score_with_intervals(Y, P, samples=50)
    draws = np.random.default_rng(evaluate.BOOTSTRAP_SEED)
    macro, f1_first = [], []
    for _ in range(50):
        idx = draws.integers(0, 40, 40)
        _, _, f, _, m, _ = sklearn_scores(Y[idx], P[idx])
        macro.append(m)
        f1_first.append(f[0])
    assert got["macro_f1_ci"] == [round(float(np.percentile(macro, q)), 4) for q in (2.5, 97.5)]
    assert got["per_label"][LABELS[0]]["f1_ci"] == [round(float(np.percentile(f1_first, q)), 4) for q in (2.5, 97.5)]
    assert got["n"] == 40


def test_average_precision_per_label_and_language_is_scikit_learns():
    from sklearn.metrics import average_precision_score, f1_score

    rng = np.random.default_rng(3)
    n = 80
    rows = [{"text": f"t{i}", "lang": "en" if i % 3 else "ru",
             "labels": [l for l in LABELS if rng.random() < 0.3]} for i in range(n)]
    rows[0]["lang"] = "de"  # a language where no paragraph carries a label: AP is undefined there
    rows[0]["labels"] = []
    S = rng.random((n, len(LABELS)))
    report = evaluate.evaluate(rows, samples=10, scores=lambda texts: S, thresholds=np.full(len(LABELS), 0.5))
    Y = evaluate.label_matrix(rows)
    assert report["per_label"][LABELS[0]]["recall"] == pytest.approx(
        ((S[:, 0] >= 0.5) & (Y[:, 0] == 1)).sum() / Y[:, 0].sum())  # decisions at the given thresholds
    Y = evaluate.label_matrix(rows)
    for lang, mask in [(None, np.ones(n, bool))] + [(l, np.array([r["lang"] == l for r in rows])) for l in ("en", "ru")]:
        sec = report if lang is None else report["by_lang"][lang]
        expected = [average_precision_score(Y[mask, j], S[mask, j]) for j in range(len(LABELS))]
        got = [sec["per_label"][l]["average_precision"] for l in LABELS]
        np.testing.assert_allclose(got, expected, rtol=1e-12)
        assert sec["macro_average_precision"] == pytest.approx(np.mean(expected))
        for j, l in enumerate(LABELS):  # the best F1 is reached at its threshold, and no cut does better
            m = sec["per_label"][l]
            y, s = Y[mask, j], S[mask, j]
            assert f1_score(y, s >= m["best_threshold"]) == pytest.approx(m["best_f1"])
            assert max(f1_score(y, s >= c) for c in np.unique(s)) == pytest.approx(m["best_f1"])
    assert all(m["average_precision"] is None for m in report["by_lang"]["de"]["per_label"].values())
    assert report["by_lang"]["de"]["macro_average_precision"] is None
    text = evaluate.format_report(report, "x")
    assert "AP" in text and "mean AP" in text
