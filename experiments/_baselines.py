"""Count-based baselines for classifiers of token-id sequences, to report next to a model.

    majority_class(train_y, test_y, classes)   the most frequent training label
    naive_bayes(train_x, train_y, test_x, vocab, classes)
                                               multinomial naive Bayes on token counts

Experiments import this module by name (`from _baselines import naive_bayes`):
experiments/ is not a package, and a script's own folder is on sys.path when it runs.
"""

from __future__ import annotations

import numpy as np


def majority_class(train_y, test_y, classes: int) -> tuple[int, float]:
    """(label, test accuracy) of always answering the most frequent training label."""
    label = int(np.argmax(np.bincount(train_y, minlength=classes)))
    return label, float(np.mean(np.asarray(test_y) == label))


def naive_bayes(train_x, train_y, test_x, vocab: int, classes: int, *, pad: int | None = None):
    """Class scores (N, classes) of multinomial naive Bayes on the token counts of each row.

    For class c and a row of token ids w_1..w_T:

        score_c = log(n_c + 1) + sum_t log p(w_t | c),
        p(w | c) = (count of w in the training rows of class c + 1) / (sum over all w)

    with add-one smoothing over the ids [0, vocab) and n_c the number of training rows of
    class c (the prior, also add-one smoothed). `argmax(1)` of the scores is the prediction.
    With `pad` (e.g. 0, the id Keras's `pad_sequences` pads with), that id is not a word:
    it has no probability mass and adds nothing to a row's score, so padded rows of any
    length compare fairly. The default counts every id, as unpadded passages need.

    train_x: (N_train, T) int token ids < vocab.
    train_y: (N_train,) int labels < classes.
    test_x: (N, T') int token ids < vocab (each row is a bag of words).

        scores = naive_bayes(x_train, y_train, x_test, vocab=10_000, classes=2, pad=0)
        accuracy = np.mean(scores.argmax(1) == y_test)
    """
    train_x, train_y = np.asarray(train_x), np.asarray(train_y)
    counts = np.ones((classes, vocab))
    for c in range(classes):
        np.add.at(counts[c], train_x[train_y == c].ravel(), 1)
    if pad is not None:
        counts[:, pad] = 0
    with np.errstate(divide="ignore"):
        log_p = np.log(counts / counts.sum(1, keepdims=True))
    if pad is not None:
        log_p[:, pad] = 0.0
    prior = np.log(np.bincount(train_y, minlength=classes) + 1.0)
    return prior + np.stack([log_p[:, row].sum(1) for row in test_x])
