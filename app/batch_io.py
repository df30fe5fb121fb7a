"""Batch I/O: read documents from files and folders, write paragraph/document tables.

Readers stream one :class:`Record` at a time and never drop a bad one: a record that cannot be
used (invalid JSON, missing or non-string text, undecodable bytes, empty text) is yielded with
``error`` set, so the caller can count and report it.

Writers never expose a half-written file: results go to numbered Parquet part files inside
``OUTPUT.partial/`` (each written to a temporary name and renamed), and only
:func:`finalize` turns them into ``OUTPUT`` (JSONL, CSV or Parquet, by extension), again
through a temporary file and an atomic rename.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TEXT_SUFFIXES = {".txt", ".md"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
TABLE_SUFFIXES = {".csv", ".parquet"}
INPUT_SUFFIXES = TEXT_SUFFIXES | JSONL_SUFFIXES | TABLE_SUFFIXES
OUTPUT_SUFFIXES = {".jsonl", ".ndjson", ".csv", ".parquet"}
STDIN = "-"
_SURROGATE = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)


class BatchInputError(ValueError):
    """An input or output path that cannot be used at all (the run does not start)."""


@dataclass
class Record:
    """One input document, or the reason it could not be read."""

    source: str
    position: int  # 1-based line (JSONL), row (CSV/Parquet) or 1 (a text file)
    doc_id: str = ""
    text: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def expand_inputs(inputs: Iterable[str]) -> list[str]:
    """Files to read, in order: folders are walked recursively (sorted), '-' is stdin."""
    paths: list[str] = []
    for item in inputs:
        if item == STDIN:
            paths.append(STDIN)
            continue
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES)
            if not found:
                raise BatchInputError(f"{path}: no .txt, .md, .jsonl, .ndjson, .csv or .parquet files inside")
            paths.extend(str(p) for p in found)
        elif path.is_file():
            if path.suffix.lower() not in INPUT_SUFFIXES:
                raise BatchInputError(f"{path}: unsupported input type (use {', '.join(sorted(INPUT_SUFFIXES))})")
            paths.append(str(path))
        else:
            raise BatchInputError(f"{path}: no such file or folder")
    return paths


def _scalar(value: Any) -> Any:
    """Carried values stay scalars: nested JSON is kept as its JSON text."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _from_mapping(source: str, position: int, row: dict, text_field: str, id_field: str) -> Record:
    rec = Record(source, position, doc_id=f"{source}:{position}")
    if id_field in row and row[id_field] is not None and row[id_field] == row[id_field]:
        rec.doc_id = str(row[id_field])
    rec.extra = {k: _scalar(v) for k, v in row.items() if k not in (text_field, id_field)}
    if text_field not in row:
        rec.error = f"missing text field {text_field!r}"
        return rec
    text = row[text_field]
    if text is None or (isinstance(text, float) and text != text):
        rec.error = f"text field {text_field!r} is null"
    elif not isinstance(text, str):
        rec.error = f"text field {text_field!r} is not a string ({type(text).__name__})"
    elif _SURROGATE.search(text):
        rec.error = "undecodable bytes (not UTF-8)"
    elif not text.strip():
        rec.error = "empty text"
    else:
        rec.text = text
    return rec


@dataclass
class RawLines:
    """Consecutive JSONL lines of one input, not yet parsed: the reading process only cuts the
    input into chunks and the scoring workers parse, so the reader is never the bottleneck of
    ``--jobs``. One object per run of lines (not per line) keeps the reader's work and the
    transfer to a worker at the cost of the bytes themselves."""

    source: str
    first: int  # line number of ``lines[0]``, from 1
    lines: list[bytes]

    def __len__(self) -> int:
        return len(self.lines)


