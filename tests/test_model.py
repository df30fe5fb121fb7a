import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from app import LABELS, FramingModel, ModelLoadError
from app.model import DEFAULT_MODEL_PATH, load_pipeline
from app.scorer import LinearTfidfScorer

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds" / "labels.jsonl"

TEXTS = [
    "The ministry will fund Russian-made replacements for foreign database software in state banks.",
    "After the export ban, the plant sources microcontrollers through intermediaries in Central Asia.",
    "The president recalled that the country launched the first satellite while under total embargo.",
    "Wheat exports rose 4% in the third quarter.",
    "Минпромторг профинансирует отечественные аналоги зарубежных станков после ухода западных поставщиков.",
    "",
]


def test_fast_path_equals_pipeline(model):
    fast = model.predict_proba(TEXTS)
    naive = model.pipeline.predict_proba(TEXTS)
    assert fast.shape == (len(TEXTS), len(LABELS))
    np.testing.assert_allclose(fast, naive, rtol=0, atol=1e-9)


def test_predict_uses_thresholds(model):
    proba = model.predict_proba(TEXTS)
    labels = model.predict(TEXTS)
    for row, labs in zip(proba, labels):
        assert labs == [l for l, p, t in zip(model.labels, row, model.thresholds) if p >= t]
    # threshold overrides move decisions
    assert model.predict(TEXTS, thresholds={l: 0.0 for l in LABELS})[3] == list(LABELS)
    assert model.predict(TEXTS, thresholds={l: 1.01 for l in LABELS})[0] == []
    with pytest.raises(ValueError, match="unknown label"):
        model.predict(TEXTS, thresholds={"bogus": 0.5})


def test_codebook_examples_are_recognised(model):
    labels = model.predict(TEXTS[:4])
    assert "sovereignty" in labels[0]
    assert "sanctions" in labels[1]
    assert labels[3] == []


def test_evidence_points_into_the_text(model):
    doc = model.analyze(text="\n\n".join(TEXTS[:3]))
    assert len(doc.paragraphs) == 3
    p = doc.paragraphs[1]
    assert "sanctions" in p.labels
    evidence = p.evidence["sanctions"]
    assert evidence and all(e.weight > 0 for e in evidence)
    assert evidence == sorted(evidence, key=lambda e: -e.weight)
    for e in evidence:
        for s, t in e.spans:
            assert p.text[s:t].lower() == e.term


def test_summary_counts_and_strongest(model):
    doc = model.analyze(paragraphs=TEXTS[:4])
    s = doc.summary
    assert s["paragraphs"] == 4
    for label in LABELS:
        hits = [p.index for p in doc.paragraphs if label in p.labels]
        assert s["labels"][label]["paragraphs"] == len(hits)
        assert s["labels"][label]["share"] == round(len(hits) / 4, 4)
        if hits:
            assert s["labels"][label]["strongest_paragraph"] in hits


def test_metadata_names_hashes_versions_and_metrics(model):
    meta = model.metadata
    for key in ("name", "version", "created", "artifact_sha256", "corpus_sha256", "libraries",
                "labels", "thresholds", "metrics"):
        assert key in meta
    assert meta["labels"] == list(LABELS)
    assert DEFAULT_MODEL_PATH.stat().st_size < 20_000_000


@pytest.fixture()
def model_copy(tmp_path):
    dst = tmp_path / "framing.skops"
    shutil.copy(DEFAULT_MODEL_PATH, dst)
    shutil.copy(DEFAULT_MODEL_PATH.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_missing_model_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        FramingModel.load(tmp_path / "nope.skops")


def test_truncated_model_is_refused(model_copy):
    data = model_copy.read_bytes()
    model_copy.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="does not match its metadata"):
        FramingModel.load(model_copy)
    with pytest.raises(ModelLoadError, match="not a readable skops file"):
        load_pipeline(model_copy)


