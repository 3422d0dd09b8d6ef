"""Branch modules: one per modality block, each mapping its flat block to a common width.

A branch is a ``torch.nn.Module`` whose ``forward`` takes a float tensor
``(batch, n_in)`` (the block's columns, in the layout order of
:func:`skmm.nets._layout.infer_layout`) and returns ``(batch, width)``. It is built as
``cls(**sizes, **hyperparameters)``, where the sizes are those among ``kind``, ``shape``,
``n_in``, ``width``, ``vocab_size`` (token blocks: one more than the largest id seen at
fit; tabular blocks: the number of categories of each code column) and ``dropout`` (the
net's) that its constructor takes. No built-in branch couples
the samples of a batch (no batch normalisation), so a sample's output depends on its own
row only. A class given directly (not registered) may say which block kinds it accepts in a
``block_kinds`` attribute.

:data:`BRANCHES` is the registry of branches by name, with the block kinds each accepts
and the default branch of each kind; :func:`register_branch` adds one.
"""

import math

import torch
from torch import nn

from .._docs import fill_doc
from .._validation import InstanceOf, Options, check_param
from ..exceptions import InvalidInputError
from ._embeddings import PeriodicEmbedding, embedding_size, make_numeric_embedding  # noqa: F401
from ._tabular import TabularBranch
from ._layout import DENSE_KINDS, KINDS
from ._registry import REGISTER_DOCS, Entry, Registry


class BranchRegistry(Registry):
    """The :class:`Registry` of branches: each entry knows the block kinds it accepts."""

    def __init__(self):
        super().__init__("branches", "branch",
                         context=("kind", "shape", "n_in", "width", "vocab_size", "dropout"),
                         register_hint="skmm.nets.BRANCHES")
        self._defaults = {}

    def register(self, name, cls=None, *, kinds=DENSE_KINDS, default_for=(), **defaults):
        """Register ``cls`` as ``name`` for blocks of ``kinds`` (see :func:`register_branch`)."""
        if cls is None:
            return lambda cls: self.register(name, cls, kinds=kinds, default_for=default_for,
                                             **defaults)
        kinds, default_for = tuple(kinds), tuple(default_for)
        bad = [k for k in kinds + default_for if k not in KINDS]
        if bad or not set(default_for) <= set(kinds):
            raise ValueError(f"kinds and default_for of branch {name!r} must be kinds among "
                             f"{KINDS}, default_for among kinds; got {kinds} and {default_for}.")
        taken = {k: self._defaults[k] for k in default_for if k in self._defaults}
        if taken:
            raise ValueError(f"kinds {taken} already have a default branch; unregister it "
                             "first, or register without default_for.")
        self._add(Entry(name, cls, dict(defaults), kinds))
        self._defaults.update(dict.fromkeys(default_for, name))
        return cls

    def unregister(self, name):
        cls = super().unregister(name)
        self._defaults = {k: v for k, v in self._defaults.items() if v != name}
        return cls

    def default(self, kind):
        """The branch name used for a block of ``kind`` when none is asked for."""
        return self._defaults[kind]

    def _tag(self, entry):
        default = [k for k, v in self._defaults.items() if v == entry.name]
        default = f"; default for {', '.join(default)}" if default else ""
        return f" ({', '.join(entry.kinds)}{default})"

    def kinds_of(self, spec):
        """Block kinds ``spec`` accepts: those of its registration(s), else ``cls.block_kinds``."""
        if isinstance(spec, str):
            return self.entry(spec).kinds
        cls = spec if isinstance(spec, type) else type(spec)
        kinds = [k for e in self._entries.values() if e.cls is cls for k in e.kinds]
        return tuple(dict.fromkeys(kinds)) or tuple(getattr(cls, "block_kinds", DENSE_KINDS))


#: The branches by name (a mapping name -> class; see :func:`register_branch`).
BRANCHES = BranchRegistry()
#: What the nets' ``branches`` parameter may be: ``(constraints, hint)``.
BRANCHES_PARAMETER = (
    [None, *BRANCHES.spec_constraints, InstanceOf(dict, description="a dict {modality: branch}")],
    "Add one with skmm.nets.register_branch.",
)


@fill_doc(**REGISTER_DOCS)
def register_branch(name, cls=None, *, kinds=DENSE_KINDS, default_for=(), **defaults):
    """Register a branch class as ``name`` (a class decorator when ``cls`` is None).

    Parameters
    ----------
    name : str
        The name the nets' ``branches`` parameter selects it by; registering a name twice
        is an error.
    cls : torch.nn.Module subclass, optional
        Built with the sizes its constructor takes among ``kind``, ``shape``, ``n_in``,
        ``width``, ``vocab_size`` and ``dropout``, and its hyperparameters (its other
        constructor arguments, set on a net as ``branches__<argument>``); its ``forward``
        maps ``(batch, n_in)`` to ``(batch, width)``.
    kinds : tuple of str, default=the dense kinds
        Block kinds it accepts, among "pixels", "frames", "tokens", "features",
        "tabular" and "sparse" (whose branch gets the block's non-zeros, see
        :class:`~skmm.nets._sparse.SparseBranch`, not ``(batch, n_in)`` rows).
    default_for : tuple of str, default=()
        Kinds whose blocks get it when ``branches`` does not say (one default per kind).
    {{defaults}}

    {{returns}}

    Examples
    --------
    >>> from skmm.nets import BRANCHES, register_branch
    >>> from skmm.nets._branches import TokenBranch
    >>> _ = register_branch("bag", TokenBranch, kinds=("tokens",), encoder="mean")
    >>> BRANCHES.kinds_of("bag"), BRANCHES.default("tokens")
    (('tokens',), 'transformer')
    >>> BRANCHES.unregister("bag").__name__
    'TokenBranch'
    """
    return BRANCHES.register(name, cls, kinds=kinds, default_for=default_for, **defaults)


