"""What a fusion net trains, built from its parameters and the layout of X.

* :data:`NET_CONSTRAINTS`, :func:`check_params`: the nets' parameters, checked at fit
  (scikit-learn's declared constraints), with the routed hyperparameters of the fusion
  operator, the branches and the balance scheme (``fusion__<name>``, ``branches__<name>``,
  ``balance__<name>``, as skorch routes ``module__<name>``);
* :func:`build_module`: the module, in one place: a :class:`~skmm.nets._module.MultimodalModule`
  when X has modality blocks (:func:`net_module`), an :class:`~skmm.nets.MLP` over the row
  for one plain block, or the user's ``module``;
* :func:`allow_missing`: which NaN/inf cells of X that layout reads as missing.
"""

import dataclasses
import inspect

import numpy as np
import torch
from scipy import sparse as sp
from torch import nn

from .._naming import is_presence
from .._validation import (
    PRECISIONS, InstanceOf, Integer, Options, Real, Satisfies, validate_params,
)
from ..exceptions import InvalidInputError
from ._balance import BALANCES, make_balance
from ._branches import BRANCHES, BRANCHES_PARAMETER, check_branches, resolve_branches
from ._inputs import check_finite
from ._layout import (
    KINDS, block_statistics, check_presence_column, column, infer_layout, nan_is_missing,
)
from ._layout import warn_blocks_never_present
from ._embeddings import AUTO_MAX_NUMBERS, AUTO_MIN_ROWS
from ._mlp import DROPOUT, HIDDEN_SIZES, MLP, resolve_hidden_sizes
from ._module import MultimodalModule
from ._operators import FUSIONS
from ._stored import is_store, row_chunks

#: The nets' ``lr_schedule`` values (besides None, a constant learning rate).
LR_SCHEDULES = ("cosine",)

_BLOCK_DICT = InstanceOf(dict, description="a dict keyed by modality")

#: The parameters both nets take, checked by fit (see :func:`skmm._validation.validate_params`).
NET_CONSTRAINTS = {
    "hidden_sizes": [Options("auto"), HIDDEN_SIZES],
    "dropout": [DROPOUT],
    "early_stopping": ([None, Options("auto"), Integer(1)], "It is the patience in epochs."),
    "lr_schedule": [None, Options(*LR_SCHEDULES)],
    "batch_size": [Options("auto"), Integer(1),
                   Satisfies(Integer(-1, -1).is_satisfied_by, "-1 (the whole data as one batch)")],
    "precision": [Options(*PRECISIONS)],
    "fusion": (FUSIONS.spec_constraints, "Add one with skmm.nets.register_fusion."),
    "modalities": [None, _BLOCK_DICT],
    "branches": BRANCHES_PARAMETER,
    "shapes": [None, _BLOCK_DICT],
    "branch_width": [Integer(1)],
    "fusion_rank": [Integer(1)],
    "modality_dropout": MultimodalModule._parameter_constraints["modality_dropout"],
    "aux_weight": [Real(0)],
    "balance": ([None, Options("auto"), *BALANCES.spec_constraints],
                "See the nets' docstring for what each costs; add one with "
                "skmm.nets.register_balance."),
}


#: The nets' parameters that name a registry entry; ``<name>__<param>`` is routed to it.
ROUTED = {"fusion": FUSIONS, "branches": BRANCHES}
#: Plain parameters kept as aliases of one operator's hyperparameter:
#: alias -> (the operator's registered name, its constructor argument).
ALIASES = {"fusion_rank": ("lowrank", "rank")}


def fusion_params(net):
    """The fusion operator's routed hyperparameters, with the aliases of :data:`ALIASES`.

    ``fusion_rank`` feeds the ``rank`` of "lowrank" (given by name or class; an instance
    is used as it is) unless ``fusion__rank`` is set; setting both is an error.
    """
    params = net.get_params_for("fusion")
    if isinstance(net.fusion, nn.Module):
        return params
    cls = FUSIONS.resolve(net.fusion)[0]
    for alias, (name, param) in ALIASES.items():
        if name not in FUSIONS or cls is not FUSIONS[name]:
            continue
        value = getattr(net, alias)
        default = inspect.signature(type(net)).parameters[alias].default
        if param in params and value != default:
            raise InvalidInputError(
                f"{alias}={value!r} and fusion__{param}={params[param]!r} both set the {param} "
                f"of {name!r}; give one of them ({alias} is an alias of fusion__{param})."
            )
        params.setdefault(param, value)
    return params


