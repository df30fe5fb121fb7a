"""The fitted model as plain arrays, scored with numpy and scipy only.

Why a second form of the model: loading the skops pipeline imports scikit-learn, and skops'
trust list imports every scikit-learn estimator module (about 300 MB of a worker's memory),
although scoring needs only two vocabularies, two idf vectors, three weight vectors and three
sigmoid calibrators. ``framing train`` writes those numbers next to the skops file as
``framing.npz`` (numeric arrays and UTF-8 bytes only, read with ``allow_pickle=False``, so it
cannot run code). :class:`LinearTfidfScorer` gives ``pipeline.predict_proba`` to 1e-9 (tested).

How it is fast: a paragraph's ``char_wb`` n-grams and word unigrams never cross whitespace, so
they are the sum of the counts of its whitespace-separated words. Each distinct word's counts
are computed once and kept as a row of a sparse word-type matrix ``C``; a batch of paragraphs
becomes a sparse matrix ``P`` (paragraph x word type, plus one column per bigram occurrence)
and its n-gram counts are one product ``P @ C``. Only word bigrams depend on neighbouring words;
they are found with integer keys over the batch's token-id sequence, without building strings.
A new word's character n-grams are integer keys too (:class:`CharGramIndex`), so filling the
cache (every ``framing score --jobs N`` worker starts empty) builds no n-gram string either.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

try:  # scipy's kernel behind ``A @ B`` for CSR matrices; private, so used only if present
    from scipy.sparse._sparsetools import csr_matmat as _csr_matmat
except ImportError:  # pragma: no cover
    _csr_matmat = None

FORMAT = "framing-scorer/1"
SCORE_BATCH = 1_000  # paragraphs per sparse product in predict_proba
CACHE_WORDS = 250_000  # distinct words whose counts are kept; reset when exceeded (bounded memory)


def _expit(z: np.ndarray) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-z))``, elementwise, without overflow for large ``|z|``.

    Not ``scipy.special.expit``: importing scipy.special costs every process about 40 ms and 6 MB,
    for one function."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _code_points(text: str) -> np.ndarray:
    """The code points of ``text`` (lone surrogates included), uint32, shape ``(len(text),)``."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class CharGramIndex:
    """The columns of ``char_wb`` n-grams, found with integer keys instead of strings.

    A vocabulary n-gram is at most ``max_len`` characters from a small alphabet (the characters
    of the vocabulary's terms, usually a few hundred), so it packs into one int64: ``bits`` per
    character plus its length. The n-grams of many words are then cut, keyed and looked up
    (``searchsorted`` over the sorted vocabulary keys) with numpy, without building a string or
    hashing one per n-gram. A character outside the alphabet gets digit 0, which no vocabulary
    key has, so an n-gram holding one matches nothing, as it should.

    Parameters
    ----------
    terms : sequence of str
        The char vocabulary in column order; column ``first_column + i`` is ``terms[i]``.
    ngram_range : (int, int)
    first_column : int, default 0
    """

    def __init__(self, terms: Sequence[str], ngram_range: tuple[int, int], first_column: int = 0):
        self.ngram_range = tuple(map(int, ngram_range))
        joined = "".join(terms)
        points = _code_points(joined)
        self.codes = np.union1d(points, [ord(" ")]).astype(np.int64)
        self.bits = len(self.codes).bit_length()  # digits 1..len(codes); 0 = not in the alphabet
        self.max_len = max([self.ngram_range[1], *map(len, terms)])
        self._by_string: dict[str, int] | None = None
        if self.max_len * self.bits + self.max_len.bit_length() > 63:
            # an alphabet too large for one int64 per n-gram (thousands of characters, e.g. CJK):
            # look n-grams up as strings instead, slower but exact
            self._by_string = dict(zip(terms, range(first_column, first_column + len(terms))))
            if len(self._by_string) != len(terms):
                raise ValueError("vocabulary terms are not unique")
            return
        self._digit = np.zeros(int(self.codes[-1]) + 1, dtype=np.uint16)  # code point -> digit
        self._digit[self.codes] = np.arange(1, len(self.codes) + 1)
        ids = self._ids(joined)
        lengths = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
        keys = self._keys(ids, np.cumsum(lengths) - lengths, lengths)
        order = np.argsort(keys, kind="stable")
        self.keys, self.columns_of_keys = keys[order], first_column + order
        if len(keys) and (np.diff(self.keys) == 0).any():
            raise ValueError("vocabulary terms are not unique")

    def _ids(self, text: str) -> np.ndarray:
        """Alphabet digit of every character of ``text`` (0 outside the alphabet)."""
        points = _code_points(text)
        top = len(self._digit) - 1
        return np.where(points <= top, self._digit[np.minimum(points, top)], 0).astype(np.int64)

    def _keys(self, ids: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Keys of the substrings ``ids[start:start + length]`` (``1 <= length <= max_len``).

        The keys of every substring of one length ``m`` are one rolling array over ``ids``
        (``r_m[i] = r_{m-1}[i] << bits | ids[i + m - 1]``), made with contiguous slices, so each
        substring costs one gather, not one per character."""
        key = np.zeros(len(starts), dtype=np.int64)
        rolling = ids
        for m in range(1, int(lengths.max()) + 1 if len(lengths) else 1):
            if m > 1:
                rolling = (rolling[:-1] << self.bits) | ids[m - 1:]
            of_length = np.flatnonzero(lengths == m)
            key[of_length] = rolling[starts[of_length]]
        return key | (lengths << (self.max_len * self.bits))

    def columns(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """scikit-learn's ``char_wb`` n-grams of lower-cased, whitespace-free ``words``, as
        columns (``-1`` where the n-gram is not in the vocabulary) and the index of the word each
        came from; both shape ``(n_grams,)``, grouped by n, then by word, then by position."""
        padded = "".join([f" {w} " for w in words])
        starts, stops, owners = char_wb_spans(words, self.ngram_range)
        if self._by_string is not None:
            grams = map(padded.__getitem__, map(slice, starts.tolist(), stops.tolist()))
            return np.fromiter(map(self._by_string.get, grams, repeat(-1)), dtype=np.int64, count=len(starts)), owners
        keys = self._keys(self._ids(padded), starts, stops - starts)
        if not len(self.keys):
            return np.full(len(keys), -1, dtype=np.int64), owners
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return np.where(self.keys[pos] == keys, self.columns_of_keys[pos], -1), owners


def char_wb_spans(words: Sequence[str], ngram_range: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where scikit-learn's ``char_wb`` n-grams of ``words`` lie in ``"".join(f" {w} " ...)``:
    start, stop and the index of the word of each, shapes ``(n_grams,)``, grouped by n, then by
    word, then by position. Computed with numpy, without cutting a string."""
    lo, hi = ngram_range
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words)) + 2  # padded " w "
    ends = np.cumsum(lengths)
    offsets = ends - lengths
    index = np.arange(len(words))
    starts, stops, owners = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for n in range(lo, hi + 1):
        count = np.maximum(lengths - n + 1, 0)
        if n == lo:  # a padded word shorter than the smallest n counts once, whole (as scikit-learn)
            count[lengths < lo] = 1
        if not count.any():
            break
        first = _ranges(offsets, count)
        starts.append(first)
        stops.append(np.minimum(first + n, np.repeat(ends, count)))
        owners.append(np.repeat(index, count))
    return np.concatenate(starts), np.concatenate(stops), np.concatenate(owners)