@register_branch("mlp", kinds=("pixels", "frames", "features"),
                 default_for=("features", "pixels"))
class MLPBranch(nn.Module):
    """Two dense layers: ``n_in -> hidden -> width``, ReLU and dropout; with
    ``numeric_embedding="periodic"``, each column embedded first (:class:`PeriodicEmbedding`,
    ``numeric_dim`` wide): worth it for a table's few numbers (which ``TabularEncoder``
    gives a ``"tabular"`` block, embedded by default), not for hundreds of columns."""

    def __init__(self, n_in, width, hidden=None, dropout=0.1, numeric_embedding=None,
                 numeric_dim=16, n_frequencies=16, frequency_scale=1.0):
        super().__init__()
        self.numbers = make_numeric_embedding(numeric_embedding, n_in, numeric_dim,
                                              n_frequencies, frequency_scale)
        n_in = n_in * int(numeric_dim) if self.numbers is not None else n_in
        hidden = hidden or max(width, min(256, 2 * width))
        self.net = nn.Sequential(
            nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, width), nn.ReLU(),
        )

    def forward(self, x):
        if self.numbers is not None:
            x = self.numbers(x.float()).to(x.dtype)
        return self.net(x)


@register_branch("cnn", kinds=("pixels",))
class CNN2dBranch(nn.Module):
    """A small 2-D CNN over images ``(channels, height, width)`` given as flat rows."""

    def __init__(self, shape, width, channels=(16, 32), dropout=0.1):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        layers, c_in, size = [], self.shape[0], min(self.shape[1:])
        for c_out in channels:
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
            if size >= 4:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            c_in = c_out
        pooled = min(2, size)
        layers += [nn.AdaptiveAvgPool2d(pooled), nn.Flatten(), nn.Dropout(dropout),
                   nn.Linear(c_in * pooled * pooled, width), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x.reshape(-1, *self.shape))


@register_branch("cnn1d", kinds=("frames", "pixels"), default_for=("frames",))
class CNN1dBranch(nn.Module):
    """A 1-D CNN over time of spectrogram frames ``(n_mels, n_frames)`` (mels are channels).

    Pixels ``(C, H, W)`` are read as frames ``(C * H, W)``: image rows are channels.
    """

    def __init__(self, shape, width, channels=(32, 64), dropout=0.1):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) == 3:
            self.shape = (self.shape[0] * self.shape[1], self.shape[2])
        layers, c_in, steps = [], self.shape[0], self.shape[1]
        for i, c_out in enumerate(channels):
            kernel = 5 if i == 0 else 3
            layers += [nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2), nn.ReLU()]
            if steps >= 4:
                layers.append(nn.MaxPool1d(2))
                steps //= 2
            c_in = c_out
        self.conv = nn.Sequential(*layers)
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * c_in, width), nn.ReLU())

    def forward(self, x):
        h = self.conv(x.reshape(-1, *self.shape))
        return self.out(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1))


@register_branch("lstm", kinds=("frames",))
class LSTMBranch(nn.Module):
    """A bidirectional LSTM over spectrogram frames; the final states of both directions."""

    def __init__(self, shape, width, hidden=None, dropout=0.1):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        hidden = hidden or width
        self.lstm = nn.LSTM(self.shape[0], hidden, batch_first=True, bidirectional=True)
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, width), nn.ReLU())

    def forward(self, x):
        frames = x.reshape(-1, *self.shape).transpose(1, 2)  # (batch, n_frames, n_mels)
        _, (h, _) = self.lstm(frames)
        return self.out(torch.cat([h[0], h[1]], dim=1))


