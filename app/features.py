"""The pipeline's vectorizer type (training side: this module imports scikit-learn).

Scoring does not use it: :mod:`app.scorer` reads the fitted numbers into plain arrays.
"""

from __future__ import annotations

import json

from sklearn.feature_extraction.text import TfidfVectorizer


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
