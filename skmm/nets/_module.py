"""The multimodal module: one branch per block, a fusion operator, a head.

:class:`MultimodalModule` slices X into the blocks of its layout
(:mod:`._layout`), standardises each, runs one branch per block (:mod:`._branches`),
fuses the branch outputs with an operator (:mod:`._operators`) that respects the
presence masks, and applies a head (an :class:`~skmm.nets.MLP`).
:func:`build_multimodal_module` does all of it from a training X.
"""

import numpy as np
import torch
from torch import nn

from .._validation import Integer, Real, check_param
from ..exceptions import InvalidInputError
from ._branches import BRANCHES, make_branch, resolve_branches
from ._layout import block_statistics, infer_layout, nan_is_missing
from ._mlp import MLP
from ._operators import FUSIONS, make_fusion
from ._sparse import SparseSplitter


class MultimodalModule(nn.Module):
    """Branches per block, a fusion operator that respects presence masks, and a head.

    Parameters
    ----------
    layout : tuple of Block
        From :func:`infer_layout`.
    n_outputs : int
        Width of the output (classes, or regression targets).
    branches : list of str, optional
        Branch per block (see :func:`resolve_branches`).
    fusion : str, torch.nn.Module class or instance, default="concat"
        The fusion operator: a name of :data:`~skmm.nets.FUSIONS`, a class or an instance.
    width : int, default=64
        Common output width of the branches.
    hidden_sizes : tuple of int, default=(128,)
        Hidden layers of the head, an :class:`~skmm.nets.MLP` from the fused vector to
        the output.
    dropout : float, default=0.1
        Dropout of the branches and of the head.
    modality_dropout : float in [0, 1), default=0.0
        In training, each present modality of a sample is dropped (treated as missing)
        with this probability; a sample never loses all of its present modalities.
    aux_heads : bool, default=False
        Add one linear head per branch. In training, ``forward`` then returns
        ``(logits, aux_logits, present)`` with ``aux_logits`` of shape
        ``(batch, n_blocks, n_outputs)``; in evaluation it returns the logits only.
    stats, vocab_sizes : lists from :func:`~skmm.nets._layout.block_statistics`, optional
    fusion_params, branch_params : dict, optional
        Hyperparameters of the fusion operator and of the branches (each takes those its
        constructor takes; see :mod:`skmm.nets._registry`).

    Notes
    -----
    ``forward(X)`` takes the whole 2-D float X ``(batch, n_features)`` and returns
    ``(batch, n_outputs)``. A block is missing for a sample where its presence column
    is not above 0.5; its values are then ignored (NaN included) and its branch output
    is zero and treated as absent by the fusion operator. In a feature or tabular block
    (see :func:`~skmm.nets._layout.nan_is_missing`) a NaN cell reads as its column's
    training mean, and a block without a presence column is missing where all its cells
    are NaN.
    """

    _parameter_constraints = {"width": [Integer(1)],
                              "modality_dropout": [Real(0, 1, closed="left")]}

    def __init__(self, layout, n_outputs, branches=None, fusion="concat", width=64,
                 hidden_sizes=(128,), dropout=0.1, modality_dropout=0.0, aux_heads=False,
                 stats=None, vocab_sizes=None, fusion_params=None, branch_params=None):
        super().__init__()
        for name, value in (("width", width), ("modality_dropout", modality_dropout)):
            check_param(name, value, self._parameter_constraints[name])
        self.layout = tuple(layout)
        self.modality_dropout = float(modality_dropout)
        n = len(self.layout)
        branches = list(branches or resolve_branches(self.layout))
        check_hyperparameters(fusion, fusion_params, branches, branch_params)
        vocab_sizes = list(vocab_sizes or [None] * n)
        stats = list(stats or [None] * n)
        self.branches = nn.ModuleList(
            make_branch(spec, b.kind, b.shape, int(width), vocab_sizes[i], dropout,
                        **(branch_params or {}))
            for i, (spec, b) in enumerate(zip(branches, self.layout))
        )
        # a sparse X: the dense blocks are read from the dense columns the splitter gathers
        self.splitter = (SparseSplitter(self.layout)
                         if any(b.kind == "sparse" for b in self.layout) else None)
        indexed = self.layout if self.splitter is None else self.splitter.dense_layout
        self.masks = [b.mask for b in indexed]
        for i, (block, stat) in enumerate(zip(indexed, stats)):
            self.register_buffer(f"columns_{i}", torch.as_tensor(block.columns, dtype=torch.long))
            shift, scale = stat if stat is not None else (0.0, 1.0)
            self.register_buffer(f"shift_{i}", torch.as_tensor(shift, dtype=torch.float32))
            self.register_buffer(f"scale_{i}", torch.as_tensor(scale, dtype=torch.float32))
        self.fusion = make_fusion(fusion, n, int(width), **(fusion_params or {}))
        self.head = MLP(self.fusion.out_features, n_outputs, hidden_sizes, dropout)
        self.aux_heads = (
            nn.ModuleList(nn.Linear(int(width), n_outputs) for _ in range(n)) if aux_heads else None
        )
        self.combination = None  # weights of the per-branch heads (see set_combination)
        self.combine_kind = "log_prob"
        self.keep_branch_outputs = False  # keep the last training batch's h (OGM-GE reads it)
        self.branch_outputs = None

    def blocks(self, X):
        """The columns of each block of X, in layout order: a list of (batch, n_in) tensors."""
        return [X.index_select(1, getattr(self, f"columns_{i}")) for i in range(len(self.layout))]

    def read(self, X):
        """``(X, blocks)`` of a batch: X as float (for a sparse X, the dense tensor of its
        dense blocks' columns, see :class:`~skmm.nets._sparse.SparseSplitter`) and each
        block's input (a sparse block's: the bags of its non-zeros)."""
        if X.layout != torch.sparse_csr:
            X = X.float()
            return X, self.blocks(X)
        if self.splitter is None:
            raise InvalidInputError(
                "this module was built for a dense X, but received a sparse one; transform X "
                "as at fit.")
        dense, bags = self.splitter(X)
        return dense, [bags[i] if block.kind == "sparse"
                       else dense.index_select(1, getattr(self, f"columns_{i}"))
                       for i, block in enumerate(self.layout)]

    def presence(self, X, blocks=None):
        """Bool tensor (batch, n_blocks): which blocks each sample has (``blocks`` from
        :meth:`blocks`, when already selected; for a sparse X, X and blocks from
        :meth:`read`)."""
        ones = torch.ones(X.shape[0], dtype=torch.bool, device=X.device)
        flags = []
        for i, block in enumerate(self.layout):
            if block.kind == "sparse":
                flags.append(blocks[i][3])  # rows with non-zeros
            elif self.masks[i] is not None:
                flags.append(X[:, self.masks[i]] > 0.5)
            elif nan_is_missing(block):
                values = blocks[i] if blocks is not None else self.blocks(X)[i]
                flags.append(~torch.isnan(values).all(dim=1))
            else:
                flags.append(ones)
        return torch.stack(flags, dim=1)

    def encode(self, X, present=None, blocks=None):
        """``(h, present)``: the branch outputs ``(batch, n_blocks, width)`` (zero where a
        block is absent) and the presence mask ``(batch, n_blocks)`` (from X by default)."""
        if blocks is None:
            X, blocks = self.read(X)
        else:
            X = X.float()
        if present is None:
            present = self.presence(X, blocks)
        outputs = []
        for i, (branch, x) in enumerate(zip(self.branches, blocks)):
            if self.layout[i].kind == "sparse":
                outputs.append(branch(x))
                continue
            x = torch.where(present[:, i:i + 1], x, torch.zeros_like(x))
            x = (x - getattr(self, f"shift_{i}")) / getattr(self, f"scale_{i}")
            if nan_is_missing(self.layout[i]):
                x = torch.nan_to_num(x, nan=0.0)
            outputs.append(branch(x))
        return torch.stack(outputs, dim=1) * present.unsqueeze(2).to(outputs[0].dtype), present

    def forward(self, X):
        X, blocks = self.read(X)
        present = self.presence(X, blocks)
        if self.training and self.modality_dropout > 0:
            present = drop_modalities(present, self.modality_dropout)
        h, present = self.encode(X, present, blocks)
        if self.training and self.keep_branch_outputs:
            self.branch_outputs = h
        logits = self.head(self.fusion(h, present))
        if self.aux_heads is None:
            return logits
        if self.training:
            return logits, self.branch_heads(h), present
        if self.combination is not None:
            return self.combine(h, present)
        return logits

    def branch_heads(self, h):
        """The per-branch heads' outputs ``(batch, n_blocks, n_outputs)`` for ``encode``'s h."""
        return torch.stack([head(h[:, i]) for i, head in enumerate(self.aux_heads)], dim=1)

    def combine(self, h, present):
        """The per-branch heads' outputs combined with the weights of ``set_combination``."""
        weights = self.combination.to(h.device, h.dtype) * present.to(h.dtype)  # (batch, blocks)
        outputs = self.branch_heads(h)
        if self.combine_kind == "log_prob":  # a product of experts: logits of a softmax
            return (weights.unsqueeze(2) * torch.log_softmax(outputs, dim=2)).sum(dim=1)
        total = weights.sum(dim=1, keepdim=True).clamp(min=1e-12)
        return (weights.unsqueeze(2) * outputs).sum(dim=1) / total

    def set_combination(self, weights, kind):
        """Predict with the per-branch heads, combined with ``weights`` (one per block).

        ``kind`` "log_prob" sums the heads' log-probabilities times their weights (the
        logits of a weighted product of experts, for classification); "mean" takes the
        weighted mean of their outputs (regression). Absent blocks are left out. None
        weights go back to the fused head.
        """
        if weights is None:
            self.combination = None
            return
        self.combination = torch.as_tensor(weights, dtype=torch.float32)
        self.combine_kind = kind


