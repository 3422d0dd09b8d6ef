"""The block layout of a 2-D X: which columns form each modality block, of what kind.

The column names are read through :mod:`skmm._naming` only (the writer of the same
names), or the blocks are given explicitly (``modalities=``, ``shapes=``); a plain array
is one block. :func:`block_statistics` computes from the present training rows what the
module standardises each block with, and the presence checks refuse masks that a scaler
has mangled.
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np

from scipy import sparse as sp

from .._naming import (
    UNPREFIXED, grid_layout, is_presence, is_sparse, split_prefix, tabular_layout,
)
from ..exceptions import InvalidInputError

#: The kinds of block, each with the shape it carries (see :class:`Block`).
KINDS = ("pixels", "frames", "tokens", "features", "tabular", "sparse")
#: The kinds a branch reads as dense rows (a sparse block reaches its branch as bags of
#: non-zeros, see :mod:`._sparse`).
DENSE_KINDS = KINDS[:-1]
#: Kinds whose NaN cells are missing values (see :func:`nan_is_missing`).
NAN_MISSING_KINDS = ("features", "tabular")


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
    kind : {"pixels", "frames", "tokens", "features", "tabular", "sparse"}
    shape : tuple of int
        (channels, height, width), (n_mels, n_frames), (n_tokens,), (n_features,),
        (n_numbers, n_codes) for a tabular block: numeric columns, then the integer codes
        of its high-cardinality categorical columns (``code:<column>``), or (n_features,)
        for a sparse block (columns ``sparse:<feature>`` of a sparse X, e.g. a TF-IDF
        vocabulary, or a sparse X without names).
    mask : int or None
        Position in X of the block's presence column (1 = present), if any.
    """

    name: str
    columns: tuple
    kind: str
    shape: tuple
    mask: int = None


def nan_is_missing(block):
    """Whether a NaN cell of ``block`` is a missing value rather than an error.

    In feature and tabular blocks (numbers, embeddings, a table's columns) a NaN cell
    reads as its column's training mean, and a row whose block is NaN throughout has
    the modality missing (when the block has no presence column to say so).
    """
    return block.kind in NAN_MISSING_KINDS


def _make_block(name, positions, names, shape, sparse_input=False):
    positions = np.asarray(positions, dtype=int)
    mask = None
    if names is not None:
        is_mask = np.array([is_presence(names[p]) for p in positions], dtype=bool)
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
    if sparse_input and shape is None and (
            names is None or all(is_sparse(names[p]) for p in positions)):
        if mask is not None:
            raise InvalidInputError(
                f"the sparse block {name!r} has a presence column {names[mask]!r}; a sparse "
                "block has none (an empty row is an absent document). Give the presence "
                "column a dense block of its own."
            )
        return Block(name, tuple(int(p) for p in positions), "sparse", layout, None)
    if names is not None:
        found = grid_layout([names[p] for p in positions])
        if found is not None:
            kind, layout, order = found
            positions = positions[order]
        else:
            found = tabular_layout([names[p] for p in positions])
            if found is not None:
                kind, (layout, order) = "tabular", found
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