def net_module(net, n_features, n_outputs, X=None):
    """The default module of a fusion net: a :class:`MultimodalModule`, or None for an MLP.

    The layout of X comes from ``net.feature_names_in_`` (or ``net.modalities``); a
    MultimodalModule is built when X has several blocks, a presence column or a block of
    pixels, frames or token ids, or when ``fusion``, ``branches``, ``modality_dropout`` or
    ``aux_weight`` ask for one. None means: one plain block, use the MLP over the row.
    The layout and the training statistics are kept on the net (``layout_``,
    ``block_stats_``) so that a module re-initialised without X (``X=None``) is the same.
    """
    names = getattr(net, "feature_names_in_", None)
    layout = infer_layout(names, n_features, net.modalities, net.shapes,
                          sparse_input=getattr(net, "sparse_input_", False))
    if is_plain(net, layout):
        if not reads_as_table(net, layout):
            return None
        layout = (dataclasses.replace(layout[0], kind="tabular", shape=(layout[0].shape[0], 0)),)
    if X is not None:
        warn_blocks_never_present(layout, X, names)
    if X is not None or getattr(net, "layout_", None) != layout:
        net.block_stats_ = block_statistics(layout, X) if X is not None else (None, None)
    net.layout_ = layout
    stats, vocab_sizes = net.block_stats_
    kwargs = net.get_params_for("module")
    kwargs.setdefault("hidden_sizes", resolve_hidden_sizes(net.hidden_sizes, "head"))
    kwargs.setdefault("dropout", net.dropout)
    branch_params = net.get_params_for("branches")
    if _fit_rows(net) < AUTO_MIN_ROWS:  # "auto" numeric embedding: none on a small fit
        branch_params.setdefault("numeric_embedding", None)
    return MultimodalModule(
        layout, int(n_outputs), branches=resolve_branches(layout, net.branches),
        fusion=net.fusion, width=int(net.branch_width),
        modality_dropout=float(net.modality_dropout),
        aux_heads=net.aux_weight > 0 or balance_of(net) is not None,
        stats=stats, vocab_sizes=vocab_sizes, fusion_params=fusion_params(net),
        branch_params=branch_params, **kwargs,
    )


def _fit_rows(net):
    """Rows of the net's fit (``n_fit_rows_``); infinite before any fit (a module built
    by ``initialize()`` keeps the "auto" choices of a large fit)."""
    return getattr(net, "n_fit_rows_", float("inf"))


def reads_as_table(net, layout):
    """Whether one plain block of at most :data:`AUTO_MAX_NUMBERS` columns is read as a
    table of numbers: a tabular branch, each number embedded periodically (its
    ``numeric_embedding="auto"``), under a linear head, instead of the MLP over the row.

    Only with the defaults that make the MLP (``module=None``, ``hidden_sizes="auto"``,
    no routed ``module__`` or ``branches__`` parameter), a dense X and a fit of at least
    :data:`AUTO_MIN_ROWS` rows. On California housing (8 numbers, 3 seeds) R² 0.827 against
    0.714 for the MLP over the row; below that size the MLP did better (e.g. scikit-learn's
    breast cancer, wine and diabetes tables).
    """
    if (net.module is not None or not _is(net.hidden_sizes, "auto")
            or net.get_params_for("module") or net.get_params_for("branches")
            or getattr(net, "sparse_input_", False) or layout[0].shape[0] > AUTO_MAX_NUMBERS):
        return False
    return _fit_rows(net) >= AUTO_MIN_ROWS


