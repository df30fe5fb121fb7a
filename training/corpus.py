"""Reading labelled JSONL (corpus, seed labels, evaluation files) and hashing the corpus."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.labels import LABELS

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"


class DataError(ValueError):
    """A labelled file is malformed: the message names the file and line."""


def read_labelled(path: str | Path) -> list[dict]:
    """Read a JSONL file of ``{"text", "labels", ...}`` records, validating each line."""
    path = Path(path)
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise DataError(f"{path}:{number}: invalid JSON ({exc.args[0]})") from exc
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise DataError(f"{path}:{number}: a record needs a string 'text'")
            labels = row.get("labels")
            if not isinstance(labels, list) or any(l not in LABELS for l in labels):
                raise DataError(f"{path}:{number}: 'labels' must be a list drawn from {LABELS}")
            rows.append(row)
    return rows


def corpus_files(directory: str | Path = CORPUS_DIR) -> list[Path]:
    files = sorted(Path(directory).glob("*.jsonl"))
    if not files:
        raise DataError(f"no *.jsonl files in {directory}")
    return files


def load_corpus(directory: str | Path = CORPUS_DIR) -> list[dict]:
    """All corpus paragraphs, in file then line order."""
    return [row for path in corpus_files(directory) for row in read_labelled(path)]


def corpus_sha256(directory: str | Path = CORPUS_DIR) -> str:
    """Hash of the corpus files' names and bytes, in sorted order."""
    digest = hashlib.sha256()
    for path in corpus_files(directory):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def label_matrix(rows: Sequence[dict], labels: Sequence[str] = LABELS) -> np.ndarray:
    """Binary indicator matrix, shape ``(len(rows), len(labels))``."""
    Y = np.zeros((len(rows), len(labels)), dtype=int)
    for i, row in enumerate(rows):
        for label in row["labels"]:
            Y[i, labels.index(label)] = 1
    return Y
