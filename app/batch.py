"""``framing score``: stream documents through the model in chunks, in parallel, resumably.

Flow: inputs -> records (batch_io) -> chunks of ``chunk_size`` documents -> one worker call per
chunk (``FramingModel.score_frame``) -> numbered part files -> final output by atomic rename.
Chunks are cut from the input in a fixed order, so after a crash ``--resume`` skips the chunks
whose parts are complete and recomputes the rest: each paragraph ends up in the output once.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import shutil
import sys
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import batch_io
from .batch_io import BatchInputError, RawLines, Record
from .model import DEFAULT_MODEL_PATH, FramingModel, sha256_file

RESERVED = {"doc_id", "paragraph", "start", "end", "labels", "text", "paragraphs"}


@dataclass
class ScoreOptions:
    """Everything that decides the output; stored with a run so ``--resume`` can check it."""

    inputs: list[str]
    text_field: str = "text"
    id_field: str = "id"
    chunk_size: int = 500
    documents: bool = False
    group_by: str | None = None
    include_text: bool = False
    thresholds: dict[str, float] = field(default_factory=dict)
    model_sha256: str = ""


_MODELS: dict[str, FramingModel] = {}


def _model(path: str) -> FramingModel:
    """One model per worker process, loaded on first use and kept."""
    if path not in _MODELS:
        _MODELS[path] = FramingModel.load(path)
    return _MODELS[path]


def group_key(value: Any, spec: str) -> str:
    """The group of a carried value: as is, or its month/year with ``COLUMN:month``/``:year``."""
    _, _, unit = spec.partition(":")
    if value is None or value != value:
        return "(missing)"
    if unit in ("month", "year"):
        stamp = pd.to_datetime(value, errors="coerce", utc=True)
        if pd.isna(stamp):
            return "(unparsed date)"
        return stamp.strftime("%Y-%m" if unit == "month" else "%Y")
    return str(value)


def _safe_columns(extra: dict[str, Any]) -> dict[str, Any]:
    return {(f"input_{k}" if k in RESERVED or k.startswith(("score_", "share_", "max_")) else k): v
            for k, v in extra.items()}


def score_and_write_chunk(model_path: str, units: list[Record | RawLines], options: ScoreOptions, partial: Path,
                          index: int, suffix: str) -> dict:
    """Parse, score and write chunk ``index`` in the worker (the reading process only cuts the
    input and collects stats); ``suffix`` is the output's, so the part is rendered for it here."""
    records = batch_io.parse_units(units, options.text_field, options.id_field)
    rows, docs, errors, stats = score_chunk(model_path, records, options)
    batch_io.write_part(partial, index, rows, docs, errors, stats, suffix)
    return stats


def score_chunk(model_path: str, records: list[Record], options: ScoreOptions):
    """Score one chunk: (paragraph rows, document rows or None, error rows, stats)."""
    model = _model(model_path)
    labels = model.labels
    errors = [{"input": r.source, "position": r.position, "id": r.doc_id, "reason": r.error}
              for r in records if r.error]
    good = [r for r in records if not r.error]
    frame = pd.DataFrame([{"doc_id": r.doc_id, "text": r.text, **_safe_columns(r.extra)} for r in good])
    if good:
        rows = model.score_frame(frame, text_column="text", id_column="doc_id",
                                 thresholds=options.thresholds or None, include_text=options.include_text)
    else:
        rows = model.score_frame(pd.DataFrame({"doc_id": [], "text": []}), "text", "doc_id")
    scored_docs = set(rows["doc_id"])
    for r in good:  # text with no letters or digits gives no paragraph: report, never drop
        if r.doc_id not in scored_docs:
            errors.append({"input": r.source, "position": r.position, "id": r.doc_id,
                           "reason": "no paragraphs to score (no letters or digits)"})
    stats: dict[str, Any] = {"documents": len(scored_docs), "paragraphs": len(rows), "errors": len(errors),
                             "labels": {l: int(rows["labels"].map(lambda v, l=l: l in v).sum()) for l in labels},
                             "doc_labels": {}, "groups": {}}
    docs = None
    if len(rows):
        flags = pd.DataFrame({l: rows["labels"].map(lambda v, l=l: l in v) for l in labels})
        flags["doc_id"] = rows["doc_id"].to_numpy()
        per_doc = flags.groupby("doc_id", sort=False).any()
        stats["doc_labels"] = {l: int(per_doc[l].sum()) for l in labels}
        if options.group_by:
            column = options.group_by.split(":")[0]
            if column not in rows.columns:
                raise BatchInputError(f"--group-by: no column {column!r} in the input")
            keys = rows[column].map(lambda v: group_key(v, options.group_by))
            for key, sub in flags.assign(_group=keys.to_numpy()).groupby("_group", sort=True):
                stats["groups"][key] = {"documents": int(sub["doc_id"].nunique()), "paragraphs": len(sub),
                                        "labels": {l: int(sub[l].sum()) for l in labels}}
        if options.documents:
            docs = document_rows(rows, labels)
    else:
        stats["doc_labels"] = {l: 0 for l in labels}
    if not options.include_text and "text" in rows:
        rows = rows.drop(columns="text")
    return rows, docs, errors, stats


