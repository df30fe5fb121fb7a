"""The training data's augmentations: what a joined pair and a diluted row are made of."""

import numpy as np

from training.train import diluted_rows, mixed_pairs, with_pairs

TEXTS = np.array([f"{lang}{i}" for lang in ("en", "ru") for i in range(10)], dtype=object)
LANGS = np.array(["en"] * 10 + ["ru"] * 10)
Y = np.zeros((20, 3), dtype=int)
Y[[0, 1, 2, 10, 11], 0] = 1
Y[[2, 3, 12], 1] = 1
Y[[4, 13], 2] = 1
NONE = set(np.flatnonzero(Y.sum(axis=1) == 0))
INDEX = {t: i for i, t in enumerate(TEXTS)}


def test_a_diluted_row_is_one_row_among_two_no_label_rows_of_its_language_with_its_own_labels():
    texts, labels = diluted_rows(TEXTS, Y, LANGS, np.arange(20), 1.0, seed=3)
    assert len(texts) == 20
    for text, row_labels in zip(texts, labels):
        parts = [INDEX[t] for t in text.split(" ")]
        assert len(parts) == 3 and len(set(LANGS[parts])) == 1
        assert sum(p not in NONE for p in parts) <= 1  # the row itself; the other two have no label
        assert (row_labels == Y[parts].max(axis=0)).all()
    again = diluted_rows(TEXTS, Y, LANGS, np.arange(20), 1.0, seed=3)
    assert list(again[0]) == list(texts)  # seeded


def test_held_out_dilution_draws_its_no_label_rows_from_the_given_pool_only():
    labelled, pool = np.array([0, 1, 10]), np.array([0, 1, 5, 6, 7, 10, 15, 16, 17])
    texts, labels = diluted_rows(TEXTS, Y, LANGS, labelled, 1.0, seed=1, pool=pool)
    assert len(texts) == 3
    for text in texts:
        parts = [INDEX[t] for t in text.split(" ")]
        assert set(parts) - set(labelled.tolist()) <= set(pool.tolist()) & NONE


def test_pairs_unite_labels_and_training_data_holds_rows_pairs_and_diluted_rows():
    texts, labels = mixed_pairs(TEXTS, Y, LANGS, np.arange(20), 1.0, seed=2)
    for text, row_labels in zip(texts, labels):
        parts = [INDEX[t] for t in text.split(" ")]
        assert len(parts) == 2 and len(set(LANGS[parts])) == 1 and parts[0] != parts[1]
        assert (row_labels == (Y[parts[0]] | Y[parts[1]])).all()
    rows = np.arange(20)
    train_texts, train_Y = with_pairs(TEXTS, Y, LANGS, rows, 0.5, seed=4, dilute=0.3)
    assert len(train_texts) == len(train_Y) == 20 + 10 + 6
    assert list(train_texts[:20]) == list(TEXTS) and (train_Y[:20] == Y).all()
