"""Fusion operators: M branch outputs ``(batch, width)`` and a presence mask -> one vector.

An operator is a ``torch.nn.Module`` built as ``cls(n_modalities, width, **hyperparameters)``
(the sizes only when its constructor takes them), with an ``out_features`` attribute, and
called as ``op(h, present)`` with ``h`` a tensor ``(batch, M, width)`` whose rows of absent
modalities are already zero and ``present`` a bool tensor ``(batch, M)``; it returns
``(batch, op.out_features)``. An absent modality contributes exactly nothing, in each
operator's own sense (see each class). A sample with no modality present fuses to a
constant (zero or a learnt bias).

:data:`FUSIONS` is the registry of operators by name; :func:`register_fusion` adds one,
its hyperparameters included: they are its constructor arguments, which the nets route
from ``fusion__<name>`` parameters.
"""

import numbers

import torch
from torch import nn

from .._docs import fill_doc
from .._validation import Integer
from ._registry import REGISTER_DOCS, Registry

#: The fusion operators by name (a mapping name -> class; see :func:`register_fusion`).
FUSIONS = Registry("fusion", "fusion", context=("n_modalities", "width"),
                   register_hint="skmm.nets.FUSIONS")


@fill_doc(**REGISTER_DOCS)
def register_fusion(name, cls=None, **defaults):
    """Register a fusion operator class as ``name`` (a class decorator when ``cls`` is None).

    Parameters
    ----------
    name : str
        The value of the nets' ``fusion`` parameter that selects it; registering a name
        twice is an error.
    cls : torch.nn.Module subclass, optional
        Built as ``cls(n_modalities=..., width=..., **hyperparameters)`` (the sizes only when
        its constructor takes them); it sets ``self.out_features`` and its ``forward(h,
        present)`` maps ``(batch, M, width)`` and a bool mask ``(batch, M)`` to
        ``(batch, out_features)``. Its other constructor arguments are hyperparameters,
        set on a net as ``fusion__<argument>`` (and tuned by ``GridSearchCV`` alike).
    {{defaults}}

    {{returns}}

    Examples
    --------
    >>> import torch
    >>> from skmm.nets import FUSIONS, register_fusion
    >>> @register_fusion("max")
    ... class MaxFusion(torch.nn.Module):
    ...     def __init__(self, n_modalities, width):
    ...         super().__init__()
    ...         self.out_features = width
    ...     def forward(self, h, present):
    ...         return h.masked_fill(~present.unsqueeze(2), -1e4).amax(dim=1)
    >>> "max" in FUSIONS
    True
    >>> FUSIONS.unregister("max").__name__
    'MaxFusion'
    """
    return FUSIONS.register(name, cls, **defaults)


@register_fusion("concat")
class ConcatFusion(nn.Module):
    """Concatenation of the branch outputs (absent ones are zero)."""

    def __init__(self, n_modalities, width):
        super().__init__()
        self.out_features = n_modalities * width

    def forward(self, h, present):
        return h.flatten(1)


@register_fusion("sum")
class SumFusion(nn.Module):
    """Mean of the branch outputs over the present modalities."""

    def __init__(self, n_modalities, width):
        super().__init__()
        self.out_features = width

    def forward(self, h, present):
        count = present.sum(dim=1, keepdim=True).clamp(min=1).to(h.dtype)
        return h.sum(dim=1) / count


@register_fusion("gated")
class GatedFusion(nn.Module):
    """Gated multimodal unit (Arevalo et al., 2017), for any number of modalities.

    ``out = sum_i z_i * tanh(W_i h_i)`` where the gates ``z`` (one per modality and
    feature) are a softmax over the present modalities of ``W_z [h_1, ..., h_M]``.
    """

    def __init__(self, n_modalities, width):
        super().__init__()
        self.out_features = width
        self.transforms = nn.ModuleList(nn.Linear(width, width) for _ in range(n_modalities))
        self.gate = nn.Linear(n_modalities * width, n_modalities * width)

    def forward(self, h, present):
        b, m, d = h.shape
        keep = present.unsqueeze(2)
        candidates = torch.stack([torch.tanh(t(h[:, i])) for i, t in enumerate(self.transforms)], 1)
        logits = self.gate(h.flatten(1)).view(b, m, d)
        logits = logits.masked_fill(~keep, float("-inf"))
        logits = logits.masked_fill(~keep.any(dim=1, keepdim=True), 0.0)  # none present
        z = torch.softmax(logits, dim=1)
        return (z * candidates * keep.to(h.dtype)).sum(dim=1)


