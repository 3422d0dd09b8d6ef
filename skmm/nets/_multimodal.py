"""Layer-level fusion: the block layout of a 2-D input and the module that fuses its blocks.

:func:`infer_layout` finds the modality blocks of X from its column names
(``image__c0_r05_c12``, ``audio__mel03_t012``, ``text__tok000``, ``<prefix>__present``, any
other ``<prefix>__...``) or from an explicit ``modalities=`` mapping; a plain array is one
block. :class:`MultimodalModule` slices X into those blocks, runs one branch per block
(:mod:`._branches`), fuses the branch outputs with an operator (:mod:`._operators`) that
respects the presence masks, and applies a head. :func:`build_multimodal_module` does all
of it from a training X: it is what the estimators call.
"""

import math
import numbers
import re
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..exceptions import InvalidInputError
from ._branches import BRANCHES, DEFAULT_BRANCH, make_branch
from ._mlp import MLP
from ._operators import FUSIONS, make_fusion

#: Last name segment of each structured layout -> the kind of block it makes.
_PATTERNS = {
    "pixels": re.compile(r"^c(\d+)_r(\d+)_c(\d+)$"),
    "frames": re.compile(r"^(?:mel|mfcc|emb)(\d+)(?:_d(\d+))?_t(\d+)$"),  # + AudioEmbedder
    "tokens": re.compile(r"^tok(\d+)$"),
}
_PRESENT = "present"
_UNPREFIXED = "x"


@dataclass(frozen=True)
class Block:
    """One modality block of X.

    Attributes
    ----------
    name : str
        The modality (the column prefix, or the key of ``modalities=``).
    columns : tuple of int
        Positions in X of the block's feature columns, in layout order (row-major over
        ``shape``).
    kind : {"pixels", "frames", "tokens", "features"}
    shape : tuple of int
        (channels, height, width), (n_mels, n_frames), (n_tokens,) or (n_features,).
    mask : int or None
        Position in X of the block's presence column (1 = present), if any.
    """

    name: str
    columns: tuple
    kind: str
    shape: tuple
    mask: int = None


def _last_segment(name):
    return str(name).rsplit("__", 1)[-1]


def _structured(names):
    """(kind, shape, order) when ``names`` form a complete known grid, else None."""
    for kind, pattern in _PATTERNS.items():
        matches = [pattern.match(_last_segment(n)) for n in names]
        if not all(matches):
            continue
        index = np.array([[int(g or 0) for g in m.groups()] for m in matches])
        if kind == "frames":  # (delta order, band, frame): orders and bands are channels
            index = index[:, [1, 0, 2]]
        shape = tuple(int(s) for s in index.max(axis=0) + 1)
        flat = np.ravel_multi_index(index.T, shape)
        if math.prod(shape) != len(names) or len(np.unique(flat)) != len(names):
            return None
        if kind == "frames":
            shape = (shape[0] * shape[1], shape[2])
        return kind, shape, np.argsort(flat)
    return None


def _make_block(name, positions, names, shape):
    positions = np.asarray(positions, dtype=int)
    mask = None
    if names is not None:
        is_mask = np.array([_last_segment(names[p]) == _PRESENT for p in positions], dtype=bool)
        if is_mask.sum() > 1:
            raise InvalidInputError(
                f"modality {name!r} has {int(is_mask.sum())} presence columns "
                f"{[names[p] for p in positions[is_mask]]}; expected at most one. Keep one "
                "add_indicator=True extractor per modality prefix."
            )
        if is_mask.any():
            mask = int(positions[is_mask][0])
            positions = positions[~is_mask]
    if len(positions) == 0:
        raise InvalidInputError(
            f"modality {name!r} has no feature columns (only its presence column); give it "
            "features or leave it out of modalities=."
        )
    kind, layout = "features", (len(positions),)
    if names is not None:
        found = _structured([names[p] for p in positions])
        if found is not None:
            kind, layout, order = found
            positions = positions[order]
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if math.prod(shape) != len(positions) or len(shape) not in (2, 3):
            raise InvalidInputError(
                f"shapes[{name!r}]={shape} does not fit its {len(positions)} feature columns; "
                "give (channels, height, width) for images or (n_channels, n_steps) for "
                "spectrogram frames, whose product is the number of columns."
            )
        if kind == "features":
            kind = "pixels" if len(shape) == 3 else "frames"
        layout = shape
    return Block(name, tuple(int(p) for p in positions), kind, layout, mask)


