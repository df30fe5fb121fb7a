"""Fast TF-IDF features, equal to the fitted FeatureUnion of the pipeline (tested to 1e-9).

scikit-learn's ``char_wb`` analyzer rebuilds every character n-gram string of every word of
every paragraph. But ``char_wb`` n-grams never cross a word boundary, so a paragraph's counts are
the sum of its words' counts: the ids of each distinct word's n-grams are looked up once and
cached. Word unigrams and bigrams are looked up directly. Counts are then turned into TF-IDF
exactly as ``TfidfVectorizer`` does (sublinear tf, idf, L2 norm per block).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from itertools import repeat

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

_CACHE_LIMIT = 2_000_000  # distinct words kept; cleared when exceeded (memory stays bounded)


class CompactTfidfVectorizer(TfidfVectorizer):
    """A ``TfidfVectorizer`` whose saved state holds the vocabulary as one JSON list of terms.

    skops stores a dict entry by entry, so a 150,000-term vocabulary took 5 s to load; as a
    single string it loads in a fraction of that. Behaviour is that of ``TfidfVectorizer``.
    """

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: for non-sklearn classes it is the live __dict__
        vocabulary = state.pop("vocabulary_", None)
        state.pop("stop_words_", None)  # the pruned terms: introspection only, and large
        if vocabulary is not None:
            # column j holds terms[j]: fitted vocabularies are numbered 0..n-1
            terms = sorted(vocabulary, key=vocabulary.__getitem__)
            state["vocabulary_terms_"] = json.dumps(terms, ensure_ascii=False)
        return state

    def __setstate__(self, state):
        terms = state.pop("vocabulary_terms_", None)
        super().__setstate__(state)
        if terms is not None:
            self.vocabulary_ = {term: j for j, term in enumerate(json.loads(terms))}


class FastFeatures:
    """Transform texts like ``FeatureUnion([("word", ...), ("char", ...)])`` of the pipeline.

    Parameters
    ----------
    word : TfidfVectorizer
        Fitted, ``analyzer="word"``, default token pattern, lowercase.
    char : TfidfVectorizer
        Fitted, ``analyzer="char_wb"``, lowercase.
    """

    def __init__(self, word: TfidfVectorizer, char: TfidfVectorizer):
        for vec, analyzer in ((word, "word"), (char, "char_wb")):
            if vec.analyzer != analyzer or not vec.lowercase or vec.strip_accents or vec.preprocessor \
                    or vec.tokenizer or vec.stop_words or not vec.use_idf or vec.norm != "l2" or not vec.sublinear_tf:
                raise ValueError(f"FastFeatures does not reproduce this {analyzer} vectorizer's settings")
        self.word_vocab: dict[str, int] = word.vocabulary_
        self.word_idf = word.idf_
        self.word_range = word.ngram_range
        self.token = re.compile(word.token_pattern)
        self.char_vocab: dict[str, int] = char.vocabulary_
        self.char_idf = char.idf_
        self.char_analyzer = char.build_analyzer()
        self.n_word, self.n_char = len(word.idf_), len(char.idf_)
        self._cache = _NgramCache(self)
        self.idf = np.concatenate([self.word_idf, self.char_idf])

    def char_ids(self, word: str) -> np.ndarray:
        """Ids (offset past the word block) of a word's character n-grams, with repeats."""
        vocab, offset = self.char_vocab, self.n_word
        return np.array([j + offset for j in map(vocab.get, self.char_analyzer(word)) if j is not None],
                        dtype=np.int64)

    def cached_char_ids(self, word: str) -> np.ndarray:
        """:meth:`char_ids` through the per-word cache."""
        return self._cache[word]

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Features, shape ``(len(texts), n_word + n_char)``, float64 CSR."""
        vocab_get, lo, hi = self.word_vocab.get, self.word_range[0], self.word_range[1]
        findall, lookup = self.token.findall, self._cache.__getitem__
        word_ids: list[int] = []  # -1 where a term is not in the vocabulary
        word_counts: list[int] = []
        char_parts: list[np.ndarray] = []
        words_per_text: list[int] = []
        for text in texts:
            lower = text.lower()
            tokens = findall(lower)
            before = len(word_ids)
            if lo <= 1 <= hi:
                word_ids.extend(map(vocab_get, tokens, repeat(-1, len(tokens))))
            for n in range(max(lo, 2), hi + 1):
                grams = map(" ".join, zip(*(tokens[k:] for k in range(n))))
                word_ids.extend(map(vocab_get, grams, repeat(-1)))
            word_counts.append(len(word_ids) - before)
            words = lower.split()
            char_parts.extend(map(lookup, words))
            words_per_text.append(len(words))
        n = len(texts)
        rows_w = np.repeat(np.arange(n, dtype=np.int64), word_counts)
        cols_w = np.array(word_ids, dtype=np.int64)
        keep = cols_w >= 0
        part_rows = np.repeat(np.arange(n, dtype=np.int64), words_per_text)
        part_sizes = np.fromiter(map(len, char_parts), dtype=np.int64, count=len(char_parts))
        cols_c = np.concatenate(char_parts) if char_parts else np.zeros(0, dtype=np.int64)
        rows = np.concatenate([rows_w[keep], np.repeat(part_rows, part_sizes)])
        cols = np.concatenate([cols_w[keep], cols_c])
        # counts (duplicates summed by the COO -> CSR conversion), then tf-idf as TfidfVectorizer does
        X = sp.csr_matrix((np.ones(len(cols), dtype=np.float64), (rows, cols)),
                          shape=(n, self.n_word + self.n_char))
        X.sum_duplicates()
        np.log(X.data, X.data)
        X.data += 1
        X.data *= self.idf[X.indices]
        # L2 norm of each block of each row (the FeatureUnion normalises the blocks separately)
        row_of = np.repeat(np.arange(n), np.diff(X.indptr))
        in_char = X.indices >= self.n_word
        squares = X.data * X.data
        norms = np.sqrt(np.bincount(row_of * 2 + in_char, weights=squares, minlength=2 * n))
        norms[norms == 0] = 1
        X.data /= norms[row_of * 2 + in_char]
        return X


class _NgramCache(dict):
    """word -> character n-gram ids; computes and keeps missing words, bounded in size."""

    def __init__(self, features: FastFeatures):
        super().__init__()
        self.features = features

    def __missing__(self, word: str) -> np.ndarray:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        ids = self[word] = self.features.char_ids(word)
        return ids