def infer_layout(feature_names=None, n_features=None, modalities=None, shapes=None,
                 sparse_input=False):
    """Find the modality blocks of a 2-D X.

    Parameters
    ----------
    feature_names : sequence of str, optional
        The columns of X (a DataFrame's ``columns``), read with :mod:`skmm._naming`:
        columns are grouped by their modality prefix (in order of first appearance), a
        presence column is the block's mask, the columns without a prefix form one block
        (:data:`~skmm._naming.UNPREFIXED`), and :func:`~skmm._naming.grid_layout` gives
        the kind and shape of a block of pixels, frames or token ids.
    n_features : int, optional
        Number of columns; needed when ``feature_names`` is None.
    modalities : dict {name: selector}, optional
        Explicit blocks, each a slice, integer positions, a boolean mask or column names.
        Columns in no block are not used.
    shapes : dict {name: tuple}, optional
        Layout of blocks whose column names do not carry it: (channels, height, width)
        for images, (n_channels, n_steps) for spectrogram frames.
    sparse_input : bool, default=False
        X is a sparse matrix: a block whose columns are all named ``sparse:<feature>``
        (:func:`~skmm._naming.is_sparse`), or any block when X has no names, is a sparse
        block; the others are read as usual (and densified batch by batch).

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
        groups = {UNPREFIXED: np.arange(n_features)}
    else:
        groups = {}
        for i, n in enumerate(names):
            prefix = split_prefix(n)[0]
            groups.setdefault(UNPREFIXED if prefix is None else prefix, []).append(i)
    unknown = sorted(set(shapes) - set(groups))
    if unknown:
        raise InvalidInputError(
            f"shapes names modalities {unknown} that are not blocks of X: {list(groups)}."
        )
    return tuple(_make_block(k, v, names, shapes.get(k), sparse_input)
                 for k, v in groups.items())


def block_statistics(layout, X):
    """Input statistics from the present training rows of each block.

    Returns ``(stats, vocab_sizes)``: ``stats[i]`` is ``(shift, scale)``, float32 arrays
    of the block's width that standardise block i (per column for feature, tabular and
    pixel blocks, as a StandardScaler would, per channel for frames; None for token ids;
    0 and 1 for category codes); ``vocab_sizes[i]`` is one more than the largest token id
    of a token block, and for a tabular block the tuple of one more than the largest code
    of each code column (its number of categories, 0 included).

    X (an array, a CSR matrix or a :class:`~skmm.store.FeatureStore`) is read in chunks
    of rows, twice (sums, then squared deviations from the mean, in float64), so a store
    larger than memory gives the same statistics as the same rows in memory.
    """
    from ._stored import row_chunks

    moments = [_BlockMoments(block) for block in layout]
    for _, chunk in row_chunks(X):
        for m in moments:
            m.add(chunk)
    if any(m.groups is not None for m in moments):
        for _, chunk in row_chunks(X):
            for m in moments:
                m.add_squares(chunk)
    return [m.stats() for m in moments], [m.vocab_size() for m in moments]


class _BlockMoments:
    """The running sums of one block's statistics over chunks of rows."""

    def __init__(self, block):
        self.block, self.top = block, None
        self.groups = None  # per group (column, or frames' channel): values seen, sum, ssd
        if block.kind not in ("sparse", "tokens"):
            width = len(block.columns)
            self.groups = block.shape[0] if block.kind == "frames" else width
            self.repeat = width // self.groups
            self.count, self.total, self.ssd = (np.zeros(self.groups) for _ in range(3))

    def _values(self, chunk):
        block = self.block
        rows = column(chunk, block.mask) > 0.5 if block.mask is not None else slice(None)
        return dense_columns(chunk, block.columns, rows)

    def _grouped(self, values):
        return values.reshape(len(values), self.groups, self.repeat).astype(np.float64)

    def add(self, chunk):
        block = self.block
        if block.kind == "sparse":  # bags of non-zeros, neither standardised nor embedded
            return
        values = self._values(chunk)
        if block.kind in ("tokens", "tabular"):
            ids = values if block.kind == "tokens" else values[:, block.shape[0]:]
            if len(ids):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column
                    top = np.nanmax(ids) if block.kind == "tokens" else np.nanmax(ids, axis=0)
                self.top = top if self.top is None else np.fmax(self.top, top)
        if self.groups is not None:
            grouped = self._grouped(values)
            present = ~np.isnan(grouped)
            self.count += present.sum(axis=(0, 2))
            self.total += np.where(present, grouped, 0.0).sum(axis=(0, 2))

    def add_squares(self, chunk):
        if self.groups is None:
            return
        grouped = self._grouped(self._values(chunk))
        deviation = grouped - self._mean()[None, :, None]
        self.ssd += np.where(np.isnan(deviation), 0.0, deviation ** 2).sum(axis=(0, 2))

    def _mean(self):
        return np.divide(self.total, self.count, out=np.zeros(self.groups), where=self.count > 0)

    def stats(self):
        if self.groups is None:
            return None
        shift = self._mean()
        scale = np.sqrt(np.divide(self.ssd, self.count, out=np.ones(self.groups),
                                  where=self.count > 0))
        scale = np.where(np.isfinite(scale) & (scale > 1e-6), scale, 1.0)
        shift = np.nan_to_num(shift, posinf=0.0, neginf=0.0)
        if self.block.kind == "tabular":  # codes are embedded, not standardised
            shift[self.block.shape[0]:], scale[self.block.shape[0]:] = 0.0, 1.0
        return (np.repeat(shift, self.repeat).astype(np.float32),
                np.repeat(scale, self.repeat).astype(np.float32))

    def vocab_size(self):
        block = self.block
        if block.kind == "tokens":
            top = 1 if self.top is None or not np.isfinite(self.top) else self.top
            return int(max(2, top + 1))
        if block.kind == "tabular":
            n_codes = len(block.columns) - block.shape[0]
            top = np.zeros(n_codes) if self.top is None else np.nan_to_num(self.top)
            return tuple(int(max(2, t + 1)) for t in top)
        return None


def column(X, j):
    """Column ``j`` of X (an array or a sparse matrix) as a 1-D float32 array."""
    if sp.issparse(X):
        return np.asarray(X[:, [j]].toarray(), dtype=np.float32).ravel()
    return np.asarray(X, dtype=np.float32)[:, j]


def dense_columns(X, columns, rows=slice(None)):
    """The ``columns`` of X's ``rows`` as a dense float32 array (X dense or sparse)."""
    columns = list(columns)
    if sp.issparse(X):
        return np.asarray(sp.csr_matrix(X)[rows][:, columns].toarray(), dtype=np.float32)
    return np.asarray(X, dtype=np.float32)[rows][:, columns]


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
        if block.mask is None or X.shape[0] == 0 or _ever_present(X, block.mask):
            continue
        where = feature_names[block.mask] if feature_names is not None else f"column {block.mask}"
        warnings.warn(
            f"modality {block.name!r} is missing from every training row (its presence column "
            f"{where!r} is 0 throughout), so its branch learns nothing. If a scaler sits in "
            "front of the net, it has turned presence flags that were all 1 into 0: leave the "
            "presence columns out of it (the net standardises each block itself).",
            UserWarning, stacklevel=2,
        )


def _ever_present(X, mask):
    """Whether the presence column ``mask`` of X is 1 in some row (X read in chunks)."""
    from ._stored import row_chunks

    return any((column(chunk, mask) == 1).any() for _, chunk in row_chunks(X))
