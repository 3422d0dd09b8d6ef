"""Embeddings of a table's columns for the branches: categories and numbers.

:func:`embedding_size` is the width of a categorical column's embedding;
:class:`PeriodicEmbedding` embeds each number periodically (Gorishniy et al., NeurIPS 2022),
asked for by a branch's ``numeric_embedding="periodic"`` (:func:`make_numeric_embedding`).
"""

import math

import torch
from torch import nn

from .._validation import Options, check_param


def embedding_size(n_categories, width):
    """Embedding width of a categorical column with ``n_categories`` (0 included): the
    rule of thumb of tabular deep-learning libraries, ``1.6 * n ** 0.56``, within
    [2, ``width``].

    Examples
    --------
    >>> embedding_size(10, 64), embedding_size(1000, 64), embedding_size(2, 64)
    (6, 64, 2)
    """
    return int(min(width, max(2, round(1.6 * n_categories ** 0.56))))


class PeriodicEmbedding(nn.Module):
    """Each number ``x_j`` as ``ReLU(W_j [cos(2 pi c_j x_j), sin(2 pi c_j x_j)] + b_j)``: the
    periodic embedding "PLR" of Gorishniy et al. (NeurIPS 2022), with ``n_frequencies``
    trained frequencies ``c_j`` per column, initialised from ``N(0, sigma)``.

    Maps ``(batch, n_numbers)`` (standardised) to ``(batch, n_numbers * dim)``.
    """

    def __init__(self, n_numbers, dim=16, n_frequencies=16, sigma=1.0):
        super().__init__()
        self.frequencies = nn.Parameter(torch.randn(n_numbers, n_frequencies) * float(sigma))
        bound = 1.0 / math.sqrt(2 * n_frequencies)
        self.weight = nn.Parameter(
            torch.empty(n_numbers, 2 * n_frequencies, dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_numbers, dim).uniform_(-bound, bound))

    def forward(self, x):
        angles = 2 * math.pi * self.frequencies * x[..., None]
        periodic = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
        out = torch.einsum("bfk,fkd->bfd", periodic, self.weight) + self.bias
        return torch.relu(out).flatten(1)


NUMERIC_EMBEDDINGS = (None, "periodic", "auto")
#: ``numeric_embedding="auto"`` embeds a block's numbers when it has at most this many: a
#: table's numbers (Adult has 6, California housing 8), not a wide block of extracted
#: features (an image embedding's 512 columns), where it would cost 16x the first layer.
AUTO_MAX_NUMBERS = 32
#: ... and when the fit has at least this many rows: below, the embedding overfits. Recipe
#: on subsamples of the real tables (``benchmarks/ablation_small.py``; mean of 3-5 draws),
#: without the embedding against with it: 320 training rows, Adult accuracy 0.830 against
#: 0.820, California R² 0.617 against 0.540; 1,000 rows, 0.836 against 0.840 and 0.737
#: against 0.703; 2,000 rows, 0.841 against 0.838 and 0.711 against 0.756.
AUTO_MIN_ROWS = 1_500


def make_numeric_embedding(kind, n_numbers, dim, n_frequencies, scale):
    """The embedding of ``n_numbers`` columns asked for by ``numeric_embedding`` (or None).

    "auto" is "periodic" for at most :data:`AUTO_MAX_NUMBERS` numbers, else None: on Adult
    it added 0.007 to the accuracy and to the AUC, on California housing 0.033 to the R²
    (``benchmarks/results/real_ablation.md``). The nets turn "auto" into None for a fit on
    fewer than :data:`AUTO_MIN_ROWS` rows (:func:`~skmm.nets._build.net_module`).

    Examples
    --------
    >>> type(make_numeric_embedding("auto", 6, 16, 16, 1.0)).__name__
    'PeriodicEmbedding'
    >>> make_numeric_embedding("auto", 512, 16, 16, 1.0) is None
    True
    """
    check_param("numeric_embedding", kind, [Options(*NUMERIC_EMBEDDINGS[1:]), None])
    if kind == "auto":
        kind = "periodic" if n_numbers <= AUTO_MAX_NUMBERS else None
    if kind is None or not n_numbers:
        return None
    return PeriodicEmbedding(int(n_numbers), int(dim), int(n_frequencies), float(scale))