def _positions(name, selector, names, n_features):
    if isinstance(selector, slice):
        return np.arange(n_features)[selector]
    selector = np.asarray(selector)
    if selector.dtype == bool:
        if selector.shape != (n_features,):
            raise InvalidInputError(
                f"modalities[{name!r}] is a boolean mask of shape {selector.shape}; expected "
                f"({n_features},), one flag per column of X."
            )
        return np.flatnonzero(selector)
    if selector.dtype.kind in "iu":
        if selector.size and (selector.min() < -n_features or selector.max() >= n_features):
            raise InvalidInputError(
                f"modalities[{name!r}] selects columns {selector.tolist()} but X has "
                f"{n_features} columns."
            )
        return np.arange(n_features)[selector]
    if names is None:
        raise InvalidInputError(
            f"modalities[{name!r}] selects columns by name, but X has no column names (a "
            "plain array); pass a DataFrame or select by position (a slice or integers)."
        )
    lookup = {n: i for i, n in enumerate(names)}
    unknown = [s for s in selector.tolist() if s not in lookup]
    if unknown:
        raise InvalidInputError(
            f"modalities[{name!r}] names columns {unknown[:5]} that are not in X; X has "
            f"columns such as {list(names[:5])}."
        )
    return np.array([lookup[s] for s in selector.tolist()], dtype=int)


def infer_layout(feature_names=None, n_features=None, modalities=None, shapes=None):
    """Find the modality blocks of a 2-D X.

    Parameters
    ----------
    feature_names : sequence of str, optional
        The columns of X (a DataFrame's ``columns``). Columns named ``<prefix>__<rest>``
        are grouped by prefix (in order of first appearance); a ``<prefix>__present``
        column is the block's presence mask; columns without a prefix form one block "x".
    n_features : int, optional
        Number of columns; needed when ``feature_names`` is None.
    modalities : dict {name: selector}, optional
        Explicit blocks, each a slice, integer positions, a boolean mask or column names.
        Columns in no block are not used.
    shapes : dict {name: tuple}, optional
        Layout of blocks whose column names do not carry it: (channels, height, width)
        for images, (n_channels, n_steps) for spectrogram frames.

    Returns
    -------
    tuple of Block

    Examples
    --------
    >>> names = ["image__c0_r0_c0", "image__c0_r0_c1", "image__c0_r1_c0",
    ...          "image__c0_r1_c1", "audio__f0", "audio__f1", "audio__present"]
    >>> [(b.name, b.kind, b.shape, b.mask) for b in infer_layout(names)]
    [('image', 'pixels', (1, 2, 2), None), ('audio', 'features', (2,), 6)]
    >>> [(b.name, b.columns) for b in infer_layout(n_features=3)]
    [('x', (0, 1, 2))]
    """
    names = None if feature_names is None else [str(n) for n in feature_names]
    if names is not None:
        n_features = len(names)
    if n_features is None:
        raise InvalidInputError("infer_layout needs feature_names or n_features.")
    shapes = dict(shapes or {})
    if modalities is not None:
        if not isinstance(modalities, dict) or not modalities:
            raise InvalidInputError(
                f"modalities must be a non-empty dict {{name: columns}}, got {modalities!r}; "
                "e.g. modalities={'image': slice(0, 784), 'audio': slice(784, None)}."
            )
        groups = {str(k): _positions(k, v, names, n_features) for k, v in modalities.items()}
        seen = np.concatenate(list(groups.values()))
        if len(np.unique(seen)) != len(seen):
            raise InvalidInputError(
                "modalities select some columns twice; blocks must not overlap."
            )
    elif names is None:
        groups = {_UNPREFIXED: np.arange(n_features)}
    else:
        groups = {}
        for i, n in enumerate(names):
            groups.setdefault(n.split("__", 1)[0] if "__" in n else _UNPREFIXED, []).append(i)
    unknown = sorted(set(shapes) - set(groups))
    if unknown:
        raise InvalidInputError(
            f"shapes names modalities {unknown} that are not blocks of X: {list(groups)}."
        )
    return tuple(_make_block(k, v, names, shapes.get(k)) for k, v in groups.items())


