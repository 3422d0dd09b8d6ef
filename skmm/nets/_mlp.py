"""The default module of the fusion nets: a multilayer perceptron over the whole input row."""

import numbers

from torch import nn

from ..exceptions import InvalidInputError


def check_hidden_sizes(hidden_sizes):
    """Return ``hidden_sizes`` as a tuple of positive ints, or raise InvalidInputError."""
    if isinstance(hidden_sizes, numbers.Integral):
        hidden_sizes = (hidden_sizes,)
    try:
        sizes = tuple(hidden_sizes)
    except TypeError:
        sizes = None
    if sizes is None or not all(isinstance(s, numbers.Integral) and s > 0 for s in sizes):
        raise InvalidInputError(
            f"hidden_sizes must be a tuple of positive integers (one per hidden layer, () for "
            f"a linear model), got {hidden_sizes!r}."
        )
    return tuple(int(s) for s in sizes)


def check_dropout(dropout):
    """Return ``dropout`` as a float in [0, 1), or raise InvalidInputError."""
    if not isinstance(dropout, numbers.Real) or not 0.0 <= dropout < 1.0:
        raise InvalidInputError(f"dropout must be a float in [0, 1), got {dropout!r}.")
    return float(dropout)


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
        layers, width = [], int(n_features)
        for size in check_hidden_sizes(hidden_sizes):
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(check_dropout(dropout)))
            width = size
        layers.append(nn.Linear(width, int(n_outputs)))
        self.layers = nn.Sequential(*layers)

    def forward(self, X):
        return self.layers(X)
