"""The framing model: load it once, score paragraphs, explain, summarise.

The model is saved twice by ``framing train``, side by side:

- ``framing.skops``: the fitted scikit-learn ``Pipeline`` (``features``: FeatureUnion of word and
  char_wb TF-IDF; ``clf``: one-vs-rest calibrated logistic regression), for inspection,
  evaluation and retraining. Loaded with skops, refusing untrusted types.
- ``framing.npz``: the same numbers as plain arrays (:mod:`app.scorer`), which is what
  ``FramingModel`` scores with: it needs neither scikit-learn nor skops, so a server worker or a
  batch job stays small and loads fast. Its scores equal ``pipeline.predict_proba`` to 1e-9
  (tested).

``framing.json`` holds the sha256 of both files; loading refuses a file that does not match.
A model folder without the ``.npz`` (an older or hand-made model) still loads: the scorer is
then built from the skops pipeline.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from .labels import LABELS
from .scorer import LinearTfidfScorer

if TYPE_CHECKING:
    import pandas as pd
from .segment import DEFAULT_MAX_CHARS, Paragraph, segment

#: The shipped model, relative to the source tree (``pip install -e .`` or a checkout).
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "framing.skops"

#: Types outside skops' default trust list that the calibrated pipeline needs. Anything else
#: found in an artifact is refused before it is loaded.
TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "app.features.CompactTfidfVectorizer",  # this package's own vectorizer
)

_WORD = re.compile(r"(?u)\b\w\w+\b")


class ModelLoadError(RuntimeError):
    """The model file is missing, unreadable, tampered with, or holds untrusted types."""


@dataclass
class Evidence:
    """A word that pushed one label's score up, with its share of the linear score."""

    term: str
    weight: float
    spans: list[tuple[int, int]]


@dataclass
class ParagraphResult:
    """Scores and labels of one paragraph; ``start``/``end`` index the original text."""

    index: int
    start: int
    end: int
    text: str
    scores: dict[str, float]
    labels: list[str]
    evidence: dict[str, list[Evidence]] = field(default_factory=dict)