def check_hyperparameters(fusion, fusion_params, branches, branch_params):
    """Refuse hyperparameters that neither the operator or branches in use nor any registered
    one take (typos); each class takes those it names."""
    FUSIONS.check_names(fusion_params, [FUSIONS.resolve(fusion)[0]])
    BRANCHES.check_names(branch_params, [BRANCHES.resolve(b)[0] for b in branches])


def drop_modalities(present, p):
    """Drop each present modality with probability ``p``, never all of a sample's.

    Parameters
    ----------
    present : bool tensor (batch, n_modalities)
    p : float in [0, 1)

    Returns
    -------
    bool tensor (batch, n_modalities), a subset of ``present`` with at least one modality
    kept wherever ``present`` has one.
    """
    keep = present & (torch.rand(present.shape, device=present.device) >= p)
    lost = present.any(dim=1) & ~keep.any(dim=1)
    if lost.any():
        scores = torch.rand(present.shape, device=present.device).masked_fill(~present, -1.0)
        pick = torch.nn.functional.one_hot(scores.argmax(dim=1), present.shape[1]).bool()
        keep = keep | (pick & lost.unsqueeze(1))
    return keep


def build_multimodal_module(X, n_outputs, modalities=None, shapes=None, branches=None, **params):
    """Build a :class:`MultimodalModule` for the training input ``X``.

    Parameters
    ----------
    X : DataFrame or 2-D array
        Its column names give the blocks (see :func:`infer_layout`); its present rows give
        the input statistics and token vocabulary sizes.
    n_outputs : int
    modalities, shapes : see :func:`~skmm.nets._layout.infer_layout`
    branches : see :func:`~skmm.nets._branches.resolve_branches`
    **params
        Passed to :class:`MultimodalModule` (fusion, width, hidden_sizes, dropout,
        modality_dropout, aux_heads, fusion_params, branch_params).

    Returns
    -------
    MultimodalModule

    Examples
    --------
    >>> import numpy as np, pandas as pd, torch
    >>> X = pd.DataFrame(np.random.rand(8, 5).astype("float32"),
    ...                  columns=["image__a", "image__b", "audio__a", "audio__b", "audio__present"])
    >>> module = build_multimodal_module(X, n_outputs=3, fusion="gated", width=8)
    >>> [b.name for b in module.layout]
    ['image', 'audio']
    >>> module.eval()(torch.tensor(X.to_numpy())).shape
    torch.Size([8, 3])
    """
    names = getattr(X, "columns", None)
    values = np.asarray(X, dtype=np.float32)
    if values.ndim != 2:
        raise InvalidInputError(f"X must be 2-D (n_samples, n_features), got shape {values.shape}.")
    layout = infer_layout(names, values.shape[1], modalities, shapes)
    stats, vocab_sizes = block_statistics(layout, values)
    return MultimodalModule(
        layout, int(n_outputs), branches=resolve_branches(layout, branches), stats=stats,
        vocab_sizes=vocab_sizes, **params,
    )
