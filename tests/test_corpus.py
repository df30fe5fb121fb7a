"""The corpus and seed labels cannot silently rot: schema, label names, quotas, no duplicates."""

import json
from pathlib import Path

import pytest

from app import LABELS
from training import corpus_stats
from training.corpus import load_corpus

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quota_results():
    return corpus_stats.check(load_corpus())


def test_every_quota_holds(quota_results):
    failed = [(name, detail) for name, ok, detail in quota_results if not ok]
    assert not failed, failed


def test_checks_cover_the_issue_rules(quota_results):
    names = " ".join(name for name, _, _ in quota_results)
    for rule in ("schema", "1600", "en: at least 1000", "ru: at least 600", "near-duplicates", "10-word run",
                 "hard negatives", "2-3 labels", "8 genres", "6 voices", "3-450 words"):
        assert rule in names


def test_quota_check_catches_a_broken_corpus():
    rows = load_corpus()
    broken = rows[:50] + [dict(rows[0], id="dup")] + [dict(rows[1], labels=["bogus"])]
    results = {name: ok for name, ok, _ in corpus_stats.check(broken)}
    assert not results["schema and label names"]
    assert not results["no near-duplicates (TF-IDF cosine <= 0.8)"]
    assert not results["at least 1600 paragraphs"]


def test_seed_labels_match_the_seed_documents():
    rows = [json.loads(l) for l in (ROOT / "seeds" / "labels.jsonl").read_text("utf-8").splitlines()]
    docs = {}
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        docs[path.stem] = [l.strip() for l in path.read_text("utf-8").splitlines() if l.strip()]
    assert len(rows) == sum(len(v) for v in docs.values())
    for row in rows:
        assert set(row) >= {"id", "doc", "index", "text", "labels"}
        assert row["id"] == f"{row['doc']}:{row['index']}"
        assert docs[row["doc"]][row["index"]] == row["text"]
        assert all(l in LABELS for l in row["labels"])
    assert sum(bool(r["labels"]) for r in rows) > 30


def test_seed_documents_are_unchanged_copies():
    shared = ROOT.parent / "shared" / "seeds"
    if not shared.is_dir():
        pytest.skip("../shared is not beside the checkout")
    for path in shared.glob("*.txt"):
        assert (ROOT / "seeds" / path.name).read_bytes() == path.read_bytes()