def test_tampered_metadata_hash_is_refused(model_copy):
    meta_path = model_copy.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["artifact_sha256"] = "0" * 64
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="truncated or replaced"):
        FramingModel.load(model_copy)


def test_untrusted_type_is_refused(tmp_path):
    import skops.io as sio
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    # a pipeline holding a callable from a non-default module: skops flags it as untrusted
    evil = Pipeline([("f", FunctionTransformer(func=shutil.rmtree))])
    path = tmp_path / "evil.skops"
    sio.dump(evil, path, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(ModelLoadError, match="untrusted types: .*shutil.rmtree"):
        load_pipeline(path)


from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

WORDS = st.sampled_from(["sanctions", "sovereignty", "the", "of", "импортозамещение", "санкции", "Запад",
                         "great", "power", "İstanbul", "straße", "ǅ", "🚫", "x\x00y", "a", "chips", "our", "own"])
SEPARATORS = st.sampled_from([" ", "  ", "\n", "\t", ", ", ". ", "\u00a0", "-", ""])


@hsettings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.tuples(WORDS, SEPARATORS), max_size=30).map(lambda p: "".join(a + b for a, b in p)),
                min_size=1, max_size=8))
def test_fast_features_equal_the_pipeline_features(model, small_cache_scorer, texts):
    fast = model.transform(texts)
    reference = model.pipeline.named_steps["features"].transform(texts)
    assert abs(fast - reference).max() <= 1e-12 if fast.nnz or reference.nnz else True
    expected = model.pipeline.predict_proba(texts)
    np.testing.assert_allclose(model.predict_proba(texts), expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.score_matrix(fast), expected, rtol=0, atol=1e-9)
    # a word cache that overflows and restarts on almost every call gives the same scores
    np.testing.assert_allclose(small_cache_scorer.predict_proba(texts), expected, rtol=0, atol=1e-9)


SPACES = "".join(chr(c) for c in range(0x3002) if chr(c).isspace())


def test_whitespace_table_holds_every_code_point_str_split_splits_on():
    from app.scorer import _IS_WORD_CHAR

    assert [c for c in range(0x110000) if chr(c).isspace()] == np.flatnonzero(~_IS_WORD_CHAR).tolist()
    assert _IS_WORD_CHAR[-1]  # the entry that stands for every code point beyond the table


@hsettings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list(SPACES) + list("aZ\u0130\u03a3\u03c3.-\ud800\U0001f6ab\u00df\u01c5Яя")),
                        max_size=40), max_size=6))
def test_words_are_found_as_str_split_finds_them(texts):
    """The scorer cuts a batch into words with numpy over code points: exactly the words, and the
    texts, of ``text.lower().split()`` (every Unicode space, a capital that lower-cases to two
    characters, the final sigma, a lone surrogate, characters beyond the BMP)."""
    from app.scorer import _split_words

    joined, points, starts, lengths, owners = _split_words(texts)
    got = [(int(o), joined[a:a + k]) for o, a, k in zip(owners, starts, lengths)]
    assert got == [(i, w) for i, t in enumerate(texts) for w in t.lower().split()]
    assert "".join(w for _, w in got) == np.asarray(points, dtype=np.uint32).tobytes().decode("utf-32-le", "surrogatepass")


def test_word_hashes_do_not_depend_on_how_a_batch_is_sliced(monkeypatch):
    """A word's hash is the same whether it is hashed in a small call or within a huge one (cut
    into slices of whole words, with a word longer than a slice alone): cached words stay found."""
    import random

    import app.scorer

    rng = random.Random(7)
    words = ["".join(rng.choice("ab\u044f\u0436\U0001f6ab") for _ in range(rng.randint(1, 30))) for _ in range(500)]
    words.insert(200, "x" * 300)

    def reference(word):
        return sum(ord(c) * pow(app.scorer._HASH_BASE, i, 2 ** 64) for i, c in enumerate(word)) % 2 ** 64

    points = np.frombuffer("".join(words).encode("utf-32-le"), dtype=np.uint32)
    lengths = np.array([len(w) for w in words])
    want = [reference(w) for w in words]
    assert app.scorer._word_hashes(points, lengths).tolist() == want
    monkeypatch.setattr(app.scorer, "_HASH_LIMIT", 64)
    assert app.scorer._word_hashes(points, lengths).tolist() == want


