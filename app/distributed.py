"""``framing score --engine dask``: the same pandas scoring on a dask.distributed cluster.

Reads (partitioned) Parquet, CSV or JSONL with ``dask.dataframe``; ``map_partitions`` runs
:meth:`FramingModel.score_frame` on every partition (each worker loads the model once) and
writes that partition's rows as ``part-NNNNN.parquet`` in the output folder, returning its row
counts. Needs the ``dask`` extra: ``pip install '.[dask]'``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from .batch_io import BatchInputError
from .model import DEFAULT_MODEL_PATH, FramingModel

_WORKER_MODELS: dict[str, FramingModel] = {}


def _score_partition(part: pd.DataFrame, model_path: str, text_field: str, id_field: str | None,
                     output: str, thresholds: dict[str, float] | None = None, partition_info=None) -> pd.DataFrame:
    """Score one partition, write its Parquet file; returns its (paragraphs, documents, skipped)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if model_path not in _WORKER_MODELS:
        _WORKER_MODELS[model_path] = FramingModel.load(model_path)
    model = _WORKER_MODELS[model_path]
    usable = part[text_field].map(lambda t: isinstance(t, str) and bool(t.strip()))
    rows = model.score_frame(part[usable], text_column=text_field, id_column=id_field, thresholds=thresholds)
    number = partition_info["number"] if partition_info else 0
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), f"{output}/part-{number:05d}.parquet")
    return pd.DataFrame({"paragraphs": [len(rows)], "documents": [int(usable.sum())],
                         "skipped": [int((~usable).sum())]})


def _read(inputs: list[str]):
    import dask.dataframe as dd

    suffixes = {Path(i).suffix.lower() for i in inputs if not Path(i).is_dir()}
    if all(Path(i).is_dir() for i in inputs) or suffixes == {".parquet"}:
        return dd.read_parquet(inputs)
    if suffixes == {".csv"}:
        return dd.read_csv(inputs, dtype=str, blocksize="16MB")
    if suffixes <= {".jsonl", ".ndjson"}:
        return dd.read_json(inputs, lines=True, blocksize="16MB", dtype=False)
    raise BatchInputError("--engine dask reads Parquet (files or folders), CSV or JSONL inputs of one kind")


def score_with_dask(inputs: list[str], output: Path, scheduler: str = "local", text_field: str = "text",
                    id_field: str | None = "id", model_path: Path | None = None, n_workers: int = 2,
                    thresholds: dict[str, float] | None = None) -> dict:
    """Score ``inputs`` on a cluster (a scheduler address, or ``local`` for a local one), with
    per-label ``thresholds`` overriding the model's if given.

    Returns the totals: partitions, documents, paragraphs, and documents skipped because their
    text was missing or empty (reported, never silently dropped).
    """
    from dask.distributed import Client, LocalCluster

    model_path = str(Path(model_path or DEFAULT_MODEL_PATH).resolve())
    FramingModel.load(model_path).resolve_thresholds(thresholds)  # refuse a bad model or label before the cluster starts
    ddf = _read(list(inputs))
    if text_field not in ddf.columns:
        raise BatchInputError(f"no column {text_field!r} in the input (columns: {list(ddf.columns)})")
    id_column = id_field if id_field in ddf.columns else None
    if output.exists():
        shutil.rmtree(output) if output.is_dir() else output.unlink()
    output.mkdir(parents=True)
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           dashboard_address=None) if scheduler == "local" else None
    try:
        with Client(cluster if cluster else scheduler):
            counts = ddf.map_partitions(
                _score_partition, model_path, text_field, id_column, str(output.resolve()), thresholds or None,
                meta={"paragraphs": "int64", "documents": "int64", "skipped": "int64"},
            ).compute()
    finally:
        if cluster is not None:
            cluster.close()
    return {"partitions": len(counts), **{k: int(counts[k].sum()) for k in counts.columns}}