def _ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``concatenate([arange(a, a + k) for a, k in zip(starts, sizes)])`` without a Python loop."""
    ends = np.cumsum(sizes)
    return np.repeat(starts - (ends - sizes), sizes) + np.arange(int(ends[-1]) if len(ends) else 0)


def _ragged_positions(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``rows``' entries in a CSR-like ``indptr`` layout, row after row, and each
    row's length."""
    starts = indptr[rows].astype(np.int64)
    sizes = indptr[rows + 1].astype(np.int64) - starts
    return _ranges(starts, sizes), sizes


class _Growing:
    """An append-only array with amortised doubling (int32 unless told). Appending never changes
    the values a :attr:`view` taken earlier shows (it writes past them, or into a new buffer)."""

    def __init__(self, initial: np.ndarray | None = None, dtype: Any = np.int32):
        self.size = 0
        self.buf = np.zeros(1024, dtype=dtype)
        if initial is not None:
            self.extend(initial)

    def extend(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self.buf):
            grown = np.zeros(max(end, 2 * len(self.buf)), dtype=self.buf.dtype)
            grown[:self.size] = self.buf[:self.size]
            self.buf = grown
        self.buf[self.size:end] = values
        self.size = end

    @property
    def view(self) -> np.ndarray:
        return self.buf[:self.size]


# str.split()'s whitespace (str.isspace), by code point; none lies above U+3000 (tested), so the
# last entry (U+3001, a word character) stands for every code point beyond
_IS_WORD_CHAR = np.array([not chr(c).isspace() for c in range(0x3002)])
_HASH_BASE = 0x100000001B3  # odd, so invertible modulo 2**64
_HASH_LIMIT = 1 << 16  # word characters hashed in one pass: longer calls go in slices (tables: 1 MB)