def document_rows(rows: pd.DataFrame, labels: tuple[str, ...]) -> pd.DataFrame:
    """One row per document: carried columns, paragraph count, share and max score per label."""
    carried = [c for c in rows.columns if c not in {"doc_id", "paragraph", "start", "end", "labels", "text"}
               and not c.startswith("score_")]
    grouped = rows.groupby("doc_id", sort=False)
    out = grouped[carried].first() if carried else pd.DataFrame(index=grouped.size().index)
    out["paragraphs"] = grouped.size()
    for label in labels:
        has = rows["labels"].map(lambda v, l=label: l in v)
        out[f"share_{label}"] = has.groupby(rows["doc_id"], sort=False).mean()
        out[f"max_{label}"] = grouped[f"score_{label}"].max()
    out["labels"] = [[l for l in labels if out.at[d, f"share_{l}"] > 0] for d in out.index]
    return out.reset_index()


def _worker_context() -> multiprocessing.context.BaseContext:
    """Fork where the platform has it: workers start at once with the imports and the model the
    reading process already loaded (with spawn each would import and load again, which costs more
    than a small job's scoring)."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def _worker_init() -> None:
    """Workers die with the reading process (kill -9 included), so no orphan writes a part while a
    ``--resume`` run redoes it; Ctrl-C is left to the reading process, which stops the pool."""
    import signal

    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass
class ScoreResult:
    stats: dict
    seconds: float
    output: Path
    documents_output: Path | None
    errors_output: Path
    labels: tuple[str, ...] = ()


def run_score(options: ScoreOptions, output: Path, *, model_path: Path | None = None, jobs: int = 1,
              errors_output: Path | None = None, resume: bool = False, overwrite: bool = False,
              progress: bool = False) -> ScoreResult:
    """Run a scoring job; see the module docstring. Raises BatchInputError for unusable setups."""
    from tqdm import tqdm

    started = time.perf_counter()
    model_path = Path(model_path or DEFAULT_MODEL_PATH)
    batch_io.check_output(output)
    paths = batch_io.expand_inputs(options.inputs)
    if resume and batch_io.STDIN in paths:
        raise BatchInputError("--resume cannot re-read standard input; score a file instead")
    options.model_sha256 = sha256_file(model_path) if model_path.is_file() else ""
    partial = output.with_name(output.name + ".partial")
    errors_output = errors_output or output.with_name(output.name + ".errors.jsonl")
    documents_output = output.with_name(f"{output.stem}.documents{output.suffix}") if options.documents else None
    manifest = partial / "manifest.json"
    suffix = output.suffix.lower()
    labels = _model(str(model_path)).labels  # fail now, with one clear line, before writing anything
    # the imports and the model live as long as the process: frozen, collections skip them, and
    # forked workers do not copy their pages by touching them (as the gc module's docs advise)
    gc.freeze()

    if resume:
        if not manifest.exists():
            raise BatchInputError(f"nothing to resume: {partial} does not exist")
        saved = json.loads(manifest.read_text("utf-8"))
        if saved != asdict(options):
            raise BatchInputError(f"--resume needs the same inputs, options and model as the interrupted run "
                                  f"(recorded in {manifest})")
    else:
        if partial.exists():
            raise BatchInputError(f"{partial} is left from an interrupted run: add --resume to finish it, "
                                  f"or delete it to start over")
        if output.exists() and not overwrite:
            raise BatchInputError(f"{output} exists: add --overwrite to replace it")
        partial.mkdir()
        manifest.write_text(json.dumps(asdict(options)), "utf-8")

    done = batch_io.completed_parts(partial)
    total = batch_io.count_records(paths) if progress else None  # a pass over the input, only for the ETA
    bar = tqdm(total=total, unit="doc", disable=not progress, file=sys.stderr, dynamic_ncols=True,
               desc="scoring")
    paragraphs_seen = 0

    def pending():
        chunks = batch_io.iter_chunks(paths, options.chunk_size, options.text_field, options.id_field)
        for index, chunk in enumerate(chunks):
            if index < done:
                bar.update(batch_io.units_in(chunk))
                continue
            yield index, chunk

    def results():
        work = pending()
        if jobs <= 1:
            for index, chunk in work:
                yield batch_io.units_in(chunk), score_and_write_chunk(str(model_path), chunk, options, partial, index, suffix)
        else:
            # at most 2*jobs chunks in flight (memory stays flat); each worker writes its own part;
            # results come back in input order
            with ProcessPoolExecutor(jobs, mp_context=_worker_context(), initializer=_worker_init) as pool:
                in_flight: deque = deque()
                for index, chunk in work:
                    in_flight.append((batch_io.units_in(chunk), pool.submit(score_and_write_chunk, str(model_path), chunk,
                                                              options, partial, index, suffix)))
                    if len(in_flight) >= 2 * jobs:
                        size, future = in_flight.popleft()
                        yield size, future.result()
                while in_flight:
                    size, future = in_flight.popleft()
                    yield size, future.result()

    try:
        for size, stats in results():
            paragraphs_seen += stats["paragraphs"]
            bar.update(size)
            elapsed = max(time.perf_counter() - started, 1e-9)
            bar.set_postfix(paragraphs=paragraphs_seen, per_s=f"{paragraphs_seen / elapsed:.0f}", refresh=False)
    finally:
        bar.close()

    stats = batch_io.finalize(partial, batch_io.completed_parts(partial), output, documents_output, errors_output)
    shutil.rmtree(partial)
    return ScoreResult(stats, time.perf_counter() - started, output, documents_output, errors_output, labels)


def format_summary(result: ScoreResult) -> str:
    s, labels = result.stats, result.labels
    lines = [f"documents {s['documents']}, paragraphs {s['paragraphs']}, errors {s['errors']}, "
             f"time {result.seconds:.1f} s ({s['paragraphs'] / max(result.seconds, 1e-9):.0f} paragraphs/s)",
             f"output: {result.output}" + (f", documents: {result.documents_output}" if result.documents_output else "")]
    if s["errors"]:
        lines.append(f"errors: {result.errors_output}")
    lines.append("")
    lines.append(f"{'label':22s} {'paragraphs':>10s} {'share':>7s} {'documents':>10s} {'share':>7s}")
    for label in labels:
        n, d = s["labels"].get(label, 0), s["doc_labels"].get(label, 0)
        lines.append(f"{label:22s} {n:10d} {n / max(s['paragraphs'], 1):7.1%} {d:10d} {d / max(s['documents'], 1):7.1%}")
    if s["groups"]:
        lines.append("")
        lines.append(f"{'group':20s} {'docs':>6s} {'paras':>7s} " + " ".join(f"{l[:12]:>12s}" for l in labels))
        for group in sorted(s["groups"]):
            g = s["groups"][group]
            shares = " ".join(f"{g['labels'].get(l, 0) / max(g['paragraphs'], 1):12.1%}" for l in labels)
            lines.append(f"{group[:20]:20s} {g['documents']:6d} {g['paragraphs']:7d} {shares}")
    return "\n".join(lines)


def plot_groups(stats: dict, labels: tuple[str, ...], path: Path, title: str) -> None:
    """Share of paragraphs per label and group: lines over time for dates, bars otherwise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = sorted(stats["groups"]) or ["all"]
    source = stats["groups"] or {"all": {"paragraphs": stats["paragraphs"], "labels": stats["labels"]}}
    shares = {l: [source[g]["labels"].get(l, 0) / max(source[g]["paragraphs"], 1) for g in groups] for l in labels}
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(groups) + 3), 4.5))
    over_time = ":" in title
    x = np.arange(len(groups))
    for k, label in enumerate(labels):
        if over_time:
            ax.plot(x, shares[label], marker="o", label=label)
        else:
            ax.bar(x + (k - 1) * 0.27, shares[label], width=0.27, label=label)
    ax.set_xticks(x, groups, rotation=45 if len(groups) > 6 else 0, ha="right" if len(groups) > 6 else "center")
    ax.set_ylabel("share of paragraphs")
    ax.set_title(f"Framings by {title}")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