def resolve_branches(layout, branches=None):
    """Branch name per block: ``branches`` (a name for all, or a dict by modality) or by kind.

    Blocks of pixels get "cnn", frames "cnn1d", token ids "transformer", others "mlp".
    """
    names = [b.name for b in layout]
    if branches is None or isinstance(branches, str):
        chosen = {b.name: branches or DEFAULT_BRANCH[b.kind] for b in layout}
    elif isinstance(branches, dict):
        unknown = sorted(set(branches) - set(names))
        if unknown:
            raise InvalidInputError(
                f"branches names modalities {unknown} that are not blocks of X: {names}."
            )
        chosen = {b.name: branches.get(b.name, DEFAULT_BRANCH[b.kind]) for b in layout}
    else:
        raise InvalidInputError(
            "branches must be None, a branch name or a dict {modality: branch}, "
            f"got {branches!r}."
        )
    bad = {k: v for k, v in chosen.items() if v not in BRANCHES}
    if bad:
        raise InvalidInputError(f"unknown branches {bad}; expected names among {BRANCHES}.")
    return [chosen[n] for n in names]


def block_statistics(layout, X):
    """Input statistics from the present training rows of each block.

    Returns ``(stats, vocab_sizes)``: ``stats[i]`` is ``(shift, scale)``, float32 arrays
    of the block's width that standardise block i (per column for feature blocks, per
    channel for frames, over the whole block for pixels; None for token ids);
    ``vocab_sizes[i]`` is one more than the largest token id of a token block.
    """
    X = np.asarray(X, dtype=np.float32)
    stats, vocab_sizes = [], []
    for block in layout:
        rows = X[:, block.mask] > 0.5 if block.mask is not None else slice(None)
        values = X[rows][:, list(block.columns)]
        if block.kind == "tokens":
            stats.append(None)
            top = np.nanmax(values) if values.size else 1
            vocab_sizes.append(int(max(2, (top if np.isfinite(top) else 1) + 1)))
            continue
        vocab_sizes.append(None)
        # features: per column; frames: per channel (band); pixels: one for the block
        groups = {"features": values.shape[1], "frames": block.shape[0], "pixels": 1}[block.kind]
        repeat = values.shape[1] // groups
        if values.shape[0] == 0:
            shift, scale = np.zeros(groups), np.ones(groups)
        else:
            grouped = (
                values.reshape(len(values), groups, repeat).transpose(1, 0, 2).reshape(groups, -1)
            )
            shift = np.nan_to_num(np.nanmean(grouped, axis=1))
            scale = np.nan_to_num(np.nanstd(grouped, axis=1), nan=1.0)
        scale = np.where(scale > 1e-6, scale, 1.0)
        stats.append((np.repeat(shift, repeat).astype(np.float32),
                      np.repeat(scale, repeat).astype(np.float32)))
    return stats, vocab_sizes


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
    fusion : {"concat", "sum", "gated", "tensor", "lowrank", "attention"}, default="concat"
    width : int, default=64
        Common output width of the branches.
    hidden_sizes : tuple of int, default=(128,)
        Hidden layers of the head, an :class:`~skmm.nets.MLP` from the fused vector to
        the output.
    fusion_rank : int, default=4
        Rank of the "lowrank" operator.
    dropout : float, default=0.1
    modality_dropout : float in [0, 1), default=0.0
        In training, each present modality of a sample is dropped (treated as missing)
        with this probability; a sample never loses all of its present modalities.
    aux_heads : bool, default=False
        Add one linear head per branch. In training, ``forward`` then returns
        ``(logits, aux_logits, present)`` with ``aux_logits`` of shape
        ``(batch, n_blocks, n_outputs)``; in evaluation it returns the logits only.
    stats, vocab_sizes : lists from :func:`block_statistics`, optional

    Notes
    -----
    ``forward(X)`` takes the whole 2-D float X ``(batch, n_features)`` and returns
    ``(batch, n_outputs)``. A block is missing for a sample where its presence column
    is not above 0.5; its values are then ignored (NaN included) and its branch output
    is zero and treated as absent by the fusion operator.
    """

    def __init__(self, layout, n_outputs, branches=None, fusion="concat", width=64,
                 hidden_sizes=(128,), fusion_rank=4, dropout=0.1, modality_dropout=0.0,
                 aux_heads=False, stats=None, vocab_sizes=None):
        super().__init__()
        if not 0.0 <= modality_dropout < 1.0:
            raise InvalidInputError(
                f"modality_dropout must lie in [0, 1), got {modality_dropout!r}."
            )
        if not isinstance(width, numbers.Integral) or width < 1:
            raise InvalidInputError(f"width must be a positive integer, got {width!r}.")
        self.layout = tuple(layout)
        self.modality_dropout = float(modality_dropout)
        n = len(self.layout)
        branches = list(branches or resolve_branches(self.layout))
        vocab_sizes = list(vocab_sizes or [None] * n)
        stats = list(stats or [None] * n)
        self.branches = nn.ModuleList(
            make_branch(name, b.kind, b.shape, int(width), vocab_sizes[i], dropout)
            for i, (name, b) in enumerate(zip(branches, self.layout))
        )
        for i, (block, stat) in enumerate(zip(self.layout, stats)):
            self.register_buffer(f"columns_{i}", torch.as_tensor(block.columns, dtype=torch.long))
            shift, scale = stat if stat is not None else (0.0, 1.0)
            self.register_buffer(f"shift_{i}", torch.as_tensor(shift, dtype=torch.float32))
            self.register_buffer(f"scale_{i}", torch.as_tensor(scale, dtype=torch.float32))
        self.fusion = make_fusion(fusion, n, int(width), rank=fusion_rank)
        self.head = MLP(self.fusion.out_features, n_outputs, hidden_sizes, dropout)
        self.aux_heads = (
            nn.ModuleList(nn.Linear(int(width), n_outputs) for _ in range(n)) if aux_heads else None
        )

    def presence(self, X):
        """Bool tensor (batch, n_blocks): which blocks each sample has."""
        ones = torch.ones(X.shape[0], dtype=torch.bool, device=X.device)
        return torch.stack(
            [X[:, b.mask] > 0.5 if b.mask is not None else ones for b in self.layout], dim=1
        )

    def forward(self, X):
        X = X.float()
        present = self.presence(X)
        if self.training and self.modality_dropout > 0:
            present = drop_modalities(present, self.modality_dropout)
        outputs = []
        for i, branch in enumerate(self.branches):
            x = X.index_select(1, getattr(self, f"columns_{i}"))
            x = torch.where(present[:, i:i + 1], x, torch.zeros_like(x))
            x = (x - getattr(self, f"shift_{i}")) / getattr(self, f"scale_{i}")
            outputs.append(branch(x))
        h = torch.stack(outputs, dim=1) * present.unsqueeze(2).to(outputs[0].dtype)
        logits = self.head(self.fusion(h, present))
        if self.aux_heads is not None and self.training:
            aux = torch.stack([head(h[:, i]) for i, head in enumerate(self.aux_heads)], dim=1)
            return logits, aux, present
        return logits


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


def auxiliary_loss(aux, present, y_true, loss_fn):
    """Mean over blocks of ``loss_fn(aux_logits, y)`` on the samples where the block is present.

    Parameters
    ----------
    aux : tensor (batch, n_blocks, n_outputs)
    present : bool tensor (batch, n_blocks)
    y_true : tensor (batch, ...)
    loss_fn : callable(y_pred, y_true) -> scalar tensor
    """
    losses = [loss_fn(aux[present[:, i], i], y_true[present[:, i]])
              for i in range(aux.shape[1]) if present[:, i].any()]
    return sum(losses) / max(1, len(losses))


def build_multimodal_module(X, n_outputs, modalities=None, shapes=None, branches=None, **params):
    """Build a :class:`MultimodalModule` for the training input ``X``.

    Parameters
    ----------
    X : DataFrame or 2-D array
        Its column names give the blocks (see :func:`infer_layout`); its present rows give
        the input statistics and token vocabulary sizes.
    n_outputs : int
    modalities, shapes : see :func:`infer_layout`
    branches : see :func:`resolve_branches`
    **params
        Passed to :class:`MultimodalModule` (fusion, width, hidden_sizes, fusion_rank,
        dropout, modality_dropout, aux_heads).

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


