"""Corpus composition and quota checks: ``python -m training.corpus_stats`` (exit 1 if a quota fails)."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from app.labels import LABELS

from .corpus import CORPUS_DIR, load_corpus, read_labelled

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"
FIELDS = {"id", "text", "lang", "labels", "genre", "voice", "hard_negative"}
GENRES = {"wire_news", "tv_transcript", "official_statement", "think_tank", "op_ed",
          "business_press", "social_media", "interview", "encyclopedic"}
VOICES = {"state_media", "western_critical", "neutral_business", "global_south", "eu_debate",
          "asia_self_reliance"}
MIN_TOTAL, MIN_LANG = 1600, {"en": 1000, "ru": 600}
MIN_LABEL_SHARE = {"en": 0.22, "ru": 0.20}
MIN_NONE_SHARE, MIN_MULTI_SHARE, MIN_HARD_SHARE = 0.40, 0.15, 0.50
WORDS_RANGE = (3, 450)  # headlines and captions up to long transcript answers (round 6)
MAX_COSINE = 0.8
SHINGLE = 10

_TOKEN = re.compile(r"\w+")


def shingles(text: str, n: int = SHINGLE) -> set[tuple[str, ...]]:
    words = _TOKEN.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def max_cosine_pairs(texts: list[str], limit: float = MAX_COSINE) -> list[tuple[int, int, float]]:
    """Pairs of texts whose word TF-IDF cosine exceeds ``limit``."""
    X = TfidfVectorizer(sublinear_tf=True).fit_transform(texts)
    sims = (X @ X.T).tocoo()
    return sorted((int(i), int(j), float(v)) for i, j, v in zip(sims.row, sims.col, sims.data)
                  if i < j and v > limit)


def external_texts() -> list[str]:
    """Texts the corpus must not copy: the evaluation set (if present) and the seed documents."""
    texts = [p.read_text("utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    for path in sorted((SHARED / "eval").glob("*.jsonl")):
        texts.extend(r["text"] for r in read_labelled(path))
    return texts


def check(rows: list[dict]) -> list[tuple[str, bool, str]]:
    """Every quota and rule as (name, passed, detail)."""
    results = []
    bad_schema = [r.get("id") for r in rows if set(r) != FIELDS or r["lang"] not in MIN_LANG
                  or r["genre"] not in GENRES or r["voice"] not in VOICES
                  or not isinstance(r["hard_negative"], bool) or any(l not in LABELS for l in r["labels"])
                  or len(set(r["labels"])) != len(r["labels"]) or (r["hard_negative"] and r["labels"])]
    results.append(("schema and label names", not bad_schema, f"{len(bad_schema)} bad, e.g. {bad_schema[:3]}"))
    ids = Counter(r["id"] for r in rows)
    dup_ids = [i for i, c in ids.items() if c > 1]
    results.append(("unique ids", not dup_ids, f"{len(dup_ids)} duplicated"))
    results.append((f"at least {MIN_TOTAL} paragraphs", len(rows) >= MIN_TOTAL, str(len(rows))))
    for lang, minimum in MIN_LANG.items():
        sub = [r for r in rows if r["lang"] == lang]
        n = max(len(sub), 1)
        results.append((f"{lang}: at least {minimum} paragraphs", len(sub) >= minimum, str(len(sub))))
        for label in LABELS:
            share = sum(label in r["labels"] for r in sub) / n
            results.append((f"{lang}: {label} >= {MIN_LABEL_SHARE[lang]:.0%}", share >= MIN_LABEL_SHARE[lang], f"{share:.1%}"))
        none = [r for r in sub if not r["labels"]]
        labelled = [r for r in sub if r["labels"]]
        results.append((f"{lang}: no label >= {MIN_NONE_SHARE:.0%}", len(none) / n >= MIN_NONE_SHARE, f"{len(none) / n:.1%}"))
        multi = sum(len(r["labels"]) >= 2 for r in labelled) / max(len(labelled), 1)
        results.append((f"{lang}: 2-3 labels >= {MIN_MULTI_SHARE:.0%} of labelled", multi >= MIN_MULTI_SHARE, f"{multi:.1%}"))
        hard = sum(r["hard_negative"] for r in none) / max(len(none), 1)
        results.append((f"{lang}: hard negatives >= {MIN_HARD_SHARE:.0%} of no-label", hard >= MIN_HARD_SHARE, f"{hard:.1%}"))
    genres, voices = Counter(r["genre"] for r in rows), Counter(r["voice"] for r in rows)
    results.append(("at least 8 genres", len(genres) >= 8, str(len(genres))))
    results.append(("all 6 voices", set(voices) == VOICES, str(len(voices))))
    lengths = [len(r["text"].split()) for r in rows]
    out_of_range = sum(not WORDS_RANGE[0] <= n <= WORDS_RANGE[1] for n in lengths)
    results.append((f"{WORDS_RANGE[0]}-{WORDS_RANGE[1]} words each", out_of_range == 0, f"{out_of_range} outside"))
    near = max_cosine_pairs([r["text"] for r in rows])
    detail = f"{len(near)} pairs" + (f", e.g. {rows[near[0][0]]['id']} ~ {rows[near[0][1]]['id']} ({near[0][2]:.2f})" if near else "")
    results.append((f"no near-duplicates (TF-IDF cosine <= {MAX_COSINE})", not near, detail))
    outside = set().union(*(shingles(t) for t in external_texts()))
    copied = [r["id"] for r in rows if shingles(r["text"]) & outside]
    results.append((f"no {SHINGLE}-word run shared with seeds or ../shared/eval", not copied,
                    f"{len(copied)} paragraphs" + (f", e.g. {copied[:3]}" if copied else "")))
    return results


def composition(rows: list[dict]) -> str:
    """Tables: language x label, genre, voice, length."""
    langs = sorted({r["lang"] for r in rows})
    out = ["language x label (paragraphs, share of language)"]
    out.append(f"  {'':22s}" + "".join(f"{lang:>16s}" for lang in langs) + f"{'all':>16s}")
    groups = {lang: [r for r in rows if r["lang"] == lang] for lang in langs} | {"all": rows}
    for name, test in [(l, (lambda r, l=l: l in r["labels"])) for l in LABELS] + [
            ("none", lambda r: not r["labels"]), ("hard negative", lambda r: r["hard_negative"]),
            ("2-3 labels", lambda r: len(r["labels"]) >= 2), ("total", lambda r: True)]:
        cells = [f"{sum(map(test, g)):6d} ({sum(map(test, g)) / max(len(g), 1):5.1%})" for g in groups.values()]
        out.append(f"  {name:22s}" + "".join(f"{c:>16s}" for c in cells))
    for field in ("genre", "voice"):
        out.append(f"\n{field} (en / ru)")
        counts = Counter((r[field], r["lang"]) for r in rows)
        for value in sorted({r[field] for r in rows}):
            out.append(f"  {value:22s}{counts[(value, 'en')]:6d} {counts[(value, 'ru')]:6d}")
    lengths = np.array([len(r["text"].split()) for r in rows])
    out.append("\nwords per paragraph")
    for lo, hi in [(3, 29), (30, 60), (61, 110), (111, 250), (251, 450)]:
        out.append(f"  {lo:3d}-{hi:<3d} {int(((lengths >= lo) & (lengths <= hi)).sum()):6d}")
    out.append(f"  median {int(np.median(lengths))}, mean {lengths.mean():.0f}, min {lengths.min()}, max {lengths.max()}")
    return "\n".join(out)


def main(directory: Path = CORPUS_DIR) -> int:
    rows = load_corpus(directory)
    print(composition(rows))
    print("\nquotas")
    results = check(rows)
    for name, passed, detail in results:
        print(f"  [{'PASS' if passed else 'FAIL'}] {name}: {detail}")
    failed = sum(not p for _, p, _ in results)
    print(f"\n{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
