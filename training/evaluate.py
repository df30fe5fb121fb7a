"""Evaluate a model on labelled JSONL, per label and language, with bootstrap intervals.

Baselines reported beside the model: a keyword lexicon per label, and "always none".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from app.labels import LABELS

from .corpus import label_matrix

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 7

#: Word stems per label (English and Russian), matched at word starts, case-insensitively.
#: Written from the codebook's in-rules, not from any evaluation text.
KEYWORDS: dict[str, tuple[str, ...]] = {
    "sovereignty": (
        "sovereign tech", "technological sovereignty", "digital sovereignty", "tech sovereignty",
        "technological independence", "import substitution", "self-sufficien", "self-relian",
        "homegrown", "home-grown", "domestic alternative", "localis", "localiz", "decoupl",
        "de-dollar", "dedollar", "strategic autonomy", "indigenous", "sovereign ai",
        "sovereign cloud", "sovereign internet",
        "технологическ суверенитет", "технологического суверенитета", "суверенитет",
        "импортозамещ", "отечественн", "самодостаточ", "независимост", "локализац",
        "доллар", "суверенн",
    ),
    "sanctions": (
        "sanction", "export control", "embargo", "price cap", "asset freeze", "frozen asset",
        "swift", "parallel import", "left the russian market", "exited russia", "blacklist",
        "entity list", "restrictive measures",
        "санкци", "эмбарго", "ограничительн", "параллельн импорт", "параллельного импорта",
        "ушедш", "ушли с российского рынка", "потолок цен", "заморож",
    ),
    "ontological_security": (
        "great power", "historical truth", "historical unity", "our ancestors", "glory",
        "national pride", "identity", "victory", "gagarin", "sputnik", "rightful place",
        "civilisation", "civilization", "humiliation", "greatness", "ontological",
        "великая держав", "великой держав", "историческ правд", "исторической правды",
        "единств", "победа", "победы", "гагарин", "спутник", "предки", "предков",
        "гордост", "величи", "цивилизац", "идентичност",
    ),
}


def keyword_predict(texts: Sequence[str], keywords: dict[str, tuple[str, ...]] = KEYWORDS) -> np.ndarray:
    """Indicator matrix: a label fires when any of its stems starts a word of the text."""
    patterns = {
        label: re.compile(r"(?<!\w)(?:" + "|".join(re.escape(k) for k in stems) + ")", re.IGNORECASE)
        for label, stems in keywords.items()
    }
    return np.array([[1 if patterns[l].search(t) else 0 for l in LABELS] for t in texts], dtype=int)


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall and F1 from counts (any shape), 0 where undefined, as scikit-learn's
    ``zero_division=0``; the last axis is the label."""
    def divide(a, b):
        return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)

    tp, fp, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn))
    f1 = divide(2 * tp, 2 * tp + fp + fn)
    micro = divide(2 * tp.sum(-1), 2 * tp.sum(-1) + fp.sum(-1) + fn.sum(-1))
    return {"precision": divide(tp, tp + fp), "recall": divide(tp, tp + fn), "f1": f1,
            "macro_f1": f1.mean(-1), "micro_f1": micro}