# ---- the fusion nets' side -------------------------------------------------------------------
#: The fusion nets' parameters that configure layer-level fusion, with their defaults.
LAYER_DEFAULTS = {"modalities": None, "branches": None, "shapes": None, "branch_width": 64,
                  "fusion_rank": 4, "modality_dropout": 0.0, "aux_weight": 0.0}


def check_layer_params(net):
    """Validate a fusion net's layer-fusion parameters; raise InvalidInputError with a fix."""
    p = {k: getattr(net, k, v) for k, v in LAYER_DEFAULTS.items()}
    for name in ("modalities", "shapes"):
        if p[name] is not None and not isinstance(p[name], dict):
            raise InvalidInputError(
                f"{name} must be None or a dict keyed by modality, got {p[name]!r}."
            )
    if p["branches"] is not None and not isinstance(p["branches"], (str, dict)):
        raise InvalidInputError(
            f"branches must be None, a branch name or a dict {{modality: branch}}, got "
            f"{p['branches']!r}; branches are {BRANCHES}."
        )
    for name in ("branch_width", "fusion_rank"):
        value = p[name]
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise InvalidInputError(f"{name} must be a positive integer, got {value!r}.")
    md = p["modality_dropout"]
    if not isinstance(md, numbers.Real) or not 0.0 <= md < 1.0:
        raise InvalidInputError(f"modality_dropout must be a float in [0, 1), got {md!r}.")
    aux = p["aux_weight"]
    if not isinstance(aux, numbers.Real) or aux < 0:
        raise InvalidInputError(f"aux_weight must be a float >= 0, got {aux!r}.")


