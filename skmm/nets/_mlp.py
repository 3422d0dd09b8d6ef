"""The default module of the fusion nets: a multilayer perceptron over the whole input row."""

import numbers

from torch import nn

from .._validation import Real, Satisfies, check_param


def _sizes(value):
    """``hidden_sizes`` as a tuple (an int is one layer), or None if it is not a sequence."""
    if isinstance(value, numbers.Integral):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        return None


HIDDEN_SIZES = Satisfies(
    lambda v: _sizes(v) is not None and all(
        isinstance(s, numbers.Integral) and s > 0 for s in _sizes(v)),
    "a tuple of positive integers (one per hidden layer, () for a linear model)",
)
DROPOUT = Real(0, 1, closed="left")
#: What ``hidden_sizes="auto"`` gives: the MLP over a plain row, the head of a multimodal module.
AUTO_HIDDEN_SIZES = {"plain": (256,), "head": ()}


def resolve_hidden_sizes(hidden_sizes, where):
    """``hidden_sizes``, with "auto" resolved for ``where`` ("plain" or "head")."""
    if isinstance(hidden_sizes, str) and hidden_sizes == "auto":
        return AUTO_HIDDEN_SIZES[where]
    return hidden_sizes


class MLP(nn.Module):
    """``n_features -> hidden_sizes... -> n_outputs`` with ReLU and dropout after each hidden layer.

    Parameters
    ----------
    n_features : int
        Width of the input rows.
    n_outputs : int
        Width of the output (class logits or regression targets).
    hidden_sizes : tuple of int, default=(256,)
        Units of each hidden layer; ``()`` gives a linear model.
    dropout : float in [0, 1), default=0.1

    Examples
    --------
    >>> import torch
    >>> from skmm.nets import MLP
    >>> MLP(5, 3, hidden_sizes=(8,))(torch.zeros(2, 5)).shape
    torch.Size([2, 3])
    """

    def __init__(self, n_features, n_outputs, hidden_sizes=(256,), dropout=0.1):
        super().__init__()
        check_param("hidden_sizes", hidden_sizes, [HIDDEN_SIZES])
        check_param("dropout", dropout, [DROPOUT])
        layers, width = [], int(n_features)
        for size in _sizes(hidden_sizes):
            layers += [nn.Linear(width, int(size)), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(float(dropout)))
            width = int(size)
        layers.append(nn.Linear(width, int(n_outputs)))
        self.layers = nn.Sequential(*layers)

    def forward(self, X):
        return self.layers(X)
