"""Train the framing model: grouped cross-validation, calibrated scores, tuned thresholds.

Steps (all seeded):

1. Folds: paragraphs are grouped by writing batch (id prefix ``en-b03``), because paragraphs
   written together share style and topics; whole groups are assigned to folds so that each fold
   gets a similar share of every language and label (iterative stratification on groups).
2. Model selection: each candidate (feature settings x C x class weight x pair augmentation) is
   scored by out-of-fold macro-F1 at per-label best thresholds, averaged over three test
   conditions: the held-out paragraphs as written; held-out *mixed pairs* (two paragraphs of a
   language joined, labels united), because real paragraphs mix topics; and held-out *diluted*
   paragraphs (a labelled paragraph joined with two no-label ones, its labels kept), because real
   text often states a framing once in a long passage about other things. A corpus of
   single-purpose paragraphs tests neither. The training data get the same two augmentations,
   drawn from the training rows. The most regularised candidate within one standard error of the
   best is chosen (the 1-SE rule), to favour generalisation.
3. Calibration and thresholds: the chosen model, wrapped in sigmoid calibration, gives
   out-of-fold probabilities; each label's threshold maximises F1 on them, with no-label
   paragraphs weighted up so that they make 60% of the data, as in real text (the corpus has
   fewer), so thresholds are not set for a corpus richer in framings than the world is.
4. The final pipeline is fitted on the whole corpus and saved with skops (compressed), with
   ``framing.json`` (hashes, versions, thresholds, metrics) and PNG plots.
"""

from __future__ import annotations

import json
import platform
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion, Pipeline

from app.features import CompactTfidfVectorizer
from app.labels import LABELS
from app.model import sha256_file
from app.scorer import LinearTfidfScorer

from .corpus import CORPUS_DIR, corpus_sha256, label_matrix, load_corpus
from .evaluate import label_scores

SEED = 20261122
N_FOLDS = 5
REAL_NONE_SHARE = 0.6  # share of no-label paragraphs in real text (stated in the issue)
MODEL_NAME = "framing-tfidf"
MODEL_VERSION = "1.0.0"

# Candidate settings: feature variants x regularisation x class weighting x pair augmentation.
# (char n-grams from 2 instead of 3 scored within 0.001 of this at every grid point of the last
# three trainings and were never chosen; dropped to keep training under 5 minutes)
FEATURE_GRID: dict[str, dict[str, Any]] = {  # simpler first: the 1-SE rule prefers earlier entries
    "word12_char35": {"word": (1, 2), "char": (3, 5), "min_df": 2, "max_char_features": 150_000},
}
# 0.5 trailed by 0.02 macro-F1 in every earlier training; 2 trailed 8 and 32 in the last two (0.911 against
# 0.916 and 0.920) and was dropped to make room for diluted rows within 5 minutes
C_GRID = (8.0, 32.0)
#: share of the training rows that are also joined with a random partner of their language. With
#: (0, 0.5) in the grid, 0.5 won at every C (combined macro-F1 0.911/0.916/0.920 against
#: 0.895/0.905/0.909 for C = 2/8/32; mixed pairs 0.887-0.902 against 0.850-0.872, as written
#: 0.934-0.938 against 0.939-0.946); 0 is no longer fitted, to keep training under 5 minutes
AUGMENT_SHARES = (0.5,)
#: share of the training rows that are also *diluted*: joined with two random no-label rows of their
#: language, keeping their own labels (a framing in one third of a long text). A corpus-only test at
#: C=8 (5 grouped folds, ``pairs`` 0.5 in both arms) gave, without and with 0.3: as written 0.938 and
#: 0.937, mixed pairs 0.894 and 0.900, held-out diluted rows 0.809 and 0.833. The seed articles showed
#: the failure it aims at: a framing stated once in a long paragraph about something else is missed.
DILUTE_SHARE = 0.3
# "balanced" only: per-label thresholds are tuned afterwards, which undoes a uniform weighting, and
# unweighted fits never differed by more than 0.001 macro-F1 at any grid point (the last two
# trainings); dropping them keeps training under 5 minutes on 2 cores
CLASS_WEIGHTS = ("balanced",)


