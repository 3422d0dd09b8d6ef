"""The column-name contract: one writer and one parser for each naming scheme.

Extractors name their output columns here, and the fusion nets read the modality blocks
back from the same names, so the two sides cannot drift apart:

==========  ===============================  ================================================
scheme      writer                           example (after ``ColumnTransformer``'s prefix)
==========  ===============================  ================================================
pixels      :func:`pixel_names`              ``image__c0_r05_c12`` (channel, row, column)
frames      :func:`frame_names`              ``audio__mel03_t012``, ``audio__mfcc01_d1_t004``
band stats  :func:`band_stat_names`          ``audio__mel03_mean``, ``audio__mfcc02_d1_std``
tokens      :func:`token_names`              ``text__tok003`` (padded token ids)
indexed     :func:`indexed_names`            ``text__mean012``, ``image__emb511``
bins        :func:`bin_names`                ``image__r_bin03`` (channel, histogram bin)
categories  :func:`category_names`           ``t__colour=red`` (one-hot), ``t__code:brand``
presence    :data:`PRESENT`                  ``audio__present`` (1 present, 0 missing)
no word     :data:`OOV`                      ``text__oov`` (1 when no word is known)
sparse      :func:`sparse_names`             ``review__sparse:great``, ``review__sparse:00042``
==========  ===============================  ================================================

:func:`split_prefix` splits a name at its modality prefix, and :func:`grid_layout` reads
which structured scheme a block of names forms (pixels, frames or tokens), with its shape
and the order that puts the columns in row-major layout order. :func:`tabular_layout`
finds the integer category codes (``code:<column>``) of a tabular block. :func:`is_sparse`
and :func:`sparse_feature` read the columns of a sparse block (a vocabulary, a one-hot
encoding kept sparse, hashed features) back.
"""

import math
import re
from urllib.parse import unquote

import numpy as np

from .exceptions import InvalidInputError

#: What ``ColumnTransformer`` puts between the transformer's name and a column's name.
SEPARATOR = "__"
#: Last segment of a presence-indicator column.
PRESENT = "present"
#: Column of the text extractors flagging a document without any known word.
OOV = "oov"
#: Block name of the columns that carry no modality prefix.
UNPREFIXED = "x"

#: Parser of each structured scheme: the last name segment -> its integer indices.
_GRIDS = {
    "pixels": re.compile(r"^c(\d+)_r(\d+)_c(\d+)$"),
    "frames": re.compile(r"^(?:mel|mfcc|emb)(\d+)(?:_d(\d+))?_t(\d+)$"),
    "tokens": re.compile(r"^tok(\d+)$"),
}
#: Stems of the frame scheme: ``mel`` (AudioLogMel), ``mfcc`` (AudioMFCC), ``emb`` (embedders).
FRAME_STEMS = ("mel", "mfcc", "emb")
#: Start of the column holding a categorical column's integer codes (0 missing or unseen).
CODE_MARK = "code:"
#: Start of a table's numeric column (``num:<column>``, written by ``TabularEncoder``).
NUMBER_MARK = "num:"
#: Between a categorical column and one of its categories in a one-hot column's name.
ONEHOT_MARK = "="
_TOKEN_STEM = "tok"
#: Start of each column name of a sparse block (``sparse:<feature>``).
SPARSE_MARK = "sparse:"


def index_width(n, minimum=2):
    """Digits that zero-padded indices ``0 .. n - 1`` need (at least ``minimum``).

    Examples
    --------
    >>> index_width(10), index_width(101), index_width(5, minimum=3)
    (2, 3, 3)
    """
    return max(minimum, len(str(max(int(n) - 1, 0))))


def indexed_names(stem, n, minimum_width=3):
    """``stem000 .. stem{n-1}``: the names of ``n`` unstructured feature columns.

    Examples
    --------
    >>> indexed_names("emb", 3)
    ['emb000', 'emb001', 'emb002']
    """
    width = index_width(n, minimum_width)
    return [f"{stem}{i:0{width}d}" for i in range(int(n))]


def bin_names(channels, n_bins):
    """Names ``{channel}_bin{k}`` of per-channel histogram bins, channel after channel.

    Examples
    --------
    >>> bin_names(("r", "g"), 2)
    ['r_bin00', 'r_bin01', 'g_bin00', 'g_bin01']
    """
    width = index_width(n_bins)
    return [f"{channel}_bin{k:0{width}d}" for channel in channels for k in range(int(n_bins))]


def pixel_names(channels, height, width):
    """Column names ``c{channel}_r{row}_c{column}`` in channel-major (C, H, W) order.

    Examples
    --------
    >>> pixel_names(1, 2, 12)[:2], pixel_names(1, 2, 12)[-1]
    (['c0_r00_c00', 'c0_r00_c01'], 'c0_r01_c11')
    """
    w = index_width(max(height, width))
    return [
        f"c{c}_r{r:0{w}d}_c{k:0{w}d}"
        for c in range(channels)
        for r in range(height)
        for k in range(width)
    ]