def _split_words(texts: Sequence[str]) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``text.lower().split()`` of every text, as positions instead of strings.

    Returns the lower-cased texts joined by spaces, the code points of the joined text's word
    characters (whitespace dropped), each word's start in the joined text, each word's length,
    and the index of the text each word is in; the last three have shape ``(n_words,)``."""
    lowered = [text.lower() for text in texts]
    joined = " ".join(lowered)
    points = _code_points(joined)
    in_word = _IS_WORD_CHAR.take(points, mode="clip")
    edges = np.flatnonzero(np.diff(in_word, prepend=False, append=False))  # bool diff: a change
    starts, lengths = edges[::2], edges[1::2] - edges[::2]
    text_starts = np.cumsum(np.fromiter(map(len, lowered), dtype=np.int64, count=len(lowered)) + 1) - 1
    owners = np.searchsorted(text_starts, starts, side="right")
    return joined, points[in_word], starts, lengths, owners


def _hash_powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``base ** i`` and ``base ** -i`` modulo 2**64 for ``i < n``."""
    up = np.cumprod(np.r_[np.uint64(1), np.full(n - 1, _HASH_BASE, dtype=np.uint64)], dtype=np.uint64)
    inverse = pow(_HASH_BASE, -1, 2 ** 64)
    return up, np.cumprod(np.r_[np.uint64(1), np.full(n - 1, inverse, dtype=np.uint64)], dtype=np.uint64)


_POWERS = _hash_powers(_HASH_LIMIT)


