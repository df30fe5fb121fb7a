"""Inter-annotator agreement and corpus assembly from the double annotation.

``training/annotation/writer/*.jsonl``  the writer's paragraphs and labels (first pass)
``training/annotation/second/*.jsonl``  an independent annotator's labels (second pass)
``training/annotation/adjudicated/*.jsonl``  the final labels of the paragraphs they disagreed on
``training/annotation/excluded.jsonl``  paragraphs left out of the corpus, with the reason

``python -m training.agreement`` prints per-label Cohen's kappa (overall and per language) and
writes ``disagreements.jsonl`` for adjudication; ``--build`` writes ``training/corpus/``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score

from app.labels import LABELS

ANNOTATION = Path(__file__).resolve().parent / "annotation"
CORPUS = Path(__file__).resolve().parent / "corpus"
CORPUS_FIELDS = ("id", "text", "lang", "labels", "genre", "voice", "hard_negative")


def _read(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text("utf-8").splitlines()) if r}


def paired_batches() -> list[str]:
    return sorted(p.stem for p in (ANNOTATION / "writer").glob("*.jsonl")
                  if (ANNOTATION / "second" / p.name).exists())


def load_pairs(batches: list[str]) -> list[tuple[dict, list[str]]]:
    """(writer record, second annotator's labels) for every paragraph of ``batches``."""
    pairs = []
    for b in batches:
        writer, second = _read(ANNOTATION / "writer" / f"{b}.jsonl"), _read(ANNOTATION / "second" / f"{b}.jsonl")
        missing = set(writer) - set(second)
        if missing:
            raise SystemExit(f"{b}: second pass lacks {len(missing)} ids, e.g. {sorted(missing)[:3]}")
        pairs.extend((w, second[i]["labels"]) for i, w in writer.items())
    return pairs


def kappas(pairs) -> dict[str, float]:
    out = {}
    for label in LABELS:
        a = np.array([label in w["labels"] for w, _ in pairs], dtype=int)
        b = np.array([label in s for _, s in pairs], dtype=int)
        out[label] = float(cohen_kappa_score(a, b))
    out["paragraphs_disagreeing"] = sum(set(w["labels"]) != set(s) for w, s in pairs) / max(len(pairs), 1)
    return out


def report(pairs) -> dict:
    result = {"all": {"n": len(pairs), **kappas(pairs)}}
    for lang in sorted({w["lang"] for w, _ in pairs}):
        sub = [p for p in pairs if p[0]["lang"] == lang]
        result[lang] = {"n": len(sub), **kappas(sub)}
    return result


def build(batches: list[str]) -> int:
    """Write training/corpus/<batch>.jsonl with adjudicated labels where the passes disagreed."""
    order = {l: i for i, l in enumerate(LABELS)}
    CORPUS.mkdir(exist_ok=True)
    excluded_path = ANNOTATION / "excluded.jsonl"
    excluded = _read(excluded_path) if excluded_path.exists() else {}  # near-duplicates found later
    total = 0
    for b in batches:
        adjudicated_path = ANNOTATION / "adjudicated" / f"{b}.jsonl"
        adjudicated = _read(adjudicated_path) if adjudicated_path.exists() else {}
        rows = []
        for w, s in load_pairs([b]):
            if w["id"] in excluded:
                continue
            if set(w["labels"]) == set(s):
                labels = w["labels"]
            elif w["id"] in adjudicated:
                labels = adjudicated[w["id"]]["labels"]
            else:
                raise SystemExit(f"{w['id']}: the passes disagree and there is no adjudication")
            row = {**{k: w[k] for k in CORPUS_FIELDS}, "labels": sorted(labels, key=order.get)}
            # a paragraph written as a positive and adjudicated to none is on-subject: a hard negative
            row["hard_negative"] = not labels and (bool(w["hard_negative"]) or bool(w["labels"]))
            rows.append(row)
        with open(CORPUS / f"{b}.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        total += len(rows)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true", help="write training/corpus from the passes")
    parser.add_argument("--disagreements", type=Path, help="write the disagreeing paragraphs here")
    args = parser.parse_args()
    batches = paired_batches()
    pairs = load_pairs(batches)
    print(json.dumps(report(pairs), indent=2))
    if args.disagreements:
        with open(args.disagreements, "w", encoding="utf-8") as f:
            for w, s in pairs:
                if set(w["labels"]) != set(s):
                    f.write(json.dumps({"id": w["id"], "text": w["text"], "first": w["labels"], "second": s},
                                       ensure_ascii=False) + "\n")
    if args.build:
        print(f"wrote {build(batches)} paragraphs to {CORPUS}")


if __name__ == "__main__":
    main()