def net_module(net, n_features, n_outputs, X=None):
    """The default module of a fusion net: a :class:`MultimodalModule`, or None for an MLP.

    The layout of X comes from ``net.feature_names_in_`` (or ``net.modalities``); a
    MultimodalModule is built when X has several blocks, a presence column or a block of
    pixels, frames or token ids, or when ``fusion``, ``branches``, ``modality_dropout`` or
    ``aux_weight`` ask for one. None means: one plain block, use the MLP over the row.
    The layout and the training statistics are kept on the net (``layout_``,
    ``block_stats_``) so that a module re-initialised without X (``X=None``) is the same.
    """
    p = {k: getattr(net, k, v) for k, v in LAYER_DEFAULTS.items()}
    layout = infer_layout(getattr(net, "feature_names_in_", None), n_features,
                          p["modalities"], p["shapes"])
    plain = (len(layout) == 1 and layout[0].mask is None and layout[0].kind == "features"
             and p["branches"] in (None, "mlp") and net.fusion == "concat"
             and not p["modality_dropout"] and not p["aux_weight"])
    if plain:
        return None
    if X is not None:
        warn_blocks_never_present(layout, X, getattr(net, "feature_names_in_", None))
    if X is not None or getattr(net, "layout_", None) != layout:
        net.block_stats_ = block_statistics(layout, X) if X is not None else (None, None)
    net.layout_ = layout
    stats, vocab_sizes = net.block_stats_
    kwargs = net.get_params_for("module")
    kwargs.setdefault("hidden_sizes", net.hidden_sizes)
    kwargs.setdefault("dropout", net.dropout)
    return MultimodalModule(
        layout, int(n_outputs), branches=resolve_branches(layout, p["branches"]),
        fusion=net.fusion, width=int(p["branch_width"]), fusion_rank=int(p["fusion_rank"]),
        modality_dropout=float(p["modality_dropout"]), aux_heads=p["aux_weight"] > 0,
        stats=stats, vocab_sizes=vocab_sizes, **kwargs,
    )