def _band_labels(stem, n_bands, n_deltas):
    width = index_width(n_bands)
    bands = [f"{stem}{b:0{width}d}" for b in range(n_bands)]
    orders = [""] + [f"_d{k}" for k in range(1, n_deltas + 1)]
    return bands, orders


def frame_names(stem, n_bands, n_frames, n_deltas=0):
    """Names of spectrogram-like frames ``{stem}{band}[_d{order}]_t{frame}``.

    Order: delta order, then band, then frame (so ``reshape(-1, C, T)`` recovers the
    frames, with the delta orders stacked as extra channels).

    Examples
    --------
    >>> frame_names("mel", 2, 2)
    ['mel00_t000', 'mel00_t001', 'mel01_t000', 'mel01_t001']
    >>> frame_names("mfcc", 1, 1, n_deltas=1)
    ['mfcc00_t000', 'mfcc00_d1_t000']
    """
    if stem not in FRAME_STEMS:
        raise ValueError(f"frame stem must be one of {FRAME_STEMS}, got {stem!r}")
    bands, orders = _band_labels(stem, n_bands, n_deltas)
    t_width = index_width(n_frames, 3)
    return [
        f"{band}{order}_t{t:0{t_width}d}"
        for order in orders for band in bands for t in range(n_frames)
    ]


def band_stat_names(stem, n_bands, stats, n_deltas=0):
    """Names of per-band statistics ``{stem}{band}[_d{order}]_{stat}``.

    Examples
    --------
    >>> band_stat_names("mel", 2, ("mean", "std"))
    ['mel00_mean', 'mel01_mean', 'mel00_std', 'mel01_std']
    """
    bands, orders = _band_labels(stem, n_bands, n_deltas)
    return [f"{band}{order}_{stat}" for order in orders for stat in stats for band in bands]


def token_names(n_tokens):
    """Names of ``n_tokens`` padded token-id columns, ``tok000 ...``.

    Examples
    --------
    >>> token_names(2)
    ['tok000', 'tok001']
    """
    return indexed_names(_TOKEN_STEM, n_tokens)


def category_names(column, categories=None):
    """Names of a categorical column's output: one-hot columns, or its one code column.

    ``categories`` given: ``{column}={category}`` for each (one-hot); None: the single
    ``code:{column}`` column of integer codes (1..k, 0 for missing or unseen).

    Examples
    --------
    >>> category_names("colour", ["red", "blue"]), category_names("brand")
    (['colour=red', 'colour=blue'], ['code:brand'])
    """
    if categories is None:
        return [f"{CODE_MARK}{column}"]
    return [f"{column}{ONEHOT_MARK}{category}" for category in categories]


def _escape(feature):
    """``feature`` with no ``__`` left in it (``%`` -> ``%25``, ``__`` -> ``_%5F``), reversibly."""
    return str(feature).replace("%", "%25").replace(SEPARATOR, "_%5F")


def sparse_names(features=None, n=None):
    """Names of a sparse block's columns: ``sparse:<feature>``, one per column.

    A sparse block's features are data (a vocabulary's words, a one-hot encoder's
    categories), so they may read like another scheme (``present``, ``tok003``,
    ``a__b``): the mark keeps them apart, and a ``__`` inside a feature is escaped so
    that :func:`split_prefix` and :func:`last_segment` still find the modality prefix.

    Parameters
    ----------
    features : sequence of str, optional
        The transformer's own feature names. None (a ``HashingVectorizer``, which names
        none): the zero-padded column indices.
    n : int, optional
        Number of columns, when ``features`` is None.

    Examples
    --------
    >>> sparse_names(["great", "present", "__init__"])
    ['sparse:great', 'sparse:present', 'sparse:_%5Finit_%5F']
    >>> sparse_names(n=3)
    ['sparse:0', 'sparse:1', 'sparse:2']
    """
    if features is None:
        width = index_width(n, minimum=1)
        return [f"{SPARSE_MARK}{i:0{width}d}" for i in range(int(n))]
    return [SPARSE_MARK + _escape(feature) for feature in features]


def is_sparse(name):
    """Whether ``name`` is a column of a sparse block (``sparse:<feature>``, prefixes allowed).

    Examples
    --------
    >>> is_sparse("review__sparse:present"), is_sparse("review__present")
    (True, False)
    """
    return last_segment(name).startswith(SPARSE_MARK)


def sparse_feature(name):
    """The transformer's own feature name behind a sparse column (the inverse of
    :func:`sparse_names`).

    Examples
    --------
    >>> sparse_feature("review__sparse:_%5Finit_%5F"), sparse_feature("review__sparse:great")
    ('__init__', 'great')
    """
    segment = last_segment(name)
    if not segment.startswith(SPARSE_MARK):
        raise ValueError(f"{name!r} is not a column of a sparse block ('sparse:<feature>')")
    return unquote(segment[len(SPARSE_MARK):])