def parse_line(source: str, number: int, data: bytes, text_field: str, id_field: str) -> Record | None:
    """The record of one JSONL line (with ``error`` set when unusable); None for a blank line."""
    if not data.strip():
        return None
    try:
        line = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Record(source, number, doc_id=f"{source}:{number}",
                      error=f"undecodable bytes (not UTF-8) at byte {exc.start}")
    try:
        obj = json.loads(line)
    except ValueError as exc:
        return Record(source, number, doc_id=f"{source}:{number}", error=f"invalid JSON ({exc.args[0]})")
    if not isinstance(obj, dict):
        return Record(source, number, doc_id=f"{source}:{number}", error="a line must be a JSON object")
    return _from_mapping(source, number, obj, text_field, id_field)


def parse_units(units: Iterable[Record | RawLines], text_field: str, id_field: str) -> list[Record]:
    """Records of a chunk cut by :func:`iter_chunks` (raw lines parsed, blank lines dropped)."""
    records = []
    for unit in units:
        if isinstance(unit, RawLines):
            for number, data in enumerate(unit.lines, unit.first):
                record = parse_line(unit.source, number, data, text_field, id_field)
                if record is not None:
                    records.append(record)
        else:
            records.append(unit)
    return records


def units_in(chunk: list[Record | RawLines]) -> int:
    """Input units (documents and blank lines) in a chunk."""
    return sum(len(u) if isinstance(u, RawLines) else 1 for u in chunk)


def _text_file(path: str) -> Iterator[Record]:
    rec = Record(path, 1, doc_id=path)
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        rec.error = f"undecodable bytes (not UTF-8) at byte {exc.start}"
        yield rec
        return
    if not text.strip():
        rec.error = "empty text"
    else:
        rec.text = text
    yield rec


def _csv_rows(path: str, text_field: str, id_field: str) -> Iterator[Record]:
    with open(path, "rb") as raw:
        stream = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        reader = csv.DictReader(stream)
        for number, row in enumerate(reader, 1):
            row.pop(None, None)  # cells beyond the header
            yield _from_mapping(path, number, row, text_field, id_field)


def _parquet_rows(path: str, text_field: str, id_field: str) -> Iterator[Record]:
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # not a Parquet file: every row is unknown, so say it once per file
        yield Record(path, 0, doc_id=path, error=f"unreadable Parquet file ({exc})")
        return
    number = 0
    for batch in parquet.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            number += 1
            yield _from_mapping(path, number, row, text_field, id_field)


def iter_chunks(paths: list[str], size: int, text_field: str = "text",
                id_field: str = "id") -> Iterator[list[Record | RawLines]]:
    """Every document of every input, in order, cut into chunks of ``size`` input units (the last
    may be shorter; a chunk may span inputs). JSONL lines stay unparsed (see :func:`parse_units`),
    other formats come as records; bad ones are included (with ``error`` set). The cut depends
    only on the inputs and ``size``, so a resumed run meets the same chunks."""
    chunk: list[Record | RawLines] = []
    room = size
    for path in paths:
        suffix = Path(path).suffix.lower()
        if path == STDIN or suffix in JSONL_SUFFIXES:
            with (open(path, "rb") if path != STDIN else contextlib.nullcontext(sys.stdin.buffer)) as stream:
                source, number = ("<stdin>" if path == STDIN else path), 1
                while lines := list(islice(stream, room)):
                    chunk.append(RawLines(source, number, lines))
                    number += len(lines)
                    room -= len(lines)
                    if not room:
                        yield chunk
                        chunk, room = [], size
            continue
        if suffix in TEXT_SUFFIXES:
            records = _text_file(path)
        elif suffix == ".csv":
            records = _csv_rows(path, text_field, id_field)
        else:
            records = _parquet_rows(path, text_field, id_field)
        for record in records:
            chunk.append(record)
            room -= 1
            if not room:
                yield chunk
                chunk, room = [], size
    if chunk:
        yield chunk