@dataclass
class DocumentResult:
    """Paragraph results plus the document summary."""

    paragraphs: list[ParagraphResult]
    summary: dict[str, Any]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_pipeline(path: Path) -> Any:
    """Load a skops pipeline, refusing any type outside skops' defaults and TRUSTED_TYPES.

    ``skops.io.load`` audits the file's type tree before it builds anything and raises on a type
    that is not trusted, so one parse both checks and loads.
    """
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"model file {path} does not exist")
    try:
        return sio.load(path, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException as exc:
        refused = ", ".join(sorted(set(exc.args[0]) if isinstance(exc.args[0], (list, set)) else [str(exc)]))
        raise ModelLoadError(f"model file {path} holds untrusted types: {refused}") from exc
    except Exception as exc:  # truncated, not a zip, not skops
        raise ModelLoadError(f"model file {path} is not a readable skops file ({exc})") from exc


_SHARED: dict[str, "FramingModel"] = {}


class FramingModel:
    """A loaded framing model with per-label thresholds.

    Parameters
    ----------
    pipeline : sklearn Pipeline
        ``features`` (FeatureUnion of TF-IDF vectorizers) then ``clf`` (one-vs-rest calibrated
        logistic regression), fitted on label order ``labels``.
    metadata : dict
        The ``framing.json`` content; ``thresholds`` maps label -> decision threshold.
    """

    def __init__(self, scorer: LinearTfidfScorer, metadata: Mapping[str, Any], path: Path | None = None,
                 pipeline: Any = None):
        self.scorer = scorer
        self.metadata = dict(metadata)
        self.labels: tuple[str, ...] = tuple(self.metadata.get("labels", LABELS))
        if self.labels != scorer.labels:
            raise ModelLoadError(f"the metadata's labels {list(self.labels)} differ from the model's {list(scorer.labels)}")
        thresholds = self.metadata.get("thresholds", {})
        self.thresholds = np.array([float(thresholds.get(l, 0.5)) for l in self.labels])
        self.path = path
        self._pipeline = pipeline

    @property
    def pipeline(self) -> Any:
        """The fitted scikit-learn pipeline from ``framing.skops`` (loaded on first use)."""
        if self._pipeline is None:
            if self.path is None:
                raise ModelLoadError("this model was not loaded from a file and has no pipeline")
            self._pipeline = load_pipeline(self.path)
        return self._pipeline

    # -- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None, verify: bool = True) -> FramingModel:
        """Load a model from ``framing.skops``'s folder: ``framing.json`` (same stem) and the
        scorer ``framing.npz``, or the skops pipeline when there is no ``.npz``.

        With ``verify`` (default) each file's sha256 must match the metadata, so a truncated or
        swapped file is refused instead of serving made-up scores.
        """
        path = Path(path) if path is not None else DEFAULT_MODEL_PATH
        meta_path, scorer_path = path.with_suffix(".json"), path.with_suffix(".npz")
        if not path.is_file():
            raise ModelLoadError(f"model file {path} does not exist")
        if not meta_path.is_file():
            raise ModelLoadError(f"model metadata {meta_path} does not exist")
        try:
            metadata = json.loads(meta_path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"model metadata {meta_path} is not valid JSON ({exc})") from exc
        use_scorer = scorer_path.is_file() and "scorer_sha256" in metadata
        if verify:
            checks = [(path, "artifact_sha256")] + ([(scorer_path, "scorer_sha256")] if use_scorer else [])
            for file, key in checks:
                expected, actual = metadata.get(key), sha256_file(file)
                if expected != actual:
                    raise ModelLoadError(
                        f"model file {file} does not match its metadata (sha256 {actual[:12]}..., "
                        f"expected {str(expected)[:12]}...): truncated or replaced"
                    )
        labels = tuple(metadata.get("labels", LABELS))
        if use_scorer:
            try:
                return cls(LinearTfidfScorer.load(scorer_path), metadata, path)
            except ValueError as exc:
                raise ModelLoadError(f"model file {scorer_path} is not a readable scorer ({exc})") from exc
        pipeline = load_pipeline(path)
        return cls(LinearTfidfScorer.from_pipeline(pipeline, labels), metadata, path, pipeline)

    @classmethod
    def load_shared(cls, path: str | Path | None = None) -> FramingModel:
        """:meth:`load`, once per process and path: ``framing serve`` checks the model before
        uvicorn starts and the app's lifespan then reuses it instead of loading it again."""
        key = str(Path(path) if path is not None else DEFAULT_MODEL_PATH)
        if key not in _SHARED:
            _SHARED[key] = cls.load(key)
        return _SHARED[key]

    # -- scoring -------------------------------------------------------------------------
    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """TF-IDF features, shape ``(len(texts), n_features)``, equal to the pipeline's."""
        return self.scorer.transform(list(texts))

    def score_matrix(self, X: sp.spmatrix) -> np.ndarray:
        """Calibrated probabilities from :meth:`transform`'s features, ``(n, n_labels)``."""
        return self.scorer.score_matrix(X)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probability per label, shape ``(len(texts), n_labels)``."""
        return self.scorer.predict_proba(list(texts))

    def resolve_thresholds(self, overrides: Mapping[str, float] | None = None) -> np.ndarray:
        """The model's thresholds with per-label ``overrides`` applied."""
        thresholds = self.thresholds.copy()
        for name, value in (overrides or {}).items():
            if name not in self.labels:
                raise ValueError(f"unknown label {name!r}; labels are {', '.join(self.labels)}")
            thresholds[self.labels.index(name)] = float(value)
        return thresholds

    def predict_indicators(self, texts: Sequence[str], thresholds: Mapping[str, float] | None = None) -> np.ndarray:
        """0/1 per text and label, shape ``(len(texts), n_labels)``: score >= the label's threshold."""
        return (self.predict_proba(texts) >= self.resolve_thresholds(thresholds)).astype(int)

    def predict(
        self, texts: Sequence[str], thresholds: Mapping[str, float] | None = None
    ) -> list[list[str]]:
        """Labels per text (a list of label names, empty for none)."""
        hits = self.predict_indicators(texts, thresholds)
        return [[l for l, hit in zip(self.labels, row) if hit] for row in hits]

    # -- tables --------------------------------------------------------------------------
    def score_frame(
        self,
        df: "pd.DataFrame",
        text_column: str = "text",
        id_column: str | None = None,
        thresholds: Mapping[str, float] | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
        include_text: bool = False,
    ) -> "pd.DataFrame":
        """Segment and score every document of ``df``; one row per paragraph.

        Columns: ``doc_id`` (from ``id_column``, else the row's index), ``paragraph``, ``start``,
        ``end``, every other column of ``df`` carried through, ``score_<label>`` per label and
        ``labels`` (list of label names). Documents whose text is missing or has no letters or
        digits give no rows (:meth:`FramingModel.score_frame` callers that must account for them,
        like ``framing score``, check before). Row order follows ``df`` then paragraph order.
        """
        import pandas as pd

        if text_column not in df.columns:
            raise KeyError(f"no column {text_column!r}; columns are {list(df.columns)}")
        carried = [c for c in df.columns if c not in (text_column, id_column)]
        ids = df[id_column].astype(str).tolist() if id_column else [str(i) for i in df.index]
        owners, paragraphs = [], []
        for row, text in enumerate(df[text_column].tolist()):
            if isinstance(text, str):
                for p in segment(text, max_chars=max_chars):
                    owners.append(row)
                    paragraphs.append(p)
        proba = self.predict_proba([p.text for p in paragraphs])
        limits = self.resolve_thresholds(thresholds)
        out = pd.DataFrame({
            "doc_id": pd.Series([ids[r] for r in owners], dtype="str"),
            "paragraph": pd.Series([p.index for p in paragraphs], dtype="int64"),
            "start": pd.Series([p.start for p in paragraphs], dtype="int64"),
            "end": pd.Series([p.end for p in paragraphs], dtype="int64"),
        })
        if include_text:
            out["text"] = pd.Series([p.text for p in paragraphs], dtype="str")
        source = (df.iloc[owners] if owners else df.iloc[0:0]).reset_index(drop=True)
        for column in carried:
            out[column] = source[column]  # keeps the column's dtype
        for j, label in enumerate(self.labels):
            out[f"score_{label}"] = proba[:, j] if len(paragraphs) else np.zeros(0)
        hits = proba >= limits
        out["labels"] = pd.Series([[l for l, h in zip(self.labels, row) if h] for row in hits], dtype=object)
        return out

    # -- explanation ---------------------------------------------------------------------
    def explain(self, text: str, X_row: sp.csr_matrix, top_k: int = 5) -> dict[str, list[Evidence]]:
        """The words that pushed each label's score up most.

        Each feature's contribution ``x_j * w_j`` is shared among the words it came from: a
        word unigram to its occurrences, a bigram half to each of its two words, a character
        n-gram to the words containing it. Words are then ranked by their summed contribution.
        """
        scorer = self.scorer
        tokens = [(m.group().lower(), m.start(), m.end()) for m in _WORD.finditer(text)]
        if not tokens:
            return {label: [] for label in self.labels}
        X_row = X_row.tocsr()
        values = dict(zip(X_row.indices.tolist(), X_row.data.tolist()))
        contrib = np.zeros((len(tokens), len(self.labels)))
        # feature index -> list of token positions it came from (with multiplicity)
        owners: dict[int, list[tuple[int, ...]]] = {}
        word_vocab = scorer.word_vocab
        lower = [t for t, _, _ in tokens]
        for n in range(scorer.word_ngram_range[0], scorer.word_ngram_range[1] + 1):
            for i in range(len(lower) - n + 1):
                j = word_vocab.get(" ".join(lower[i : i + n]))
                if j is not None:
                    owners.setdefault(j, []).append(tuple(range(i, i + n)))
        char_ids = scorer.char_ids(lower)
        for i, token in enumerate(lower):
            for j in char_ids[token]:
                owners.setdefault(j, []).append((i,))
        for j, places in owners.items():
            x = values.get(j)
            if not x:
                continue
            share = x * scorer.coef[j] / len(places)
            for place in places:
                for i in place:
                    contrib[i] += share / len(place)
        result: dict[str, list[Evidence]] = {}
        for k, label in enumerate(self.labels):
            by_term: dict[str, Evidence] = {}
            for i, (term, start, end) in enumerate(tokens):
                ev = by_term.setdefault(term, Evidence(term, 0.0, []))
                ev.weight += contrib[i, k]
                ev.spans.append((start, end))
            ranked = sorted((e for e in by_term.values() if e.weight > 0), key=lambda e: -e.weight)
            for ev in ranked:
                ev.weight = round(float(ev.weight), 4)
            result[label] = ranked[:top_k]
        return result

    # -- documents -----------------------------------------------------------------------
    def score_paragraphs(
        self,
        paragraphs: Sequence[Paragraph],
        thresholds: Mapping[str, float] | None = None,
        explain: bool = False,
        top_k: int = 5,
        proba: np.ndarray | None = None,
    ) -> list[ParagraphResult]:
        """Score already segmented paragraphs in one vectorised pass. ``proba``, shape
        ``(len(paragraphs), n_labels)``, is their :meth:`predict_proba` when the caller already
        has it (then ``explain`` must be off: the evidence needs the feature matrix)."""
        limits = self.resolve_thresholds(thresholds)
        texts = [p.text for p in paragraphs]
        if not texts:
            return []
        if explain:  # the evidence needs the feature matrix
            if proba is not None:
                raise ValueError("explain needs the features; do not pass proba with explain=True")
            X = self.transform(texts)
            proba = self.score_matrix(X)
        elif proba is None:
            proba = self.predict_proba(texts)
        elif proba.shape != (len(texts), len(self.labels)):
            raise ValueError(f"proba has shape {proba.shape}, expected {(len(texts), len(self.labels))}")
        results = []
        for row, (p, scores) in enumerate(zip(paragraphs, proba)):
            results.append(
                ParagraphResult(
                    index=p.index,
                    start=p.start,
                    end=p.end,
                    text=p.text,
                    scores={l: float(s) for l, s in zip(self.labels, scores)},
                    labels=[l for l, s, t in zip(self.labels, scores, limits) if s >= t],
                    evidence=self.explain(p.text, X[row], top_k) if explain else {},
                )
            )
        return results

    def analyze(
        self,
        text: str | None = None,
        paragraphs: Sequence[str] | None = None,
        thresholds: Mapping[str, float] | None = None,
        explain: bool = True,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> DocumentResult:
        """Segment ``text`` (or take ``paragraphs`` as given), score, explain and summarise."""
        parts = self.split(text, paragraphs, max_chars)
        results = self.score_paragraphs(parts, thresholds, explain=explain)
        return DocumentResult(results, self.summarize(results))

    @staticmethod
    def split(text: str | None = None, paragraphs: Sequence[str] | None = None,
              max_chars: int = DEFAULT_MAX_CHARS) -> list[Paragraph]:
        """Segment ``text``, or take ``paragraphs`` as given (offsets as if joined by blank lines)."""
        if (text is None) == (paragraphs is None):
            raise ValueError("give exactly one of text or paragraphs")
        if text is not None:
            return segment(text, max_chars=max_chars)
        parts, offset = [], 0
        for i, p in enumerate(paragraphs):
            parts.append(Paragraph(i, offset, offset + len(p), p))
            offset += len(p) + 2
        return parts

    def summarize(self, results: Iterable[ParagraphResult]) -> dict[str, Any]:
        """Share of paragraphs per framing and the strongest paragraph per framing."""
        results = list(results)
        n = len(results)
        summary: dict[str, Any] = {"paragraphs": n, "labels": {}}
        for label in self.labels:
            hits = [r for r in results if label in r.labels]
            best = max(results, key=lambda r: r.scores[label], default=None)
            summary["labels"][label] = {
                "paragraphs": len(hits),
                "share": round(len(hits) / n, 4) if n else 0.0,
                "max_score": round(best.scores[label], 4) if best else 0.0,
                "strongest_paragraph": best.index if best and hits else None,
            }
        summary["framed_paragraphs"] = sum(1 for r in results if r.labels)
        return summary