def is_code(name):
    """Whether ``name`` is a column of category codes (``code:<column>``, prefixes allowed).

    Examples
    --------
    >>> is_code("shop__code:brand"), is_code("shop__price")
    (True, False)
    """
    return last_segment(name).startswith(CODE_MARK)


def is_number(name):
    """Whether ``name`` is a table's numeric column (``num:<column>``, prefixes allowed).

    Examples
    --------
    >>> is_number("shop__num:price"), is_number("audio__f0")
    (True, False)
    """
    return last_segment(name).startswith(NUMBER_MARK)


def tabular_layout(names):
    """The shape and column order of a tabular block: numbers first, then category codes.

    Returns ``(n_numbers, n_codes), order`` when some of ``names`` are a table's columns,
    code columns (:func:`is_code`) or numeric ones (:func:`is_number`), else None. Every
    column that is not a code column counts as a number (one-hot columns, too).

    Examples
    --------
    >>> tabular_layout(["t__code:brand", "t__price", "t__qty"])
    ((2, 1), array([1, 2, 0]))
    >>> tabular_layout(["t__num:price", "t__num:qty"])
    ((2, 0), array([0, 1]))
    >>> tabular_layout(["t__price"]) is None
    True
    """
    codes = np.array([is_code(n) for n in names], dtype=bool)
    if not codes.any() and not any(is_number(n) for n in names):
        return None
    order = np.concatenate([np.flatnonzero(~codes), np.flatnonzero(codes)])
    return (int((~codes).sum()), int(codes.sum())), order


def split_prefix(name):
    """``(prefix, rest)`` of ``"prefix__rest"``; ``(None, name)`` when there is no prefix.

    Examples
    --------
    >>> split_prefix("audio__mel03_t012"), split_prefix("price")
    (('audio', 'mel03_t012'), (None, 'price'))
    """
    name = str(name)
    if SEPARATOR not in name:
        return None, name
    prefix, rest = name.split(SEPARATOR, 1)
    return prefix, rest


def last_segment(name):
    """The part of a column name after its last ``__`` (the extractor's own name)."""
    return str(name).rsplit(SEPARATOR, 1)[-1]


def is_presence(name):
    """Whether ``name`` is a presence-indicator column (``present`` or ``<prefix>__present``).

    Examples
    --------
    >>> is_presence("audio__present"), is_presence("audio__mel00_mean")
    (True, False)
    """
    return last_segment(name) == PRESENT


def grid_layout(names):
    """Which structured scheme a block of column names forms, if any.

    Parameters
    ----------
    names : sequence of str
        The feature columns of one block (no presence column), prefixes allowed.

    Returns
    -------
    (kind, shape, order) or None
        ``kind`` is "pixels" (shape ``(C, H, W)``), "frames" (shape ``(channels, n_frames)``,
        the delta orders stacked as channels) or "tokens" (shape ``(n_tokens,)``); ``order``
        is the permutation of ``names`` into row-major layout order. None when the names
        do not form one complete grid of a known scheme.

    Examples
    --------
    >>> grid_layout(["a__mel00_t001", "a__mel00_t000", "a__mel01_t000", "a__mel01_t001"])
    ('frames', (2, 2), array([1, 0, 2, 3]))
    >>> grid_layout(["a__f0", "a__f1"]) is None
    True
    """
    names = [str(n) for n in names]
    if not names:
        return None
    for kind, pattern in _GRIDS.items():
        matches = [pattern.match(last_segment(n)) for n in names]
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


def pixel_grid_shape(feature_names):
    """Read ``(C, H, W)`` from pixel column names, ignoring prefixes and other columns.

    Parameters
    ----------
    feature_names : sequence of str
        E.g. ``["image__c0_r00_c00", ..., "image__present"]``.

    Returns
    -------
    (channels, height, width) : tuple of int

    Examples
    --------
    >>> pixel_grid_shape(["image__c0_r00_c00", "image__c0_r00_c01", "image__c0_r01_c00",
    ...                   "image__c0_r01_c01", "image__present"])
    (1, 2, 2)
    """
    pixels = [n for n in map(str, feature_names) if _GRIDS["pixels"].match(last_segment(n))]
    if not pixels:
        raise InvalidInputError(
            "no pixel columns (named like 'c0_r05_c12') among the feature names; expected "
            "the output of ImagePixels."
        )
    found = grid_layout(pixels)
    if found is None:
        raise InvalidInputError(
            f"{len(pixels)} pixel columns do not form a full (C, H, W) grid; expected every "
            "column of one ImagePixels output."
        )
    return found[1]