def _weighted_counts(Y: np.ndarray, P: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives and false negatives per label, each row of ``W`` (shape
    ``(B, n)``: how often each paragraph is drawn) one weighting; shapes ``(B, L)``."""
    Y, P = np.asarray(Y, dtype=np.int64), np.asarray(P, dtype=np.int64)
    return W @ (Y * P), W @ ((1 - Y) * P), W @ (Y * (1 - P))


def label_scores(Y: np.ndarray, P: np.ndarray) -> dict[str, Any]:
    """Macro/micro F1 and per-label precision, recall, F1, support of indicator matrices."""
    tp, fp, fn = _weighted_counts(Y, P, np.ones((1, len(Y)), dtype=np.int64))
    m = _prf(tp[0], fp[0], fn[0])
    support = np.asarray(Y, dtype=np.int64).sum(0)
    return {
        "macro_f1": float(m["macro_f1"]),
        "micro_f1": float(m["micro_f1"]),
        "per_label": {l: {"precision": float(m["precision"][j]), "recall": float(m["recall"][j]),
                          "f1": float(m["f1"][j]), "support": int(support[j])} for j, l in enumerate(LABELS)},
    }


def _interval(values: np.ndarray) -> list[float]:
    return [round(float(np.percentile(values, 2.5)), 4), round(float(np.percentile(values, 97.5)), 4)]


def score_with_intervals(Y: np.ndarray, P: np.ndarray, samples: int = BOOTSTRAP_SAMPLES) -> dict[str, Any]:
    """Point metrics plus percentile-bootstrap 95% intervals (paragraphs resampled).

    Every resample is a row of draw counts, so all of them are scored with three matrix products.
    With ``samples=0`` there are no intervals."""
    result = label_scores(Y, P)
    n = len(Y)
    if n and samples > 0:
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        W = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(samples)])
        boots = _prf(*_weighted_counts(Y, P, W))
        result["macro_f1_ci"] = _interval(boots["macro_f1"])
        result["micro_f1_ci"] = _interval(boots["micro_f1"])
        for j, l in enumerate(LABELS):
            for k in ("precision", "recall", "f1"):
                result["per_label"][l][f"{k}_ci"] = _interval(boots[k][:, j])
    result["n"] = int(n)
    return result


def evaluate_predictions(rows: list[dict], P: np.ndarray, samples: int = BOOTSTRAP_SAMPLES) -> dict[str, Any]:
    """Overall and per-language metrics of predictions ``P`` for labelled ``rows``."""
    Y = label_matrix(rows)
    report = score_with_intervals(Y, P, samples)
    report["by_lang"] = {}
    for lang in sorted({r.get("lang") or "unknown" for r in rows}):
        mask = np.array([(r.get("lang") or "unknown") == lang for r in rows])
        report["by_lang"][lang] = score_with_intervals(Y[mask], P[mask], samples)
    return report


def ranking_scores(Y: np.ndarray, S: np.ndarray) -> dict[str, dict[str, float] | None]:
    """Per label, what scores ``S`` can do whatever the threshold: ``average_precision`` (area
    under the precision-recall curve, as scikit-learn's ``average_precision_score``), and
    ``best_f1`` with the ``best_threshold`` that reaches it on these paragraphs (the top of the
    curve: a hindsight figure for this data, not a tuned setting). None for a label without
    positives."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    Y = np.asarray(Y)
    out: dict[str, dict[str, float] | None] = {}
    for j, label in enumerate(LABELS):
        if not Y[:, j].any():
            out[label] = None
            continue
        precision, recall, cuts = precision_recall_curve(Y[:, j], S[:, j])
        f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(precision),
                       where=precision + recall > 0)[:-1]  # the last point has no threshold
        k = int(np.argmax(f1))
        out[label] = {"average_precision": float(average_precision_score(Y[:, j], S[:, j])),
                      "best_f1": float(f1[k]), "best_threshold": float(cuts[k])}
    return out


def add_ranking(report: dict[str, Any], rows: list[dict], S: np.ndarray) -> None:
    """Put each label's :func:`ranking_scores` of scores ``S`` (shape ``(n, L)``) into ``report``'s
    per-label entries (None where undefined), overall and per language, and the mean average
    precision as ``macro_average_precision``."""
    Y = label_matrix(rows)
    langs = np.array([r.get("lang") or "unknown" for r in rows])
    for section, mask in [(report, np.ones(len(rows), dtype=bool))] + [
            (sec, langs == lang) for lang, sec in report["by_lang"].items()]:
        ranking = ranking_scores(Y[mask], S[mask])
        for label, values in ranking.items():
            section["per_label"][label].update(values or dict.fromkeys(("average_precision", "best_f1", "best_threshold")))
        defined = [v["average_precision"] for v in ranking.values() if v is not None]
        section["macro_average_precision"] = float(np.mean(defined)) if defined else None


def evaluate(rows: list[dict], predict: Callable[[list[str]], np.ndarray] | None = None,
             samples: int = BOOTSTRAP_SAMPLES, *, scores: Callable[[list[str]], np.ndarray] | None = None,
             thresholds: np.ndarray | None = None) -> dict[str, Any]:
    """The model's report with the two baselines under ``baselines``.

    The model's decisions come from ``predict`` (0/1 per text and label), or from ``scores``
    (probabilities, shape ``(n, L)``) at ``thresholds`` (shape ``(L,)``), the texts scored once.
    With ``scores`` the report also has each label's ranking figures (:func:`add_ranking`)."""
    texts = [r["text"] for r in rows]
    S = None if scores is None else np.asarray(scores(texts), dtype=np.float64)
    if predict is not None:
        P = predict(texts)
    elif S is not None and thresholds is not None:
        P = (S >= np.asarray(thresholds)).astype(int)
    else:
        raise ValueError("give predict, or scores with thresholds")
    report = evaluate_predictions(rows, P, samples)
    if S is not None:
        add_ranking(report, rows, S)
    report["baselines"] = {
        "keyword": evaluate_predictions(rows, keyword_predict(texts), samples),
        "always_none": evaluate_predictions(rows, np.zeros((len(rows), len(LABELS)), dtype=int), samples),
    }
    return report


def format_report(report: dict[str, Any], title: str) -> str:
    """Plain-text tables: per label and language, then the baselines side by side."""
    def ci(v): return f"[{v[0]:.2f}, {v[1]:.2f}]" if v else ""
    def ap(v): return f"{v:.3f}" if v is not None else "-"
    def best(m): return f"{m['best_f1']:.3f} @ {m['best_threshold']:.3f}" if m.get("best_f1") is not None else "-"
    lines = [f"{title}: n={report['n']}"]
    if report.get("thresholds"):
        lines.append("thresholds: " + ", ".join(f"{l} {v:.3f}" for l, v in report["thresholds"].items()))
    sections = [("all", report)] + list(report["by_lang"].items())
    for name, sec in sections:
        lines.append("")
        ranked = "macro_average_precision" in sec
        lines.append(f"{name} (n={sec['n']}): macro-F1 {sec['macro_f1']:.3f} {ci(sec.get('macro_f1_ci'))}"
                     f"  micro-F1 {sec['micro_f1']:.3f} {ci(sec.get('micro_f1_ci'))}"
                     + (f"  mean AP {ap(sec['macro_average_precision'])}" if ranked else ""))
        lines.append(f"  {'label':22s} {'precision':>9s} {'recall':>7s} {'F1':>6s} {'F1 95% CI':>14s} {'support':>8s}"
                     + (f" {'AP':>6s} {'best F1 at':>16s}" if ranked else ""))
        for label, m in sec["per_label"].items():
            lines.append(f"  {label:22s} {m['precision']:9.3f} {m['recall']:7.3f} {m['f1']:6.3f} "
                         f"{ci(m.get('f1_ci')):>14s} {m['support']:8d}"
                         + (f" {ap(m['average_precision']):>6s} {best(m):>16s}" if ranked else ""))
    lines.append("")
    lines.append("macro-F1 against baselines:")
    header = f"  {'':10s} {'model':>22s} {'keyword':>22s} {'always none':>22s}"
    lines.append(header)
    for name, _ in sections:
        cells = []
        for rep in (report, report["baselines"]["keyword"], report["baselines"]["always_none"]):
            sec = rep if name == "all" else rep["by_lang"][name]
            cells.append(f"{sec['macro_f1']:.3f} {ci(sec.get('macro_f1_ci'))}")
        lines.append(f"  {name:10s} " + " ".join(f"{c:>22s}" for c in cells))
    if "macro_average_precision" in report:
        lines.append("")
        lines.append("AP: average precision, how well the scores rank paragraphs whatever the thresholds. "
                     "Best F1 at: the highest F1 any threshold gives on this data, and that threshold (hindsight: "
                     "check it on other labelled text before using it with --threshold).")
    return "\n".join(lines)