def _word_hashes(points: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """A 64-bit polynomial hash of each word (``sum(c_i * base**i)`` over its code points, mod
    2**64), from the words' code points laid end to end; shape ``(len(lengths),)``. Not
    collision-free: a hit is confirmed by comparing code points.

    Computed as ``sum(c_j * base**j)`` over the positions ``j`` of the array, one reduce per word,
    times ``base**-first`` of the word: no per-character position arithmetic. Arrays longer than
    ``_HASH_LIMIT`` go in slices of whole words, so the power tables stay small."""
    if not len(lengths):
        return np.zeros(0, dtype=np.uint64)
    ends = np.cumsum(lengths)
    n = int(ends[-1])
    if n > _HASH_LIMIT and len(lengths) > 1:
        parts, w = [], 0
        while w < len(lengths):
            first = ends[w] - lengths[w]
            stop = max(int(np.searchsorted(ends, first + _HASH_LIMIT, side="right")), w + 1)
            parts.append(_word_hashes(points[first:ends[stop - 1]], lengths[w:stop]))
            w = stop
        return np.concatenate(parts)
    # one word longer than a slice gets powers of its own (not kept)
    up, down = _POWERS if n <= _HASH_LIMIT else _hash_powers(n)
    firsts = ends - lengths
    return np.add.reduceat(points * up[:n], firsts) * down[firsts]


class _HashTable:
    """uint64 keys -> int64 values (``>= 0``): open addressing with linear probing, inserted and
    looked up with array operations, for the millions of lookups of a batch. Fixed size; callers
    keep the load low (at most one half) and build a larger table to grow."""

    def __init__(self, size: int):
        self.bits, self.mask = size.bit_length() - 1, size - 1
        self.keys = np.zeros(size, dtype=np.uint64)
        self.values = np.full(size, -1, dtype=np.int64)  # -1: an empty slot
        self.count = 0

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        return ((keys * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - self.bits)).astype(np.int64)

    def insert(self, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Enter each key with its value; returns the values left out because their key was
        there already (of two equal keys, the first entered stays)."""
        slots = self._slots(keys)
        left_out = [np.zeros(0, dtype=np.int64)]
        while len(values):
            free = self.values[slots] < 0
            present = ~free & (self.keys[slots] == keys)
            left_out.append(values[present])
            free_at = np.flatnonzero(free)
            _, first = np.unique(slots[free_at], return_index=True)  # one key per free slot
            won = free_at[first]
            self.keys[slots[won]], self.values[slots[won]] = keys[won], values[won]
            self.count += len(won)
            retry = ~present  # losers of a free slot look at it again (now taken); others probe on
            retry[won] = False
            keep = np.flatnonzero(retry)
            keys, values = keys[keep], values[keep]
            slots = np.where(free[keep], slots[keep], (slots[keep] + 1) & self.mask)
        return np.concatenate(left_out)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """The value of each key, ``-1`` where absent."""
        found = np.full(len(keys), -1, dtype=np.int64)
        pending, slots = np.arange(len(keys)), self._slots(keys)
        while len(pending):
            value = self.values[slots]
            hit = (value >= 0) & (self.keys[slots] == keys[pending])
            found[pending[hit]] = value[hit]
            going_on = (value >= 0) & ~hit  # another key in the slot: probe the next one
            pending, slots = pending[going_on], (slots[going_on] + 1) & self.mask
        return found


class _WordTable:
    """The cached words as code points in numpy, with an open-addressing hash table over them, so
    a batch's words are found with array operations instead of one dict lookup per word string.

    Word ``i`` (the ``i``-th added) is ``points[starts[i]:starts[i] + lengths[i]]``. A lookup
    hashes each word, probes the table and then compares the code points of every hit with the
    stored word, so a hash collision never returns a wrong word. A new word whose hash is already
    in the table is not entered; it is kept in :attr:`colliding` (word -> index), which callers
    look missing words up in (a handful of words, if any)."""

    def __init__(self):
        self.points, self.starts = _Growing(dtype=np.uint32), _Growing(dtype=np.int64)
        self.lengths = _Growing(dtype=np.int64)
        self.colliding: dict[str, int] = {}
        self._resize(1 << 14)

    def __len__(self) -> int:
        return len(self.lengths.view)

    def word(self, i: int) -> str:
        start = int(self.starts.view[i])
        return self.points.view[start:start + int(self.lengths.view[i])].tobytes().decode("utf-32-le", "surrogatepass")

    def _resize(self, size: int) -> None:
        """A new table of ``size`` slots holding every stored word."""
        self.table = _HashTable(size)
        hashes = _word_hashes(self.points.view, self.lengths.view)  # derivable, so not kept
        left_out = self.table.insert(hashes, np.arange(len(self)))
        self.colliding = {self.word(i): i for i in left_out.tolist()}

    def add(self, words: Sequence[str]) -> None:
        """Append ``words`` (distinct, not yet added), in order."""
        points = _code_points("".join(words))
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        first = len(self)
        self.starts.extend(len(self.points.view) + np.cumsum(lengths) - lengths)
        self.points.extend(points)
        self.lengths.extend(lengths)
        size = len(self.table.values)
        if 2 * (self.table.count + len(words)) > size:  # keep the load under one half
            while 2 * (self.table.count + len(words)) > size:
                size *= 2
            self._resize(size)  # re-enters every stored word, these included
        else:
            for i in self.table.insert(_word_hashes(points, lengths), first + np.arange(len(words))).tolist():
                self.colliding[words[i - first]] = i

    def find(self, points: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Index of each word (given as :func:`_split_words` gives them), ``-1`` where not added."""
        found = self.table.find(_word_hashes(points, lengths))
        # confirm every hit by its code points
        candidate = np.flatnonzero(found >= 0)
        same_length = self.lengths.view[found[candidate]] == lengths[candidate]
        found[candidate[~same_length]] = -1
        candidate = candidate[same_length]
        sizes = lengths[candidate]
        if len(candidate) == len(lengths):  # the usual case: every word was cached
            mine = points
        else:
            mine = points[_ranges((np.cumsum(lengths) - lengths)[candidate], sizes)]
        differ = np.flatnonzero(self.points.view[_ranges(self.starts.view[found[candidate]], sizes)] != mine)
        if len(differ):  # the words the differing code points belong to
            found[candidate[np.searchsorted(np.cumsum(sizes), differ, side="right")]] = -1
        return found


class LinearTfidfScorer:
    """Calibrated one-vs-rest linear scores over word and ``char_wb`` TF-IDF features.

    Reproduces ``Pipeline([FeatureUnion([word TfidfVectorizer, char_wb TfidfVectorizer]),
    OneVsRestClassifier(CalibratedClassifierCV(LogisticRegression, method="sigmoid"))])`` with
    lower-casing, sublinear tf, idf and a separate L2 norm per block.

    Parameters
    ----------
    labels : sequence of str, length ``L``
    word_terms, char_terms : sequence of str
        Vocabularies in column order (word block first, then char block).
    word_idf, char_idf : array, shapes ``(len(word_terms),)`` and ``(len(char_terms),)``
    word_ngram_range, char_ngram_range : (int, int)
    token_pattern : str
        The word vectorizer's token regex.
    coef : array, shape ``(n_word + n_char, L)``; intercept, cal_a, cal_b : arrays, shape ``(L,)``
        Per label ``p = 1 / (1 + exp(cal_a * (x @ coef + intercept) + cal_b))``.
    cache_words : int, default 250,000
        Distinct words whose n-gram counts are kept between calls.
    """

    def __init__(self, *, labels: Sequence[str], word_terms: Sequence[str], word_idf: np.ndarray,
                 word_ngram_range: tuple[int, int], token_pattern: str, char_terms: Sequence[str],
                 char_idf: np.ndarray, char_ngram_range: tuple[int, int], coef: np.ndarray,
                 intercept: np.ndarray, cal_a: np.ndarray, cal_b: np.ndarray, cache_words: int = CACHE_WORDS):
        self.labels = tuple(labels)
        self.n_word, self.n_char = len(word_terms), len(char_terms)
        n_labels = len(self.labels)
        self.word_idf = np.asarray(word_idf, dtype=np.float64)
        self.char_idf = np.asarray(char_idf, dtype=np.float64)
        self.coef = np.ascontiguousarray(coef, dtype=np.float64)
        self.intercept, self.cal_a, self.cal_b = (np.asarray(v, dtype=np.float64) for v in (intercept, cal_a, cal_b))
        if self.word_idf.shape != (self.n_word,) or self.char_idf.shape != (self.n_char,):
            raise ValueError("idf vectors do not match the vocabularies")
        if self.coef.shape != (self.n_word + self.n_char, n_labels):
            raise ValueError(f"coef has shape {self.coef.shape}, expected {(self.n_word + self.n_char, n_labels)}")
        if any(v.shape != (n_labels,) for v in (self.intercept, self.cal_a, self.cal_b)):
            raise ValueError("intercept and calibrators need one value per label")
        lo, hi = map(int, word_ngram_range)
        if not 1 <= lo <= hi <= 3:
            raise ValueError(f"word n-gram range {word_ngram_range} is not supported (1 <= lo <= hi <= 3)")
        self.word_ngram_range, self.char_ngram_range = (lo, hi), tuple(map(int, char_ngram_range))
        self.token_pattern = token_pattern
        self.token = re.compile(token_pattern)
        self.idf = np.concatenate([self.word_idf, self.char_idf])
        # per block (word rows, char rows): idf-weighted coefficients and squared idf, side by side
        # in _block_both (one-text scoring gathers rows once), and apart for the batch products
        nw, L = self.n_word, n_labels
        both = np.zeros((self.n_word + self.n_char, 2 * L + 2))
        weighted = self.coef * self.idf[:, None]
        both[:nw, :L], both[nw:, L:2 * L] = weighted[:nw], weighted[nw:]
        both[:nw, 2 * L], both[nw:, 2 * L + 1] = self.word_idf ** 2, self.char_idf ** 2
        self._block_both = both
        self._block_weights = np.ascontiguousarray(both[:, :2 * L])
        self._block_idf2 = np.ascontiguousarray(both[:, 2 * L:])
        self.word_vocab = {t: j for j, t in enumerate(word_terms)}
        if len(self.word_vocab) != self.n_word:
            raise ValueError("vocabulary terms are not unique")
        self.char_index = CharGramIndex(char_terms, self.char_ngram_range, first_column=self.n_word)
        self._char_terms_text = "\n".join(char_terms)  # for save(): one string, not 10^5 objects

        # token table: every word of every word term; an n-gram is a key over token ids
        sizes = np.fromiter(map(str.count, word_terms, repeat(" ")), dtype=np.int64, count=self.n_word) + 1
        flat = " ".join(word_terms).split(" ") if self.n_word else []  # one list, not one per term
        self.token_id = token_id = dict(zip(dict.fromkeys(flat), range(len(flat))))
        self.n_tokens = T = max(len(token_id), 1)
        if T ** hi >= 2 ** 62:
            raise ValueError("word vocabulary too large for integer n-gram keys")
        flat_ids = np.fromiter(map(token_id.__getitem__, flat), dtype=np.int64, count=len(flat))
        term_start = np.cumsum(sizes) - sizes
        self.unigram_col = np.full(T, -1, dtype=np.int64)
        single = np.flatnonzero(sizes == 1)
        self.unigram_col[flat_ids[term_start[single]]] = single
        # per n >= 2: sorted keys and their columns; the C matrix starts with one identity row per
        # such term, so an n-gram occurrence is a P entry pointing at its term's row
        self._ngram_tables: dict[int, tuple[_HashTable, np.ndarray, int, np.ndarray]] = {}
        first_row, identity_cols = 0, []
        for n in range(2, hi + 1):
            cols = np.flatnonzero(sizes == n)
            keys = np.zeros(len(cols), dtype=np.int64)
            for k in range(n):
                keys = keys * T + flat_ids[term_start[cols] + k]
            order = np.argsort(keys, kind="stable")
            keys, cols = keys[order], cols[order]
            # per position in the n-gram: which tokens occur there in some term (a cheap filter
            # that spares most of a batch's word sequences the binary search)
            at = np.zeros((n, T), dtype=bool)
            for k in range(n):
                at[k, flat_ids[term_start[cols] + k]] = True
            table = _HashTable(1 << max(4, (4 * len(keys)).bit_length()))  # load at most 1/4
            table.insert(keys.astype(np.uint64), np.arange(len(keys)))
            self._ngram_tables[n] = (table, cols, first_row, at)
            identity_cols.append(cols)
            first_row += len(cols)
        self._n_identity = first_row
        self._identity_cols = np.concatenate(identity_cols) if identity_cols else np.zeros(0, np.int64)
        self.cache_words = int(cache_words)
        self._lock = threading.Lock()
        self._reset_cache()
        self._char_ids_memo: dict[str, tuple[int, ...]] = {}

    # -- the per-word cache --------------------------------------------------------------
    def _reset_cache(self) -> None:
        k = self._n_identity
        self._c_indptr = _Growing(np.arange(k + 1))
        self._c_indices = _Growing(self._identity_cols)
        self._c_data = _Growing(np.ones(k, dtype=np.int32))
        self._t_indptr = _Growing(np.zeros(1))
        self._t_ids = _Growing()
        self._words = _WordTable()  # word i of the cache is row k + i of the C matrix
        self._matrix: sp.csr_matrix | None = None

    def _add_words(self, words: list[str]) -> None:
        """Compute and keep the counts and token ids of ``words`` (distinct, not yet cached).

        Vectorised over the words: a cold cache (every worker of ``framing score --jobs N`` starts
        with one) costs a few microseconds per new word.
        """
        n_words, n_features = len(words), self.n_word + self.n_char
        gram_cols, gram_owner = self.char_index.columns(words)
        token_lists = list(map(self.token.findall, words))
        token_sizes = np.fromiter(map(len, token_lists), dtype=np.int64, count=n_words)
        flat_tokens = list(chain.from_iterable(token_lists))
        tokens = np.fromiter(map(self.token_id.get, flat_tokens, repeat(-1)), dtype=np.int64, count=len(flat_tokens))
        unigram_cols = np.where(tokens >= 0, self.unigram_col[np.maximum(tokens, 0)], -1)
        owner = np.concatenate([gram_owner, np.repeat(np.arange(n_words, dtype=np.int64), token_sizes)])
        cols = np.concatenate([gram_cols, unigram_cols])
        keep = np.flatnonzero(cols >= 0)
        # row by row (each part is already in word order, so the stable sort only merges them); an
        # n-gram twice in a word stays two entries of 1, which the product P @ C adds up
        keep = keep[np.argsort(owner[keep], kind="stable")]
        sizes = np.bincount(owner[keep], minlength=n_words)
        self._words.add(words)
        self._c_indices.extend(cols[keep].astype(np.int32))
        self._c_data.extend(np.ones(len(keep), dtype=np.int32))
        self._c_indptr.extend(self._c_indptr.view[-1] + np.cumsum(sizes, dtype=np.int64))
        self._t_ids.extend(tokens.astype(np.int32))
        self._t_indptr.extend(self._t_indptr.view[-1] + np.cumsum(token_sizes, dtype=np.int64))

    def _batch_rows(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every word occurrence of ``texts`` (``text.lower().split()``, text after text): the index
        of its text and its cache row (adding missing words), both shape ``(n_words,)``. Call under
        the lock."""
        joined, points, starts, lengths, owners = _split_words(texts)
        found = self._words.find(points, lengths)
        rows = found + self._n_identity
        missing = np.flatnonzero(found < 0)
        if not len(missing):
            return owners, rows
        missing_words = [joined[a:a + k] for a, k in zip(starts[missing].tolist(), lengths[missing].tolist())]
        # new words, and words whose hash collided with another's (cached, but not in the hash table)
        index = self._words.colliding
        new = [w for w in dict.fromkeys(missing_words) if w not in index]
        if len(self._words) + len(new) <= self.cache_words:
            index = {**index, **dict(zip(new, range(len(self._words), len(self._words) + len(new))))}
            self._add_words(new)
            rows[missing] = self._n_identity + np.fromiter(map(index.__getitem__, missing_words), dtype=np.int64,
                                                           count=len(missing))
        else:  # full: start again with this batch's words (a single huge batch may overshoot)
            self._reset_cache()
            words = [joined[a:a + k] for a, k in zip(starts.tolist(), lengths.tolist())]
            distinct = list(dict.fromkeys(words))
            self._add_words(distinct)
            index = dict(zip(distinct, range(len(distinct))))
            rows = self._n_identity + np.fromiter(map(index.__getitem__, words), dtype=np.int64, count=len(words))
        return owners, rows

    # -- features ------------------------------------------------------------------------
    def _entries(self, texts: Sequence[str]):
        """The batch as (text, C row) entries: one per word occurrence and per n-gram (n >= 2)
        occurrence, plus the C matrix arrays they index."""
        n = len(texts)
        with self._lock:  # threads share the cache: rows and the arrays they index are taken together
            word_text, rows = self._batch_rows(texts)
            t_indptr, t_ids = self._t_indptr.view, self._t_ids.view
            C = self._word_matrix()
        # the batch's token-id sequence (text by text), for n-grams of two or more words
        word_index = rows - self._n_identity  # C rows of words come after the n-gram identity rows
        gather, sizes = _ragged_positions(t_indptr, word_index)
        total = len(gather)
        toks = t_ids[gather].astype(np.int64)
        tok_text = np.repeat(word_text, sizes)
        entry_text, entry_col = [word_text], [rows]
        T = self.n_tokens
        for size, (table, cols, first_row, at) in self._ngram_tables.items():
            if total < size or not len(cols):
                continue
            m = total - size + 1
            ok = np.ones(m, dtype=bool)
            for k in range(size):
                part = toks[k:k + m]
                ok &= (part >= 0) & (tok_text[k:k + m] == tok_text[:m])
                ok &= at[k][np.maximum(part, 0)]
            start = np.flatnonzero(ok)
            key = np.zeros(len(start), dtype=np.int64)
            for k in range(size):
                key = key * T + toks[start + k]
            pos = table.find(key.astype(np.uint64))
            hit = pos >= 0
            entry_text.append(tok_text[start[hit]])
            entry_col.append(first_row + pos[hit])
        return n, np.concatenate(entry_text), np.concatenate(entry_col), C

    def counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Raw term counts, shape ``(len(texts), n_word + n_char)``, int32 CSR (unsorted indices)."""
        n, text_of, col_of, C = self._entries(texts)
        # group the entries by text (order within a text does not matter to the product)
        rows = col_of[np.argsort(text_of, kind="stable")].astype(np.int32)
        indptr = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(text_of, minlength=n), out=indptr[1:])
        ones = np.ones(len(rows), dtype=np.int32)
        # The product P @ C, in one pass: scipy's operator first runs a second, symbolic pass only
        # to size the result, while the sum of the gathered rows' lengths already bounds it.
        bound = int((C.indptr[rows + 1] - C.indptr[rows]).sum(dtype=np.int64))
        if (_csr_matmat is None or C.indptr.dtype != np.int32 or C.indices.dtype != np.int32
                or bound >= 2 ** 31):  # int32 indices would overflow (SCORE_BATCH keeps batches far below)
            return sp.csr_matrix((ones, rows, indptr), shape=(n, C.shape[0])) @ C
        out_indptr = np.empty(n + 1, dtype=np.int32)
        out_indices, out_data = np.empty(bound, dtype=np.int32), np.empty(bound, dtype=np.int32)
        _csr_matmat(n, C.shape[1], indptr, rows, ones, C.indptr, C.indices, C.data,
                    out_indptr, out_indices, out_data)
        nnz = int(out_indptr[-1])
        return sp.csr_matrix((out_data[:nnz], out_indices[:nnz], out_indptr), shape=(n, C.shape[1]))

    def _word_matrix(self) -> sp.csr_matrix:
        """The cache as a CSR matrix (C row -> term counts), rebuilt only after words were added
        (building a scipy matrix costs more than a one-paragraph product). Call under the lock."""
        rows = len(self._c_indptr.view) - 1
        if self._matrix is None or self._matrix.shape[0] != rows:
            self._matrix = sp.csr_matrix((self._c_data.view, self._c_indices.view, self._c_indptr.view),
                                         shape=(rows, self.n_word + self.n_char))
        return self._matrix

    def _sublinear_tf(self, texts: Sequence[str]) -> sp.csr_matrix:
        """``1 + log(count)`` per present term, float64 CSR of shape ``(len(texts), n_features)``."""
        X = self.counts(texts)
        X.data = np.log(X.data, dtype=np.float64)  # the product's own matrix: no copy, no new object
        X.data += 1
        return X

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """TF-IDF features, shape ``(len(texts), n_word + n_char)``, float64 CSR: sublinear tf
        times idf, each block (word, char) L2-normalised per row, as the pipeline's FeatureUnion."""
        X = self._sublinear_tf(texts)
        n = X.shape[0]
        X.data *= self.idf[X.indices]
        row_of = np.repeat(np.arange(n), np.diff(X.indptr))
        block = row_of * 2 + (X.indices >= self.n_word)
        norms = np.sqrt(np.bincount(block, weights=X.data * X.data, minlength=2 * n))
        norms[norms == 0] = 1
        X.data /= norms[block]
        return X

    def score_matrix(self, X: sp.spmatrix) -> np.ndarray:
        """Calibrated probabilities from :meth:`transform`'s features: one sparse product, ``(n, L)``."""
        decision = X @ self.coef + self.intercept
        return _expit(-(self.cal_a * decision + self.cal_b))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probability per text and label, shape ``(len(texts), L)``.

        The same numbers as ``score_matrix(transform(texts))`` without building the normalised
        matrix: with ``f = 1 + log(count)``, a block's score is ``(f @ (idf * coef)) / norm`` and
        its squared norm is ``f**2 @ idf**2``, so two sparse products give both.
        """
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)))
        if len(texts) > SCORE_BATCH:  # bounded temporaries (about 1 MB per 100 paragraphs)
            return np.vstack([self.predict_proba(texts[i:i + SCORE_BATCH])
                              for i in range(0, len(texts), SCORE_BATCH)])
        if len(texts) == 1:
            decision = self._decision_one(texts[0])
            return _expit(-(self.cal_a * decision + self.cal_b))
        F = self._sublinear_tf(texts)
        scores = F @ self._block_weights  # (n, 2L): word-block then char-block scores
        F.data *= F.data
        norms = np.sqrt(F @ self._block_idf2)  # (n, 2)
        norms[norms == 0] = 1
        L = len(self.labels)
        decision = scores[:, :L] / norms[:, :1] + scores[:, L:] / norms[:, 1:] + self.intercept
        return _expit(-(self.cal_a * decision + self.cal_b))

    def _decision_one(self, text: str) -> np.ndarray:
        """One text's decision values, shape ``(1, L)``, with numpy alone: an API request is often
        one paragraph, and scipy's matrix objects cost more than the arithmetic at that size."""
        _, _, rows, C = self._entries([text])
        gather, _ = _ragged_positions(C.indptr, rows)
        columns, counts = np.unique(np.repeat(C.indices[gather], C.data[gather]), return_counts=True)
        f = np.log(counts) + 1
        L = len(self.labels)
        products = np.stack([f, f * f]) @ self._block_both.take(columns, axis=0)  # (2, 2L + 2)
        scores, norms = products[0, :2 * L], np.sqrt(products[1, 2 * L:])
        norms[norms == 0] = 1
        return (scores[:L] / norms[0] + scores[L:] / norms[1] + self.intercept)[None, :]

    def char_ids(self, words: Sequence[str]) -> dict[str, tuple[int, ...]]:
        """Columns of each token's ``char_wb`` n-grams, with repeats (for explanations). Tokens
        not seen before are computed together, in one call (numpy's set-up costs more than one
        short word's n-grams); the memo is bounded like the word cache."""
        distinct = list(dict.fromkeys(words))
        with self._lock:
            memo = self._char_ids_memo
            new = [w for w in distinct if w not in memo]
            if new and len(memo) + len(new) > self.cache_words:  # full: start again with these words
                memo.clear()
                new = distinct
            if new:
                cols, owners = self.char_index.columns(new)
                keep = cols >= 0
                cols, owners = cols[keep], owners[keep]
                order = np.argsort(owners, kind="stable")  # by word; each word's n-grams keep their order
                bounds = np.searchsorted(owners[order], np.arange(len(new) + 1)).tolist()
                grouped = cols[order].tolist()
                memo.update((w, tuple(grouped[bounds[k]:bounds[k + 1]])) for k, w in enumerate(new))
            return {w: memo[w] for w in distinct}

    # -- persistence ---------------------------------------------------------------------
    @classmethod
    def from_pipeline(cls, pipeline: Any, labels: Sequence[str], cache_words: int = CACHE_WORDS) -> LinearTfidfScorer:
        """Read the numbers out of a fitted pipeline (see the class docstring for its shape)."""
        word, char = (est for _, est in pipeline.named_steps["features"].transformer_list)
        for vec, analyzer in ((word, "word"), (char, "char_wb")):
            if vec.analyzer != analyzer or not vec.lowercase or vec.strip_accents or vec.preprocessor \
                    or vec.tokenizer or vec.stop_words or not vec.use_idf or vec.norm != "l2" or not vec.sublinear_tf:
                raise ValueError(f"the scorer does not reproduce this {analyzer} vectorizer's settings")
        coef, intercept, cal_a, cal_b = [], [], [], []
        for est in pipeline.named_steps["clf"].estimators_:
            (calibrated,) = est.calibrated_classifiers_
            (calibrator,) = calibrated.calibrators
            coef.append(calibrated.estimator.coef_.ravel())
            intercept.append(calibrated.estimator.intercept_[0])
            cal_a.append(calibrator.a_)
            cal_b.append(calibrator.b_)

        def terms(vec):
            return sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)

        return cls(labels=labels, word_terms=terms(word), word_idf=word.idf_, word_ngram_range=word.ngram_range,
                   token_pattern=word.token_pattern, char_terms=terms(char), char_idf=char.idf_,
                   char_ngram_range=char.ngram_range, coef=np.stack(coef, axis=1), intercept=np.array(intercept),
                   cal_a=np.array(cal_a), cal_b=np.array(cal_b), cache_words=cache_words)

    def save(self, path: str | Path) -> None:
        """Write a compressed ``.npz`` of numeric arrays and UTF-8 bytes (no pickled objects)."""
        inverse_word = sorted(self.word_vocab, key=self.word_vocab.__getitem__)
        config = {"format": FORMAT, "labels": list(self.labels), "word_ngram_range": list(self.word_ngram_range),
                  "char_ngram_range": list(self.char_ngram_range), "token_pattern": self.token_pattern}

        def utf8(text: str) -> np.ndarray:
            return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

        # terms never hold a newline (tokens are \w runs, char n-grams come from whitespace-split words)
        with open(path, "wb") as handle:
            np.savez_compressed(handle, config=utf8(json.dumps(config)), word_terms=utf8("\n".join(inverse_word)),
                                char_terms=utf8(self._char_terms_text), word_idf=self.word_idf,
                                char_idf=self.char_idf, coef=self.coef, intercept=self.intercept,
                                cal_a=self.cal_a, cal_b=self.cal_b)

    @classmethod
    def load(cls, path: str | Path) -> LinearTfidfScorer:
        """Read :meth:`save`'s file. Raises ``ValueError`` when it is not one."""
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            config = json.loads(arrays.pop("config").tobytes().decode("utf-8"))
        except ValueError:
            raise
        except Exception as exc:  # not a zip, truncated, missing members
            raise ValueError(f"not a scorer file ({exc})") from exc
        if config.get("format") != FORMAT:
            raise ValueError(f"unknown scorer format {config.get('format')!r}, expected {FORMAT!r}")

        def terms(name: str) -> list[str]:
            text = arrays.pop(name).tobytes().decode("utf-8")
            return text.split("\n") if text else []

        return cls(labels=config["labels"], word_terms=terms("word_terms"), char_terms=terms("char_terms"),
                   word_ngram_range=tuple(config["word_ngram_range"]),
                   char_ngram_range=tuple(config["char_ngram_range"]), token_pattern=config["token_pattern"],
                   **arrays)