def count_records(paths: list[str]) -> int | None:
    """A cheap count of input documents for the progress bar's ETA (None when unknown)."""
    total = 0
    for path in paths:
        suffix = Path(path).suffix.lower()
        if path == STDIN:
            return None
        if suffix in TEXT_SUFFIXES:
            total += 1
        elif suffix == ".parquet":
            try:
                total += pq.ParquetFile(path).metadata.num_rows
            except Exception:
                return None
        else:
            with open(path, "rb") as f:
                lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
            total += max(lines - (1 if suffix == ".csv" else 0), 0)
    return total


# -- output --------------------------------------------------------------------------------

def check_output(path: Path) -> None:
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise BatchInputError(f"{path}: output must end in .jsonl, .ndjson, .csv or .parquet")
    if not path.parent.exists():
        raise BatchInputError(f"{path.parent}: output folder does not exist")


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # per process: two writers never share one
    write(tmp)
    os.replace(tmp, path)


def render(table: pa.Table, suffix: str) -> bytes:
    """Rows of ``table`` as JSONL or header-less CSV (``labels`` joined by ';')."""
    if suffix == ".csv":
        frame = table.to_pandas()
        if "labels" in frame:
            frame["labels"] = frame["labels"].map(lambda v: ";".join(v) if v is not None else "")
        return frame.to_csv(index=False, header=False, lineterminator="\n").encode("utf-8") if len(frame) else b""
    return "".join(json.dumps(record, ensure_ascii=False, default=str) + "\n"
                   for record in table.to_pylist()).encode("utf-8")


def _as_text(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    """``frame`` as an Arrow table. A carried column whose values mix types (a JSON field that is
    a number in one record and text in another) is written as text instead of failing the run."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        frame = frame.copy()
    for name in frame.columns:
        if frame[name].dtype == object:
            try:
                pa.array(frame[name], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                frame[name] = [_as_text(v) for v in frame[name]]
    return pa.Table.from_pandas(frame, preserve_index=False)


def _write_frame(directory: Path, name: str, frame: pd.DataFrame, suffix: str) -> None:
    """A part as Parquet, plus its rows already rendered for a JSONL or CSV output (done by the
    worker, in parallel; :func:`finalize` then only concatenates when all parts share columns)."""
    table = _arrow_table(frame)
    _atomic_write(directory / f"{name}.parquet", lambda p: pq.write_table(table, p))
    if suffix != ".parquet":
        _atomic_write(directory / f"{name}.rendered", lambda p: p.write_bytes(render(table, suffix)))


def write_part(directory: Path, index: int, paragraphs: pd.DataFrame, documents: pd.DataFrame | None,
               errors: list[dict], stats: dict, suffix: str = ".parquet") -> None:
    """Write chunk ``index`` (rows, document rows, errors, stats); the stats file marks it done.
    ``suffix`` is the final output's (``.jsonl``, ``.csv``, ``.parquet``)."""
    name = f"part-{index:06d}"
    _write_frame(directory, name, paragraphs, suffix)
    if documents is not None:
        _write_frame(directory, f"{name}.docs", documents, suffix)
    _atomic_write(directory / f"{name}.errors.jsonl", lambda p: p.write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in errors), "utf-8"))
    # written last: a part counts as done only when its stats exist
    _atomic_write(directory / f"{name}.stats.json", lambda p: p.write_text(json.dumps(stats), "utf-8"))


def completed_parts(directory: Path) -> int:
    """How many leading parts (0, 1, ...) are complete."""
    n = 0
    while (directory / f"part-{n:06d}.stats.json").exists():
        n += 1
    return n


def _unified_schema(files: list[Path]) -> pa.Schema | None:
    schemas = [pq.read_schema(f) for f in files]
    if not schemas:
        return None
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    # a carried column typed differently in different chunks (numbers in one, text in another)
    # becomes text; the parts are cast to this schema when they are joined
    fields: dict[str, list[pa.Field]] = {}
    for schema in schemas:
        for f in schema:
            fields.setdefault(f.name, []).append(f)
    unified = []
    for name, group in fields.items():
        try:
            unified.append(pa.unify_schemas([pa.schema([f]) for f in group], promote_options="permissive").field(0))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            unified.append(pa.field(name, pa.string()))
    return pa.schema(unified)


