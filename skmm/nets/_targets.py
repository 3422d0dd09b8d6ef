"""The nets' targets as the training batches carry them, and back to the user's y.

Training batches hold class codes (a classifier) or standardised targets (a regressor with
``target_scaling``); a scoring callback compares ``predict`` with y as the user gave it, so
its fitted copy reads y back through a ``target_extractor`` (:func:`scoring_on`).
"""

import copy

import numpy as np
from skorch.callbacks import BatchScoring, EpochScoring
from skorch.utils import to_numpy


def code_accuracy(net, X, y):
    """Accuracy of ``net`` on X against class codes y (positions in ``classes_``), or the
    subset accuracy against a multi-label 0/1 matrix y."""
    y = np.asarray(y)
    proba = net.predict_proba(X)
    if y.ndim == 2:
        return float(np.mean(np.all((proba > 0.5) == (y > 0.5), axis=1)))
    return float(np.mean(proba.argmax(axis=1) == y))


class CodesToLabels:
    """``target_extractor`` of a scoring callback: class codes -> the labels of ``classes``."""

    def __init__(self, classes):
        self.classes = classes

    def __call__(self, y):
        return self.classes[to_numpy(y).astype(np.intp)]


class ScaledToUnits:
    """``target_extractor`` of a scoring callback: standardised targets -> y's own units."""

    def __init__(self, mean, scale):
        self.mean, self.scale = mean, scale

    def __call__(self, y):
        return to_numpy(y).astype(np.float64) * self.scale + self.mean


def scoring_on(callback, extractor):
    """A copy of a user's scoring callback whose y goes through ``extractor`` (so that it
    compares ``predict`` with y as the user gave it), or the callback itself."""
    if (not isinstance(callback, (EpochScoring, BatchScoring))
            or callback.scoring is code_accuracy or callback.target_extractor is not to_numpy):
        return callback
    callback = copy.copy(callback)
    callback.target_extractor = extractor
    return callback


def target_statistics(y, sample_weight=None):
    """``(mean, std)`` of each column of y (n_samples, n_targets), float64, weighted by
    ``sample_weight``; a std that is 0 (a constant target, to float32 precision) is 1."""
    y = np.asarray(y, dtype=np.float64)
    mean = np.average(y, axis=0, weights=sample_weight)
    std = np.sqrt(np.average((y - mean) ** 2, axis=0, weights=sample_weight))
    tiny = 10 * np.finfo(np.float32).eps * np.maximum(np.abs(mean), 1.0)
    return mean, np.where(std > tiny, std, 1.0)