class TokenBranch(nn.Module):
    """Token ids ``(n_tokens,)`` -> embedding -> Transformer encoder (or none) -> mean pool.

    Id 0 is padding (masked out of attention and of the mean), id 1 unknown; ids at or
    above ``vocab_size`` (unseen at fit time) are read as unknown. A row of padding only
    (an empty or missing text) pools to the embedding of its first position.
    """

    _parameter_constraints = {"encoder": [Options("transformer", "mean")]}

    def __init__(self, n_in, vocab_size, width, encoder="transformer", n_layers=1,
                 n_heads=None, dropout=0.1):
        super().__init__()
        check_param("encoder", encoder, self._parameter_constraints["encoder"])
        self.vocab_size = max(2, int(vocab_size or 2))
        self.embed = nn.Embedding(self.vocab_size, width, padding_idx=0)
        self.encoder = None
        if encoder == "transformer":
            self.position = nn.Parameter(torch.randn(1, int(n_in), width) * 0.02)
            n_heads = n_heads or _heads_for(width)
            layer = nn.TransformerEncoderLayer(
                width, n_heads, dim_feedforward=2 * width, dropout=dropout,
                batch_first=True, norm_first=True,
            )
            self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)

    def forward(self, x):
        ids = torch.nan_to_num(x).round().long()
        ids = torch.where((ids < 0) | (ids >= self.vocab_size), torch.ones_like(ids), ids)
        pad = ids == 0
        empty = pad.all(dim=1)
        pad[:, 0] &= ~empty  # attend to (and pool) one position in all-padding rows
        h = self.embed(ids)
        if self.encoder is not None:
            h = self.encoder(h + self.position, src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(2).to(h.dtype)
        return (h * keep).sum(dim=1) / keep.sum(dim=1)


register_branch("transformer", TokenBranch, kinds=("tokens",), default_for=("tokens",),
                encoder="transformer")
register_branch("embedding", TokenBranch, kinds=("tokens",), encoder="mean")


register_branch("tabular", TabularBranch, kinds=("tabular",), default_for=("tabular",))


def _heads_for(width):
    for heads in (4, 2, 1):
        if width % heads == 0:
            return heads
    return 1


def make_branch(branch, kind, shape, width, vocab_size=None, dropout=0.1, **params):
    """Build the branch ``branch`` for a block of ``kind`` with layout ``shape``.

    Parameters
    ----------
    branch : str, torch.nn.Module class or instance
        A name of :data:`BRANCHES`, a class, or an instance (deep-copied).
    kind : {"pixels", "frames", "tokens", "features", "tabular"}
    shape : tuple of int
        The block's layout: (channels, height, width), (n_mels, n_frames), (n_tokens,),
        (n_features,) or (n_numbers, n_codes).
    width : int
        Output width of the branch.
    vocab_size : int or tuple of int, optional
        For token branches: one more than the largest id seen at fit time; for tabular
        branches: the number of categories of each code column.
    dropout : float, default=0.1
    **params
        Hyperparameters; those the branch does not take are ignored when another
        registered branch takes them.

    Returns
    -------
    torch.nn.Module mapping (batch, prod(shape)) to (batch, width)
    """
    BRANCHES.resolve(branch)
    kinds = BRANCHES.kinds_of(branch)
    if kind not in kinds:
        name = branch if isinstance(branch, str) else type(branch).__name__
        raise InvalidInputError(
            f"branch {name!r} needs a block of kind {kinds}, but this block is "
            f"{kind!r} (shape {tuple(shape)}). Give its layout with the column names of the "
            "matching extractor (ImagePixels: c0_r00_c00, AudioLogMel(output='frames'): "
            "mel00_t000, TextTokenIds: tok000, TabularEncoder: code:<column>) or choose branch "
            "'mlp' (a tabular block takes 'tabular' only)."
        )
    context = {"kind": kind, "shape": tuple(shape), "n_in": block_width(kind, shape),
               "width": width, "vocab_size": vocab_size, "dropout": dropout}
    return BRANCHES.build(branch, context, params)


def block_width(kind, shape):
    """Number of columns of a block of ``kind`` with layout ``shape``."""
    return sum(shape) if kind == "tabular" else math.prod(shape)


def check_branches(branches, modalities=None):
    """Refuse a ``branches`` dict that names unknown branches, or blocks not in ``modalities``.

    A ``branches`` that is not a dict is checked by :data:`BRANCHES_PARAMETER`.
    """
    if not isinstance(branches, dict):
        return
    if modalities is not None:
        unknown = sorted(set(branches) - set(modalities))
        if unknown:
            raise InvalidInputError(
                f"branches names modalities {unknown} that are not blocks of X: "
                f"{list(modalities)}."
            )
    bad = {k: v for k, v in branches.items() if v is not None and not any(
        c.is_satisfied_by(v) for c in BRANCHES.spec_constraints)}
    if bad:
        raise InvalidInputError(
            f"unknown branches {bad}; expected names among {tuple(BRANCHES)}, or "
            "torch.nn.Module classes or instances (see skmm.nets.register_branch)."
        )


def resolve_branches(layout, branches=None):
    """Branch per block: ``branches`` (one for all, or a dict by modality), else by kind.

    Each is a name, a class or an instance; a block without one gets the default branch
    of its kind (:meth:`BranchRegistry.default`: "mlp" for pixels, "cnn1d" for frames,
    "transformer" for token ids, "tabular" for tables with category codes, "mlp" for
    other features).
    """
    names = [b.name for b in layout]
    check_param("branches", branches, *BRANCHES_PARAMETER)
    check_branches(branches, names)
    chosen = branches if isinstance(branches, dict) else {n: branches for n in names}
    return [BRANCHES.default(b.kind) if chosen.get(b.name) is None else chosen[b.name]
            for b in layout]