def check_presence_column(values, block, feature_names=None):
    """Refuse a presence column holding anything but 0 (missing) and 1 (present).

    A scaler in front of the net is the usual cause: it turns the flags into other
    numbers, and the masks would silently read them wrong.
    """
    wrong = (values != 0) & (values != 1)
    if not wrong.any():
        return
    rows = np.flatnonzero(wrong)
    column = feature_names[block.mask] if feature_names is not None else f"column {block.mask}"
    raise InvalidInputError(
        f"the presence column {column!r} of modality {block.name!r} must hold 1 (present) or "
        f"0 (missing), but the row at position {rows[0]} holds {float(values[rows[0]]):g} "
        f"({len(rows)} row(s) in all "
        "hold other values). It was probably scaled or imputed on its way to the net. Fix: "
        "pass it through unchanged, e.g. leave it out of the scaler with a ColumnTransformer "
        "(the net standardises each block itself, so it needs no scaler in front)."
    )


def warn_blocks_never_present(layout, X, feature_names=None):
    """Warn about each block whose presence column is 0 in every training row."""
    for block in layout:
        if block.mask is None or len(X) == 0 or (np.asarray(X)[:, block.mask] == 1).any():
            continue
        column = feature_names[block.mask] if feature_names is not None else f"column {block.mask}"
        warnings.warn(
            f"modality {block.name!r} is missing from every training row (its presence column "
            f"{column!r} is 0 throughout), so its branch learns nothing. If a scaler sits in "
            "front of the net, it has turned presence flags that were all 1 into 0: leave the "
            "presence columns out of it (the net standardises each block itself).",
            UserWarning, stacklevel=2,
        )


class LayerFusionMixin:
    """Layer-level fusion for the fusion nets (a mixin placed before ``FusionNetBase``).

    Adds the parameters of :data:`LAYER_DEFAULTS` (validated by fit), every fusion operator,
    the :class:`MultimodalModule` as default module (see :func:`net_module`), the
    auxiliary loss of its per-branch heads (``aux_weight``), and accepts NaN or inf in the
    rows of a block that its presence column marks as missing.
    """

    _FUSIONS = FUSIONS

    def _check_params(self):
        super()._check_params()
        check_layer_params(self)

    def _build_module(self, n_features, n_outputs, X=None):
        if self.module is None:
            module = net_module(self, n_features, n_outputs, X)
            if module is not None:
                return module
        return super()._build_module(n_features, n_outputs, X)

    def _check_values(self, X):
        try:
            layout = infer_layout(getattr(self, "feature_names_in_", None), X.shape[1],
                                  getattr(self, "modalities", None), getattr(self, "shapes", None))
        except InvalidInputError:
            layout = ()  # fit reports a bad layout with its own message
        names = getattr(self, "feature_names_in_", None)
        for block in layout:
            if block.mask is not None:
                check_presence_column(X[:, block.mask], block, names)
        # NaN/inf are fine where a block is missing: its values are never read.
        bad = ~np.isfinite(X)
        if bad.any():
            for block in layout:
                if block.mask is not None:
                    absent = X[:, block.mask] != 1
                    bad[np.ix_(absent, list(block.columns))] = False
            if bad.any():
                super()._check_values(np.where(bad, X, 0.0))

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if not isinstance(y_pred, tuple):
            return super().get_loss(y_pred, y_true, X=X, training=training)
        # a MultimodalModule with auxiliary heads, in training: (logits, aux_logits, present)
        logits, aux, present = y_pred
        y_true = torch.as_tensor(y_true, device=logits.device)

        def loss(pred, target):
            return super(LayerFusionMixin, self).get_loss(pred, target, X=X, training=training)

        return loss(logits, y_true) + self.aux_weight * auxiliary_loss(aux, present, y_true, loss)
