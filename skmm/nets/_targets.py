"""The nets' targets as the training batches carry them, their weights, and back to the user's y.

Training batches hold class codes (a classifier) or standardised targets (a regressor with
``target_scaling``); a scoring callback compares ``predict`` with y as the user gave it, so
its fitted copy reads y back through a ``target_extractor`` (:func:`scoring_on`).
"""

import copy
import numbers

import numpy as np
import torch
from scipy import sparse
from sklearn.utils.multiclass import type_of_target
from skorch.callbacks import BatchScoring, EpochScoring
from skorch.utils import to_numpy

from ..exceptions import InvalidInputError


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


def encode_indicator(net, y, reset, classes):
    """A multi-label indicator y as float32 0/1 targets of BCEWithLogitsLoss; with ``reset``
    the net's classes are its columns (``classes_inferred_``, ``n_outputs_``)."""
    kind = type_of_target(y)
    if kind == "multilabel-indicator":  # two values at most: they must be 0 and 1
        values = np.unique(y.data if sparse.issparse(y) else y)
        kind = kind if np.isin(values, (0, 1)).all() else f"2-D with values {values}"
    if kind != "multilabel-indicator":
        raise InvalidInputError(
            f"y has shape {y.shape}: a 2-D y is taken as a multi-label indicator matrix "
            f"(0/1 values, one column per label), but this y is {kind!r}. Fix: pass 1-D "
            "labels for one class per row, a 0/1 matrix (MultiLabelBinarizer) for several "
            "labels per row, or wrap the net in sklearn.multioutput.MultiOutputClassifier "
            "for several multi-class outputs."
        )
    y = y.toarray() if sparse.issparse(y) else np.asarray(y)
    n_labels = y.shape[1]
    if reset:
        given = net.classes if net.classes is not None else classes
        if given is not None and not np.array_equal(np.asarray(given), np.arange(n_labels)):
            raise InvalidInputError(
                f"classes={given!r} was given, but with a multi-label indicator y the "
                f"classes are its columns, 0 .. {n_labels - 1}. Leave classes=None."
            )
        net.classes_inferred_ = np.arange(n_labels)
        net.n_outputs_ = n_labels
    elif n_labels != net.n_outputs_:
        raise InvalidInputError(
            f"y has {n_labels} label columns but the net was fitted on {net.n_outputs_}."
        )
    return np.ascontiguousarray(y, dtype=np.float32)


def class_weights(net, codes, sample_weight):
    """The weight of each class (in ``net.classes_`` order) from ``net.class_weight``
    (None for a multi-label net, which refuses one)."""
    spec = net.class_weight
    if net.multilabel_:
        if spec is not None:
            raise InvalidInputError(
                f"class_weight={spec!r} weighs each row by its class, but a multi-label "
                "row has several labels. Fix: weigh rows with sample_weight, or each "
                "label's positives with criterion__pos_weight=torch.tensor([...]) (one "
                "weight per label, of BCEWithLogitsLoss)."
            )
        return None
    n_classes = len(net.classes_)
    weights = np.ones(n_classes)
    if isinstance(spec, str):  # "balanced", from the (weighted) counts of the rows
        counts = np.bincount(codes, weights=sample_weight, minlength=n_classes)
        seen = counts > 0
        weights[seen] = counts.sum() / (seen.sum() * counts[seen])
    elif spec is not None:
        classes = net.classes_.tolist()
        unknown = [label for label in spec if label not in classes]
        if unknown:
            raise InvalidInputError(
                f"class_weight names labels {unknown} that are not among the classes "
                f"{classes}. Fix: key the dict by the labels of y."
            )
        for index, label in enumerate(classes):
            weight = spec.get(label, 1.0)
            if (isinstance(weight, bool) or not isinstance(weight, numbers.Real)
                    or not (np.isfinite(weight) and weight >= 0)):
                raise InvalidInputError(
                    f"class_weight[{label!r}] must be a finite number >= 0, got {weight!r}."
                )
            weights[index] = weight
    return weights


def auto_nonlinearity(criterion):
    """The ``predict_nonlinearity`` that "auto" stands for with ``criterion``, as skorch
    infers it: a softmax after CrossEntropyLoss, a sigmoid (as two columns) after
    BCEWithLogitsLoss, two columns after BCELoss, else the identity."""
    criterion = getattr(criterion, "_orig_mod", criterion)  # unwrapped from torch.compile
    if isinstance(criterion, torch.nn.CrossEntropyLoss):
        return _softmax
    if isinstance(criterion, torch.nn.BCEWithLogitsLoss):
        return _sigmoid_then_2d
    if isinstance(criterion, torch.nn.BCELoss):
        return _two_columns
    return identity


def identity(y):
    """``predict_nonlinearity=None``: the module's output as it is."""
    return y


def _softmax(y):
    return torch.softmax(y, dim=-1)


def _two_columns(prob):
    """Binary probabilities (n,) as the (n, 2) array scikit-learn expects."""
    return torch.stack((1 - prob, prob), 1)


def _sigmoid_then_2d(logits):
    return _two_columns(torch.sigmoid(logits))