def make_features(word: tuple[int, int], char: tuple[int, int], min_df: int,
                  max_char_features: int) -> FeatureUnion:
    """Word and character TF-IDF, sublinear tf, each block L2-normalised."""
    return FeatureUnion(
        [
            ("word", CompactTfidfVectorizer(ngram_range=word, min_df=min_df, max_df=0.9,
                                     sublinear_tf=True, dtype=np.float64)),
            ("char", CompactTfidfVectorizer(analyzer="char_wb", ngram_range=char, min_df=min_df,
                                     max_df=0.9, sublinear_tf=True,
                                     max_features=max_char_features, dtype=np.float64)),
        ]
    )


CALIBRATION_FOLDS = 3


def make_classifier(C: float, class_weight: str | None, calibrated: bool, seed: int = SEED, n_jobs: int | None = None):
    base = LogisticRegression(C=C, class_weight=class_weight, solver="liblinear",
                              max_iter=2000, random_state=seed)
    if calibrated:
        base = CalibratedClassifierCV(base, method="sigmoid", cv=CALIBRATION_FOLDS, ensemble=False)
    return OneVsRestClassifier(base, n_jobs=n_jobs)


def group_of(row: dict) -> str:
    """The writing batch a paragraph came from: its id without the running number."""
    return str(row["id"]).rsplit("-", 1)[0]


def grouped_folds(rows: list[dict], Y: np.ndarray, n_folds: int = N_FOLDS) -> np.ndarray:
    """Fold number per row; whole groups go to the fold that most lacks their labels/language.

    Greedy iterative stratification on groups: targets are each fold's fair share of every
    (language, label) count and of the group sizes.
    """
    langs = sorted({r.get("lang", "en") for r in rows})
    groups = [group_of(r) for r in rows]
    names = sorted(set(groups))
    if len(names) < n_folds:  # too few batches to group: iterative stratification per paragraph
        from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

        folds = np.zeros(len(rows), dtype=int)
        lang_cols = np.array([[r.get("lang", "en") == lang for lang in langs] for r in rows], dtype=int)
        splitter = MultilabelStratifiedKFold(n_splits=n_folds, shuffle=True, random_state=SEED)
        for k, (_, test) in enumerate(splitter.split(np.zeros(len(rows)), np.hstack([Y, lang_cols]))):
            folds[test] = k
        return folds
    # per-group count vector: [size, per lang: n, n per label]
    def vector(idx: list[int]) -> np.ndarray:
        v = [len(idx)]
        for lang in langs:
            sub = [i for i in idx if rows[i].get("lang", "en") == lang]
            v.append(len(sub))
            v.extend(Y[sub].sum(axis=0).tolist() if sub else [0] * Y.shape[1])
        return np.array(v, dtype=float)

    members = {g: [i for i, gi in enumerate(groups) if gi == g] for g in names}
    vectors = {g: vector(members[g]) for g in names}
    target = sum(vectors.values()) / n_folds
    load = np.zeros((n_folds, len(target)))
    fold_of_group = {}
    for g in sorted(names, key=lambda g: (-vectors[g][0], g)):
        costs = [np.sum(((load[k] + vectors[g] - target) / np.maximum(target, 1)) ** 2)
                 - np.sum(((load[k] - target) / np.maximum(target, 1)) ** 2)
                 for k in range(n_folds)]
        k = int(np.argmin(costs))
        fold_of_group[g] = k
        load[k] += vectors[g]
    return np.array([fold_of_group[g] for g in groups])


def best_threshold(y: np.ndarray, score: np.ndarray, weight: np.ndarray | None = None) -> tuple[float, float]:
    """Threshold on ``score`` maximising (weighted) F1; returns (threshold, f1)."""
    weight = np.ones_like(score) if weight is None else weight
    order = np.argsort(-score, kind="mergesort")
    s, yy, w = score[order], y[order], weight[order]
    tp = np.cumsum(w * yy)
    fp = np.cumsum(w * (1 - yy))
    total_pos = tp[-1]
    f1 = 2 * tp / (2 * tp + fp + (total_pos - tp))
    # only cut between distinct scores
    valid = np.r_[s[1:] != s[:-1], True]
    f1 = np.where(valid, f1, -1)
    i = int(np.argmax(f1))
    threshold = (s[i] + s[i + 1]) / 2 if i + 1 < len(s) else s[i]
    return float(threshold), float(f1[i])