def test_words_whose_hashes_collide_are_still_scored_exactly(model, monkeypatch):
    """A word is found by a 64-bit hash and confirmed by its characters: with a hash that collides
    all the time (the word's length), every word still gets its own counts."""
    import app.scorer

    monkeypatch.setattr(app.scorer, "_word_hashes", lambda points, lengths: lengths.astype(np.uint64))
    scorer = LinearTfidfScorer.from_pipeline(model.pipeline, model.labels, cache_words=400)
    texts = TEXTS + [p["text"] for p in map(json.loads, open(SEEDS))]
    expected = model.pipeline.predict_proba(texts)
    for _ in range(2):  # a cold cache, then a warm one (with an overflow and restart in between)
        np.testing.assert_allclose(scorer.predict_proba(texts), expected, rtol=0, atol=1e-9)
        np.testing.assert_allclose(np.vstack([scorer.predict_proba([t]) for t in texts[:8]]), expected[:8],
                                   rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def small_cache_scorer(model):
    return LinearTfidfScorer.from_pipeline(model.pipeline, model.labels, cache_words=5)


def test_shipped_scorer_file_equals_the_skops_pipeline(model, tmp_path):
    """framing.npz (what the service scores with) holds the pipeline's numbers; save/load keeps them."""
    from_pipeline = LinearTfidfScorer.from_pipeline(model.pipeline, model.labels)
    from_pipeline.save(tmp_path / "s.npz")
    reloaded = LinearTfidfScorer.load(tmp_path / "s.npz")
    texts = TEXTS + [p["text"] for p in map(json.loads, open(SEEDS))]
    expected = model.pipeline.predict_proba(texts)
    for scorer in (model.scorer, from_pipeline, reloaded):
        np.testing.assert_allclose(scorer.predict_proba(texts), expected, rtol=0, atol=1e-9)
    with np.load(DEFAULT_MODEL_PATH.with_suffix(".npz"), allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)  # plain arrays: loading runs no code


def test_scoring_imports_neither_sklearn_nor_skops():
    """A server worker or batch job loads the .npz scorer only (the memory of a worker depends on it)."""
    code = ("import sys; from app.api import create_app; from app import FramingModel; create_app(); "
            "m = FramingModel.load(); m.analyze('Sanctions hit the banks.'); "
            "print(sorted(k for k in ('sklearn', 'skops', 'scipy.special') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_logistic_function_matches_scipy_at_the_extremes():
    """The scorer's own expit (scipy.special is not imported) equals scipy's, far into both tails."""
    from scipy.special import expit

    from app.scorer import _expit

    z = np.concatenate([np.linspace(-700, 700, 20_001), [0.0, -0.0, 1e-300, -1e-300]])
    with np.errstate(over="raise", invalid="raise"):  # no overflow on the way
        got = _expit(z)
    np.testing.assert_allclose(got, expit(z), rtol=1e-12, atol=0)
    assert np.all(np.isfinite(_expit(np.array([-1e308, 1e308]))))


def test_model_without_scorer_file_falls_back_to_the_pipeline(model_copy):
    assert not model_copy.with_suffix(".npz").exists()
    fallback = FramingModel.load(model_copy)
    np.testing.assert_allclose(fallback.predict_proba(TEXTS), FramingModel.load().predict_proba(TEXTS), atol=1e-9)


def test_tampered_scorer_is_refused(tmp_path):
    for suffix in (".skops", ".json", ".npz"):
        shutil.copy(DEFAULT_MODEL_PATH.with_suffix(suffix), tmp_path / f"framing{suffix}")
    data = bytearray((tmp_path / "framing.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "framing.npz").write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="framing.npz does not match its metadata"):
        FramingModel.load(tmp_path / "framing.skops")


def test_concurrent_scoring_from_threads_is_exact(model):
    """The API scores large requests in a thread pool: threads share the word cache (and its resets)."""
    from concurrent.futures import ThreadPoolExecutor

    scorer = LinearTfidfScorer.from_pipeline(model.pipeline, model.labels, cache_words=300)
    texts = [p["text"] for p in map(json.loads, open(SEEDS))]
    batches = [texts[i::7] for i in range(7)] * 6
    expected = [model.pipeline.predict_proba(b) for b in batches[:7]] * 6
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(scorer.predict_proba, batches))
    for got, want in zip(results, expected):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_one_paragraph_at_a_time_equals_the_pipeline(model):
    """A single text takes a numpy-only path (the API's usual request): same scores as a batch."""
    texts = TEXTS + [p["text"] for p in map(json.loads, open(SEEDS))] + ["!!!", "a", "санкции санкции"]
    one_by_one = np.vstack([model.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(one_by_one, model.pipeline.predict_proba(texts), rtol=0, atol=1e-9)
    np.testing.assert_allclose(one_by_one, model.predict_proba(texts), rtol=0, atol=1e-9)


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("ngram_range", [(3, 5), (2, 5), (1, 3), (4, 6)])
def test_integer_keyed_char_ngrams_equal_scikit_learns_char_wb(ngram_range, wide):
    """The scorer finds char n-gram columns by integer keys: per word, the same multiset of
    columns as scikit-learn's analyzer gives n-grams, and -1 exactly for n-grams outside the
    vocabulary (unknown characters included). A vocabulary of thousands of characters (too wide
    for one int64 per n-gram) is looked up by string, with the same result."""
    from collections import Counter

    from sklearn.feature_extraction.text import CountVectorizer

    from app.scorer import CharGramIndex

    words = ["a", "ab", "abc", "abcd", "санкции", "x" * 12, "é", "日本", "co-op", "u.s.", "\ud800x", "🚫ab"]
    analyzer = CountVectorizer(analyzer="char_wb", ngram_range=ngram_range, lowercase=False).build_analyzer()
    grams_of = {w: analyzer(w) for w in words}
    known = sorted({g for w in words[:-3] for g in grams_of[w]})  # the last words' own n-grams stay unknown
    if wide:
        known += [chr(0x4E00 + i) * 3 for i in range(5000)]
    column = {g: 100 + i for i, g in enumerate(known)}
    index = CharGramIndex(known, ngram_range, first_column=100)
    assert (index._by_string is not None) == (wide and ngram_range[1] >= 5)  # 13 bits a character
    cols, owner = index.columns(words)
    assert len(cols) == sum(map(len, grams_of.values()))
    for i, word in enumerate(words):
        assert Counter(cols[owner == i].tolist()) == Counter(column.get(g, -1) for g in grams_of[word])


def test_explanation_n_grams_equal_scikit_learns_with_a_memo_that_keeps_overflowing(model, small_cache_scorer):
    """Evidence words come from each token's char n-gram columns: computed many tokens at a time and
    memoised (bounded), they are the columns scikit-learn's analyzer gives, whatever the memo held."""
    from collections import Counter

    char = model.pipeline.named_steps["features"].transformer_list[1][1]
    analyzer, vocabulary = char.build_analyzer(), char.vocabulary_
    offset = model.scorer.n_word
    tokens = "санкции sanctions the our own импортозамещение chips x sanctions straße 🚫".split()
    for scorer in (model.scorer, small_cache_scorer, small_cache_scorer):  # cache_words=5: overflows
        for batch in (tokens, tokens[3:], tokens[:2] + ["суверенитет", "technology"]):
            got = scorer.char_ids(batch)
            assert set(got) == set(batch)
            for token in batch:
                want = Counter(offset + vocabulary[g] for g in analyzer(token) if g in vocabulary)
                assert Counter(got[token]) == want