@register_fusion("tensor")
class TensorFusion(nn.Module):
    """Tensor fusion (Zadeh et al., 2017): the outer product of the factors ``[p_i, 1]``.

    ``p_i`` is a linear projection of branch ``i`` to ``factor_dim`` features (kept small
    so that ``(factor_dim + 1) ** M`` stays near 4,096); absent ones are zero, so their
    factor is ``[0, ..., 0, 1]``.
    """

    def __init__(self, n_modalities, width, factor_dim=None):
        super().__init__()
        if factor_dim is None:
            factor_dim = min(width, max(1, int(round(4096 ** (1.0 / n_modalities))) - 1))
        self.projections = nn.ModuleList(nn.Linear(width, factor_dim) for _ in range(n_modalities))
        self.out_features = (factor_dim + 1) ** n_modalities

    def forward(self, h, present):
        fused = None
        keep = present.to(h.dtype)
        for i, project in enumerate(self.projections):
            p = project(h[:, i]) * keep[:, i:i + 1]
            factor = torch.cat([p, torch.ones_like(p[:, :1])], dim=1)
            fused = (
                factor if fused is None else (fused.unsqueeze(2) * factor.unsqueeze(1)).flatten(1)
            )
        return fused


@register_fusion("lowrank")
class LowRankFusion(nn.Module):
    """Low-rank multimodal fusion (Liu et al., 2018) with ``rank`` modality-specific factors.

    ``out = sum_r w_r prod_i ([h_i, 1] W_i^(r)) + b``; the factors of absent modalities are
    set to 1 so that they drop out of the product.
    """

    _parameter_constraints = {
        "rank": ([Integer(1)], "Set it with fusion__rank= (or fusion_rank=, its alias)."),
    }

    def __init__(self, n_modalities, width, rank=4):
        super().__init__()
        self.out_features = width
        self.factors = nn.Parameter(torch.empty(n_modalities, int(rank), width + 1, width))
        for i in range(n_modalities):
            for r in range(int(rank)):
                nn.init.xavier_normal_(self.factors.data[i, r])
        self.rank_weights = nn.Parameter(torch.full((int(rank),), 1.0 / rank))
        self.bias = nn.Parameter(torch.zeros(width))

    def forward(self, h, present):
        padded = torch.cat([h, torch.ones_like(h[..., :1])], dim=2)  # (b, m, d + 1)
        factors = torch.einsum("bmd,mrdo->bmro", padded, self.factors)
        keep = present[:, :, None, None]
        factors = torch.where(keep, factors, torch.ones_like(factors))
        return torch.einsum("r,bro->bo", self.rank_weights, factors.prod(dim=1)) + self.bias


@register_fusion("attention")
class AttentionFusion(nn.Module):
    """Self-attention over the modality tokens (one pre-norm Transformer layer).

    Each branch output plus a learnt modality embedding is a token; absent tokens are
    masked out of the keys, and the output is the mean of the present tokens.
    """

    def __init__(self, n_modalities, width, n_heads=None, dropout=0.1):
        super().__init__()
        self.out_features = width
        n_heads = n_heads or next(k for k in (4, 2, 1) if width % k == 0)
        self.modality = nn.Parameter(torch.randn(1, n_modalities, width) * 0.02)
        self.norm1 = nn.LayerNorm(width)
        self.attention = nn.MultiheadAttention(width, n_heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(width)
        self.feedforward = nn.Sequential(
            nn.Linear(width, 2 * width),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(2 * width, width),
        )

    def forward(self, h, present):
        tokens = h + self.modality
        ignore = ~present & present.any(dim=1, keepdim=True)  # none present: attend to all
        x = self.norm1(tokens)
        attended, _ = self.attention(x, x, x, key_padding_mask=ignore, need_weights=False)
        tokens = tokens + attended
        tokens = tokens + self.feedforward(self.norm2(tokens))
        keep = present.unsqueeze(2).to(h.dtype)
        return (tokens * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1)


def make_fusion(fusion, n_modalities, width, **params):
    """Build the fusion operator ``fusion`` for ``n_modalities`` branch outputs of ``width``.

    Parameters
    ----------
    fusion : str, torch.nn.Module class or instance
        A name of :data:`FUSIONS`, a class, or an instance (deep-copied).
    n_modalities : int
    width : int
    **params
        Hyperparameters; those the operator does not take are ignored when another
        registered operator takes them (e.g. ``rank``, of "lowrank").

    Returns
    -------
    torch.nn.Module with an ``out_features`` attribute, called as ``op(h, present)``.
    """
    op = FUSIONS.build(fusion, {"n_modalities": n_modalities, "width": width}, params)
    if not isinstance(getattr(op, "out_features", None), numbers.Integral):
        raise TypeError(
            f"the fusion operator {type(op).__name__} has no int out_features; set "
            "self.out_features (the width of its output) in its __init__."
        )
    return op