def none_weights(Y: np.ndarray, none_share: float = REAL_NONE_SHARE) -> np.ndarray:
    """Weights that make no-label rows ``none_share`` of the total weight."""
    is_none = Y.sum(axis=1) == 0
    n_none, n_lab = is_none.sum(), (~is_none).sum()
    if n_none == 0 or n_lab == 0:
        return np.ones(len(Y))
    ratio = none_share * n_lab / ((1 - none_share) * n_none)
    return np.where(is_none, ratio, 1.0)


def mixed_pairs(texts: np.ndarray, Y: np.ndarray, langs: np.ndarray, rows: np.ndarray, share: float,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Joined pairs: ``share`` of ``rows`` (indices), each joined with a random other row of its
    language, in random order; labels are the union. Shapes ``(m,)`` and ``(m, L)``.

    A pair is what real text often is: a framing in one part, something else (or another framing)
    in the rest, so a cue must count even when the paragraph around it is about other things."""
    rng = np.random.default_rng(seed)
    rows = np.asarray(rows)
    if share <= 0 or len(rows) == 0:
        return np.zeros(0, dtype=object), np.zeros((0, Y.shape[1]), dtype=Y.dtype)
    chosen = rng.choice(rows, int(round(share * len(rows))), replace=False)
    by_lang = {lang: rows[langs[rows] == lang] for lang in np.unique(langs[rows])}
    out_texts, out_labels = [], []
    for i in chosen:
        partners = by_lang[langs[i]]
        if len(partners) < 2:
            continue
        j = i
        while j == i:
            j = partners[rng.integers(len(partners))]
        a, b = (i, j) if rng.random() < 0.5 else (j, i)
        out_texts.append(f"{texts[a]} {texts[b]}")
        out_labels.append(Y[a] | Y[b])
    return np.array(out_texts, dtype=object), np.array(out_labels, dtype=Y.dtype).reshape(-1, Y.shape[1])


def diluted_rows(texts: np.ndarray, Y: np.ndarray, langs: np.ndarray, rows: np.ndarray, share: float, seed: int,
                 pool: np.ndarray | None = None, parts: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``share`` of ``rows`` (indices), each joined with ``parts`` random no-label rows of its
    language from ``pool`` (default ``rows``), in random order, keeping its own labels. Shapes
    ``(m,)`` and ``(m, L)``.

    A diluted row is a framing that shapes one part of a long text about other things: the text
    carries the framing (the codebook labels what a paragraph uses), but its cues are a third as
    dense as in the corpus's single-purpose paragraphs."""
    rng = np.random.default_rng(seed)
    rows = np.asarray(rows)
    pool = rows if pool is None else np.asarray(pool)
    empty = np.zeros(0, dtype=object), np.zeros((0, Y.shape[1]), dtype=Y.dtype)
    if share <= 0 or len(rows) == 0:
        return empty
    plain = pool[Y[pool].sum(axis=1) == 0]
    by_lang = {lang: plain[langs[plain] == lang] for lang in np.unique(langs[rows])}
    out_texts, out_labels = [], []
    for i in rng.choice(rows, int(round(share * len(rows))), replace=False):
        others = by_lang[langs[i]][by_lang[langs[i]] != i]
        if len(others) < parts:
            continue
        order = [i, *rng.choice(others, parts, replace=False)]
        rng.shuffle(order)
        out_texts.append(" ".join(texts[j] for j in order))
        out_labels.append(Y[i])
    if not out_texts:
        return empty
    return np.array(out_texts, dtype=object), np.array(out_labels, dtype=Y.dtype)


def with_pairs(texts: np.ndarray, Y: np.ndarray, langs: np.ndarray, rows: np.ndarray, share: float,
               seed: int, dilute: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Training data of ``rows`` plus their pair augmentation (:func:`mixed_pairs`) and diluted
    rows (:func:`diluted_rows`)."""
    pair_texts, pair_Y = mixed_pairs(texts, Y, langs, rows, share, seed)
    dilute_texts, dilute_Y = diluted_rows(texts, Y, langs, rows, dilute, seed + 77)
    return (np.concatenate([texts[rows], pair_texts, dilute_texts]), np.vstack([Y[rows], pair_Y, dilute_Y]))


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-width bins: sum over bins of |mean(p) - mean(y)| * share."""
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            ece += abs(p[mask].mean() - y[mask].mean()) * mask.mean()
    return float(ece)


@dataclass
class Candidate:
    features: str
    C: float
    class_weight: str | None
    augment: float = 0.0
    dilute: float = 0.0
    macro_f1: float = 0.0  # mean of the three conditions
    macro_f1_se: float = 0.0
    macro_f1_plain: float = 0.0
    macro_f1_mixed: float = 0.0
    macro_f1_diluted: float = 0.0


def _fold_features(fparams, texts, Y, langs, folds, k, augment, dilute):
    """Features of fold ``k``: (training labels, held-out row indices, training features, held-out
    features, labels of the held-out mixed pairs, labels of the held-out diluted rows). The training
    rows come with their pairs and diluted rows; the held-out features are the rows as written,
    then mixed pairs (every held-out row joined with another), then diluted rows (every labelled
    held-out row joined with two held-out no-label rows); all fixed per fold."""
    train, test = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
    train_texts, train_Y = with_pairs(texts, Y, langs, train, augment, SEED + k, dilute)
    mixed_texts, mixed_Y = mixed_pairs(texts, Y, langs, test, 1.0, SEED + 1000 + k)
    labelled = test[Y[test].sum(axis=1) > 0]
    diluted_texts, diluted_Y = diluted_rows(texts, Y, langs, labelled, 1.0, SEED + 2000 + k, pool=test)
    feats = make_features(**fparams).fit(texts[train])  # vocabulary and idf from the rows as written
    held_out = feats.transform(np.concatenate([texts[test], mixed_texts, diluted_texts]))
    return train_Y, test, feats.transform(train_texts), held_out, mixed_Y, diluted_Y


def _fold_decisions(Xtr, Ytr, Xte, C, cw):
    return make_classifier(C, cw, calibrated=False).fit(Xtr, Ytr).decision_function(Xte)


def select_model(texts: np.ndarray, Y: np.ndarray, folds: np.ndarray, langs: np.ndarray, log=print,
                 n_jobs: int = 2, keep: dict | None = None) -> list[Candidate]:
    """Grouped-CV macro-F1 of every grid point; returns candidates ranked by the 1-SE rule.

    Out-of-fold decision values on the held-out rows are pooled and each label's best threshold
    found on them; at those thresholds each fold gives a macro-F1 on its rows as written, on its
    mixed pairs and on its diluted rows, and a candidate's score is their mean over folds, with a
    standard error. The chosen
    candidate (first in the returned list) is the most regularised one (smallest C, then the simpler
    feature set, then no augmentation) within one standard error of the best mean: a corpus this
    clean rewards memorising, and real text punishes it. ``keep``, if given, receives each fold set's
    features by (feature set, pairs share), for :func:`cross_validated_probabilities` to reuse.
    """
    from joblib import Parallel, delayed

    fold_ids = np.unique(folds)
    results = []
    for fname, fparams in FEATURE_GRID.items():
        for augment in AUGMENT_SHARES:
            fold_data = Parallel(n_jobs=n_jobs, max_nbytes=None)(
                delayed(_fold_features)(fparams, texts, Y, langs, folds, k, augment, DILUTE_SHARE)
                for k in fold_ids)
            if keep is not None:
                keep[fname, augment] = fold_data
            for C in C_GRID:
                for cw in CLASS_WEIGHTS:
                    decisions = Parallel(n_jobs=n_jobs, max_nbytes=None)(
                        delayed(_fold_decisions)(Xtr, Ytr, Xheld, C, cw) for Ytr, _, Xtr, Xheld, _, _ in fold_data)
                    oof = np.zeros(Y.shape, dtype=float)
                    for (_, test, _, _, _, _), d in zip(fold_data, decisions):
                        oof[test] = d[:len(test)]
                    thresholds = np.array([best_threshold(Y[:, j], oof[:, j])[0] for j in range(Y.shape[1])])
                    plain, mixed, diluted = [], [], []
                    for (_, test, _, _, mixed_Y, diluted_Y), d in zip(fold_data, decisions):
                        hits = (d >= thresholds).astype(int)
                        n, m = len(test), len(test) + len(mixed_Y)
                        plain.append(label_scores(Y[test], hits[:n])["macro_f1"])
                        mixed.append(label_scores(mixed_Y, hits[n:m])["macro_f1"])
                        diluted.append(label_scores(diluted_Y, hits[m:])["macro_f1"])
                    per_fold = (np.array(plain) + np.array(mixed) + np.array(diluted)) / 3
                    cand = Candidate(fname, C, cw, augment, DILUTE_SHARE, float(np.mean(per_fold)),
                                     float(np.std(per_fold, ddof=1) / np.sqrt(len(per_fold))),
                                     float(np.mean(plain)), float(np.mean(mixed)), float(np.mean(diluted)))
                    log(f"  {fname:15s} C={C:<5g} class_weight={str(cw):8s} pairs={augment:<4g} "
                        f"diluted={DILUTE_SHARE:<4g} macro-F1 {cand.macro_f1:.3f} ± {cand.macro_f1_se:.3f} "
                        f"(as written {cand.macro_f1_plain:.3f}, mixed pairs {cand.macro_f1_mixed:.3f}, "
                        f"diluted {cand.macro_f1_diluted:.3f})")
                    results.append(cand)
    best = max(results, key=lambda c: c.macro_f1)
    feature_order = list(FEATURE_GRID)
    eligible = [c for c in results if c.macro_f1 >= best.macro_f1 - best.macro_f1_se]
    chosen = min(eligible, key=lambda c: (c.C, feature_order.index(c.features), c.augment, -c.macro_f1))
    return [chosen] + sorted((c for c in results if c is not chosen), key=lambda c: -c.macro_f1)


def _fold_calibrated(Xtr, Ytr, Xte, C, cw):
    return make_classifier(C, cw, calibrated=True).fit(Xtr, Ytr).predict_proba(Xte)


def cross_validated_probabilities(Y: np.ndarray, cand: Candidate, fold_data: list, n_jobs: int = 2) -> np.ndarray:
    """Out-of-fold calibrated probabilities of ``cand``, shape ``Y.shape``, from the folds' features
    that :func:`select_model` made (its ``keep``: the same rows, augmentations and seeds as
    :func:`fit_pipeline` would use), so only the classifiers are fitted."""
    from joblib import Parallel, delayed

    oof = np.zeros(Y.shape, dtype=float)
    probabilities = Parallel(n_jobs=n_jobs, max_nbytes=None)(
        delayed(_fold_calibrated)(Xtr, Ytr, Xheld[:len(test)], cand.C, cand.class_weight)
        for Ytr, test, Xtr, Xheld, _, _ in fold_data)
    for (_, test, _, _, _, _), proba in zip(fold_data, probabilities):
        oof[test] = proba
    return oof


def fit_pipeline(cand: Candidate, texts: np.ndarray, Y: np.ndarray, langs: np.ndarray, rows: np.ndarray,
                 seed: int, n_jobs: int | None = None) -> Pipeline:
    """The calibrated pipeline of ``cand`` fitted on ``rows``: vocabulary and idf from the rows as
    written (a pair repeats its rows' words, which must not count towards ``min_df``), the
    classifier on the rows plus their pairs."""
    features = make_features(**FEATURE_GRID[cand.features]).fit(texts[rows])
    train_texts, train_Y = with_pairs(texts, Y, langs, rows, cand.augment, seed, cand.dilute)
    clf = make_classifier(cand.C, cand.class_weight, calibrated=True, n_jobs=n_jobs)
    clf.fit(features.transform(train_texts), train_Y)
    return Pipeline([("features", features), ("clf", clf)])


def save_plots(Y: np.ndarray, oof: np.ndarray, out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for j, label in enumerate(LABELS):
        prec, rec, _ = precision_recall_curve(Y[:, j], oof[:, j])
        ax.plot(rec, prec, label=label)
    ax.set(xlabel="recall", ylabel="precision", title="Out-of-fold precision-recall (grouped CV)")
    ax.legend(); ax.grid(alpha=0.3)
    fig.tight_layout(); fig.savefig(out_dir / "pr_curves.png", dpi=100); plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot([0, 1], [0, 1], "k:", label="perfect")
    for j, label in enumerate(LABELS):
        frac, mean = calibration_curve(Y[:, j], oof[:, j], n_bins=10)
        ax.plot(mean, frac, "o-", label=label)
    ax.set(xlabel="predicted probability", ylabel="observed frequency",
           title="Reliability of calibrated scores (grouped CV)")
    ax.legend(); ax.grid(alpha=0.3)
    fig.tight_layout(); fig.savefig(out_dir / "calibration.png", dpi=100); plt.close(fig)
    return ["pr_curves.png", "calibration.png"]


def library_versions() -> dict[str, str]:
    import scipy
    import sklearn
    import skops

    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "skops": skops.__version__, "numpy": np.__version__, "scipy": scipy.__version__}


def train(corpus_dir: Path = CORPUS_DIR, out: Path = Path("models/framing.skops"),
          log=print) -> dict[str, Any]:
    """Train, select, calibrate, save. Returns the metadata written to ``framing.json``."""
    import skops.io as sio

    started = time.perf_counter()
    rows = load_corpus(corpus_dir)
    texts = np.array([r["text"] for r in rows], dtype=object)
    Y = label_matrix(rows)
    langs = np.array([r.get("lang", "en") for r in rows], dtype=object)
    folds = grouped_folds(rows, Y)
    log(f"corpus: {len(rows)} paragraphs from {corpus_dir}; {N_FOLDS} grouped folds")

    fold_features: dict = {}
    ranking = select_model(texts, Y, folds, langs, log, keep=fold_features)
    best = ranking[0]
    log(f"chosen (1-SE rule): {best} [{time.perf_counter() - started:.0f} s]")

    oof = cross_validated_probabilities(Y, best, fold_features[best.features, best.augment])
    del fold_features
    weights = none_weights(Y)
    thresholds = {l: round(best_threshold(Y[:, j], oof[:, j], weights)[0], 4)
                  for j, l in enumerate(LABELS)}
    pred = (oof >= np.array([thresholds[l] for l in LABELS])).astype(int)
    cv = label_scores(Y, pred)
    cv["by_lang"] = {}
    for lang in sorted(set(langs)):
        m = np.array([r.get("lang", "en") == lang for r in rows])
        cv["by_lang"][lang] = {"n": int(m.sum()), **label_scores(Y[m], pred[m])}
    ece = {l: round(expected_calibration_error(Y[:, j], oof[:, j]), 4) for j, l in enumerate(LABELS)}
    log(f"grouped-CV macro-F1 {cv['macro_f1']:.3f} at thresholds {thresholds}; ECE {ece} "
        f"[{time.perf_counter() - started:.0f} s]")

    pipeline = fit_pipeline(best, texts, Y, langs, np.arange(len(rows)), SEED, n_jobs=2)  # labels in parallel
    out.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(pipeline, out, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    scorer_out = out.with_suffix(".npz")
    LinearTfidfScorer.from_pipeline(pipeline, LABELS).save(scorer_out)  # what FramingModel scores with
    plots = save_plots(Y, oof, out.parent)

    n_features = sum(len(v.vocabulary_) for _, v in pipeline.named_steps["features"].transformer_list)
    metadata = {
        "name": MODEL_NAME,
        "version": MODEL_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "artifact": out.name,
        "artifact_sha256": sha256_file(out),
        "artifact_bytes": out.stat().st_size,
        "scorer": scorer_out.name,
        "scorer_sha256": sha256_file(scorer_out),
        "scorer_bytes": scorer_out.stat().st_size,
        "corpus_sha256": corpus_sha256(corpus_dir),
        "corpus_paragraphs": len(rows),
        "corpus_by_lang": {lang: sum(r.get("lang") == lang for r in rows) for lang in sorted(set(langs))},
        "seed": SEED,
        "libraries": library_versions(),
        "labels": list(LABELS),
        "thresholds": thresholds,
        "params": {"features": best.features, **{k: list(v) if isinstance(v, tuple) else v
                                                  for k, v in FEATURE_GRID[best.features].items()},
                   "C": best.C, "class_weight": best.class_weight, "augment_pairs": best.augment,
                   "augment_diluted": best.dilute,
                   "calibration": f"sigmoid, cv={CALIBRATION_FOLDS}",
                   "n_features": n_features},
        "selection": [c.__dict__ for c in ranking],
        "metrics": {"cross_validation": cv, "ece": ece,
                    "threshold_prior_none_share": REAL_NONE_SHARE},
        "plots": plots,
        "training_seconds": round(time.perf_counter() - started, 1),
    }
    out.with_suffix(".json").write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n")
    log(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) and {out.with_suffix('.json')} "
        f"in {metadata['training_seconds']} s")
    return metadata