def is_plain(net, layout):
    """Whether ``net`` trains the MLP over the row: one plain block and nothing asking for a
    :class:`MultimodalModule` (see :func:`net_module`)."""
    return (len(layout) == 1 and layout[0].mask is None and layout[0].kind == "features"
            and _is(net.branches, None, "mlp") and _is(net.fusion, "concat")
            and not net.modality_dropout and not net.aux_weight and balance_of(net) is None)


def _is(value, *names):
    """Whether ``value`` is one of the str/None ``names`` (never compares a module or dict)."""
    return (value is None or isinstance(value, str)) and value in names


def check_params(net):
    """Validate the net's parameters and routed hyperparameters (called by fit)."""
    validate_params(net)
    check_branches(net.branches)
    params = fusion_params(net)
    FUSIONS.check_names(params, [FUSIONS.check(net.fusion, params)[0]])
    # the branches__ parameters, against every branch that a block may get
    given = net.branches.values() if isinstance(net.branches, dict) else [net.branches]
    specs = [s for s in given if s is not None] + [BRANCHES.default(k) for k in KINDS]
    params = net.get_params_for("branches")
    BRANCHES.check_names(params, [BRANCHES.check(spec, params)[0] for spec in specs])
    spec = "ume" if _is(net.balance, "auto") else net.balance
    if spec is not None:
        make_balance(spec, net.get_params_for("balance"))


def balance_of(net):
    """The balance scheme of the net's fit: ``balance``, "auto" as :func:`resolve_balance`
    resolved it (``balance_in_use_``)."""
    if _is(net.balance, "auto"):
        return getattr(net, "balance_in_use_", None)
    return net.balance


def resolve_balance(net, groups):
    """``balance="auto"``: "ume" when the fit has ``groups`` and X several blocks (and the
    default module), else None; any other value as it is."""
    if not _is(net.balance, "auto"):
        return net.balance
    if groups is None or net.module is not None:
        return None
    layout = infer_layout(getattr(net, "feature_names_in_", None), net.n_features_in_,
                          net.modalities, net.shapes,
                          sparse_input=getattr(net, "sparse_input_", False))
    return "ume" if len(layout) > 1 else None


def build_module(net, n_features, n_outputs, X=None):
    """The module a net trains (the default of ``FusionNetBase._build_module``).

    A :class:`MultimodalModule` when X has modality blocks or is a table of numbers (see
    :func:`net_module`, :func:`reads_as_table`); else,
    with ``module=None``, an :class:`MLP` from ``hidden_sizes`` ("auto": one layer of 256)
    and ``dropout``; else the user's ``module``: a class is called with the
    ``module__...`` parameters, plus ``n_features`` and ``n_outputs`` when its signature
    takes them and they are not given.
    """
    if net.module is None:
        module = net_module(net, n_features, n_outputs, X)
        if module is not None:
            return module
    kwargs = net.get_params_for("module")
    if net.module is None:
        kwargs = {"hidden_sizes": resolve_hidden_sizes(net.hidden_sizes, "plain"),
                  "dropout": net.dropout, **kwargs}
        return MLP(n_features, n_outputs, **kwargs)
    if not isinstance(net.module, torch.nn.Module):
        try:
            accepted = inspect.signature(net.module).parameters
        except (TypeError, ValueError):
            accepted = {}
        for name, value in (("n_features", n_features), ("n_outputs", n_outputs)):
            if name in accepted and name not in kwargs:
                kwargs[name] = value
    return net.initialized_instance(net.module, kwargs)