def _write_table(files: list[Path], out: Path) -> int:
    """Concatenate Parquet parts into ``out`` by its extension, one part in memory at a time."""
    schema = _unified_schema(files)
    suffix = out.suffix.lower()
    if suffix == ".ndjson":
        suffix = ".jsonl"
    rows = 0
    rendered = [f.with_suffix(".rendered") for f in files]
    # parts already rendered by the workers are valid as they are when every part has the same columns
    same = suffix != ".parquet" and all(r.exists() for r in rendered) and \
        all(pq.read_schema(f).equals(schema) for f in files)

    def tables():
        for f in files:
            table = pq.read_table(f)
            for name in schema.names:
                if name not in table.column_names:
                    table = table.append_column(name, pa.nulls(len(table), schema.field(name).type))
            yield table.select(schema.names).cast(schema)

    def write(tmp: Path):
        nonlocal rows
        if suffix == ".parquet":
            with pq.ParquetWriter(tmp, schema) as writer:
                for table in tables():
                    writer.write_table(table)
                    rows += len(table)
            return
        with open(tmp, "wb") as handle:
            if suffix == ".csv":
                header = io.StringIO()
                csv.writer(header, lineterminator="\n").writerow(schema.names)  # quoted as pandas would
                handle.write(header.getvalue().encode("utf-8"))
            if same:
                for f, r in zip(files, rendered):
                    with open(r, "rb") as part:
                        shutil.copyfileobj(part, handle, 1 << 20)
                    rows += pq.read_metadata(f).num_rows
            else:
                for table in tables():
                    handle.write(render(table, suffix))
                    rows += len(table)

    if schema is None:
        _atomic_write(out, lambda p: p.write_bytes(b""))
        return 0
    _atomic_write(out, write)
    return rows


def finalize(directory: Path, n_parts: int, output: Path, documents_output: Path | None,
             errors_output: Path) -> dict:
    """Turn the parts into the final files; returns the summed stats of all parts."""
    parts = [directory / f"part-{i:06d}" for i in range(n_parts)]
    _write_table([p.with_suffix(".parquet") for p in parts], output)
    if documents_output is not None:
        _write_table([Path(f"{p}.docs.parquet") for p in parts], documents_output)
    stats = [json.loads(Path(f"{p}.stats.json").read_text("utf-8")) for p in parts]
    n_errors = sum(s["errors"] for s in stats)
    if n_errors:
        def write_errors(tmp: Path):
            with open(tmp, "w", encoding="utf-8") as handle:
                for p in parts:
                    handle.write(Path(f"{p}.errors.jsonl").read_text("utf-8"))
        _atomic_write(errors_output, write_errors)
    elif errors_output.exists():
        errors_output.unlink()  # a stale file from an earlier run would mislead
    return merge_stats(stats)


def merge_stats(stats: list[dict]) -> dict:
    total: dict[str, Any] = {"documents": 0, "paragraphs": 0, "errors": 0, "labels": {}, "doc_labels": {},
                             "groups": {}}
    for s in stats:
        for key in ("documents", "paragraphs", "errors"):
            total[key] += s[key]
        for key in ("labels", "doc_labels"):
            for label, n in s[key].items():
                total[key][label] = total[key].get(label, 0) + n
        for group, g in s.get("groups", {}).items():
            tg = total["groups"].setdefault(group, {"documents": 0, "paragraphs": 0, "labels": {}})
            tg["documents"] += g["documents"]
            tg["paragraphs"] += g["paragraphs"]
            for label, n in g["labels"].items():
                tg["labels"][label] = tg["labels"].get(label, 0) + n
    return total