def allow_missing(net, X):
    """Refuse NaN/inf in X except where the net reads them as missing.

    NaN/inf are fine in the rows of a block that its presence column marks as missing
    (their values are never read); when X has several blocks and the default module, NaN
    cells of feature and tabular blocks are missing values
    (:func:`~skmm.nets._layout.nan_is_missing`). A lone block's NaN stays an error
    (scikit-learn's rule).
    """
    if is_store(X):
        return _allow_missing_store(net, X)
    names = getattr(net, "feature_names_in_", None)
    is_sparse = sp.issparse(X)
    try:
        layout = infer_layout(names, X.shape[1], net.modalities, net.shapes,
                              sparse_input=is_sparse)
    except InvalidInputError:
        layout = ()  # fit reports a bad layout with its own message
    for block in layout:
        if block.mask is not None:
            check_presence_column(column(X, block.mask), block, names)
    if is_sparse:
        return _allow_missing_sparse(net, X, layout, names)
    bad = ~np.isfinite(X)
    if not bad.any():
        return
    multimodal = net.module is None and len(layout) > 1
    for block in layout:
        if block.mask is not None:
            absent = X[:, block.mask] != 1
            bad[np.ix_(absent, list(block.columns))] = False
        if multimodal and nan_is_missing(block):
            columns = list(block.columns)
            bad[:, columns] &= ~np.isnan(X[:, columns])
    if bad.any():
        check_finite(np.where(bad, X, 0.0), names)


def _allow_missing_store(net, store):
    """:func:`allow_missing` for a feature store: its columns with NaN/inf were recorded
    when it was written; only when there are some are its rows read, a chunk at a time."""
    presence = [j for j, name in enumerate(store.columns) if is_presence(name)]
    if not store.nonfinite_columns and not presence:
        return
    for start, chunk in row_chunks(store):
        try:
            allow_missing(net, chunk)
        except InvalidInputError as exc:
            raise InvalidInputError(
                f"in the feature store '{store.path}', rows {start} to "
                f"{start + len(chunk) - 1} (row numbers below count from {start}): {exc}"
            ) from exc


def _allow_missing_sparse(net, X, layout, names):
    """:func:`allow_missing` for a sparse X: only its stored values can be NaN/inf; a sparse
    block's never may (an empty row is its absent document)."""
    bad = ~np.isfinite(X.data)
    if not bad.any():
        return
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))[bad]
    cols = X.indices[bad]
    allowed = np.zeros(len(rows), dtype=bool)
    multimodal = net.module is None and len(layout) > 1
    for block in layout:
        inside = np.isin(cols, block.columns)
        if block.kind == "sparse" or not inside.any():
            continue
        if block.mask is not None:
            allowed |= inside & (column(X, block.mask)[rows] != 1)
        if multimodal and nan_is_missing(block):
            allowed |= inside & np.isnan(X.data[bad])
    if not allowed.all():
        sparse_blocks = [b.name for b in layout if b.kind == "sparse"]
        where = names[cols[~allowed][0]] if names is not None else f"column {cols[~allowed][0]}"
        raise InvalidInputError(
            f"X (sparse) holds {int((~allowed).sum())} NaN or infinite value(s), the first in "
            f"row {rows[~allowed][0]}, {where!r}. A sparse block {sparse_blocks} has no missing "
            "values (an empty row is an absent document), and NaN elsewhere is missing only in "
            "a block of numbers beside other blocks. Fix: replace them (e.g. with 0) before "
            "the net."
        )


#: Optimizers whose ``fused=True`` implementation torch has (one kernel per step over all
#: the parameters), and the torch version from which it runs on each device type.
FUSED_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW)
FUSED_SINCE = {"cuda": (2, 0), "cpu": (2, 4)}


def use_fused(optimizer, device, kwargs):
    """Whether the nets ask ``optimizer`` for its fused implementation on ``device``.

    Yes for torch's Adam and AdamW (exactly those classes) where this torch has it, unless
    ``kwargs`` (the ``optimizer__`` parameters) choose an implementation (``fused``,
    ``foreach``, ``differentiable``). The fused step does the same arithmetic in one pass
    over the weights instead of about ten, which is most of an epoch's time for a wide
    sparse branch (a TF-IDF vocabulary of 100,000+ words).

    Examples
    --------
    >>> use_fused(torch.optim.SGD, "cpu", {}), use_fused(torch.optim.AdamW, "cpu", {"foreach": True})
    (False, False)
    """
    if optimizer not in FUSED_OPTIMIZERS or {"fused", "foreach", "differentiable"} & set(kwargs):
        return False
    since = FUSED_SINCE.get(torch.device(device).type)
    version = tuple(int(v) for v in torch.__version__.split("+")[0].split(".")[:2])
    return since is not None and version >= since
