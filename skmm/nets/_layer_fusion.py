"""The fusion nets' side of layer-level fusion: parameters, routing, the default module.

:class:`LayerFusionMixin` gives the nets their layer-fusion parameters (declared in
``_parameter_constraints`` and checked by fit), routes the hyperparameters of the fusion
operator and of the branches (``fusion__<name>``, ``branches__<name>``, as skorch routes
``module__<name>``), builds a :class:`~skmm.nets._module.MultimodalModule` as the default
module when X has modality blocks (:func:`net_module`), adds the auxiliary loss of its
per-branch heads and accepts NaN or inf where a block is missing.
"""

import inspect

import numpy as np
import torch
from skorch import NeuralNet
from torch import nn

from .._validation import InstanceOf, Integer, Options, Real
from ..exceptions import InvalidInputError
from ._branches import BRANCHES, BRANCHES_PARAMETER, check_branches, resolve_branches
from ._layout import KINDS, block_statistics, check_presence_column, infer_layout, nan_is_missing
from ._layout import warn_blocks_never_present
from ._balance import BALANCES, make_balance
from ._mlp import resolve_hidden_sizes
from ._module import MultimodalModule, auxiliary_loss, block_losses
from ._operators import FUSIONS

#: The nets' parameters that name a registry entry; ``<name>__<param>`` is routed to it.
ROUTED = {"fusion": FUSIONS, "branches": BRANCHES}
#: Plain parameters kept as aliases of one operator's hyperparameter:
#: alias -> (the operator's registered name, its constructor argument).
ALIASES = {"fusion_rank": ("lowrank", "rank")}

_BLOCK_DICT = InstanceOf(dict, description="a dict keyed by modality")


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
    layout = infer_layout(names, n_features, net.modalities, net.shapes)
    if is_plain(net, layout):
        return None
    if X is not None:
        warn_blocks_never_present(layout, X, names)
    if X is not None or getattr(net, "layout_", None) != layout:
        net.block_stats_ = block_statistics(layout, X) if X is not None else (None, None)
    net.layout_ = layout
    stats, vocab_sizes = net.block_stats_
    kwargs = net.get_params_for("module")
    kwargs.setdefault("hidden_sizes", resolve_hidden_sizes(net.hidden_sizes, "head"))
    kwargs.setdefault("dropout", net.dropout)
    return MultimodalModule(
        layout, int(n_outputs), branches=resolve_branches(layout, net.branches),
        fusion=net.fusion, width=int(net.branch_width),
        modality_dropout=float(net.modality_dropout),
        aux_heads=net.aux_weight > 0 or net.balance is not None,
        stats=stats, vocab_sizes=vocab_sizes, fusion_params=fusion_params(net),
        branch_params=net.get_params_for("branches"), **kwargs,
    )


def is_plain(net, layout):
    """Whether ``net`` trains the MLP over the row: one plain block and nothing asking for a
    :class:`MultimodalModule` (see :func:`net_module`)."""
    return (len(layout) == 1 and layout[0].mask is None and layout[0].kind == "features"
            and _is(net.branches, None, "mlp") and _is(net.fusion, "concat")
            and not net.modality_dropout and not net.aux_weight and net.balance is None)


def _is(value, *names):
    """Whether ``value`` is one of the str/None ``names`` (never compares a module or dict)."""
    return (value is None or isinstance(value, str)) and value in names


class LayerFusionMixin:
    """Layer-level fusion for the fusion nets (a mixin placed before ``FusionNetBase``).

    Adds the layer-fusion parameters (validated by fit), every registered fusion operator
    and branch with their routed hyperparameters, the :class:`MultimodalModule` as default
    module (see :func:`net_module`), the auxiliary loss of its per-branch heads
    (``aux_weight``), and accepts NaN or inf in the rows of a block that its presence
    column marks as missing, and, when X has several blocks, NaN cells of feature and
    tabular blocks (missing values, see :func:`~skmm.nets._layout.nan_is_missing`).
    """

    #: skorch routes ``<prefix>__<name>`` parameters; fusion__, branches__, balance__ are ours.
    prefixes_ = NeuralNet.prefixes_ + list(ROUTED) + ["balance"]

    _parameter_constraints = {
        "fusion": (FUSIONS.spec_constraints, "Add one with skmm.nets.register_fusion."),
        "modalities": [None, _BLOCK_DICT],
        "branches": BRANCHES_PARAMETER,
        "shapes": [None, _BLOCK_DICT],
        "branch_width": [Integer(1)],
        "fusion_rank": [Integer(1)],
        "modality_dropout": MultimodalModule._parameter_constraints["modality_dropout"],
        "aux_weight": [Real(0)],
        "balance": ([None, Options(*BALANCES)], "See the nets' docstring for what each costs."),
    }

    def set_params(self, **params):
        """Set parameters; see ``get_params`` for the names.

        ``fusion__<name>`` and ``branches__<name>`` are stored as they are and take effect
        at the next fit, as ``fusion`` and ``branches`` do.
        """
        # skorch would take fusion_rank for a fusion__ parameter (it starts like the
        # prefix) and re-initialise the fitted module for fusion__...; store them instead.
        direct = {k: params.pop(k) for k in list(params)
                  if k.split("__", 1)[0] in (*ROUTED, "balance") or k in ALIASES}
        super().set_params(**params)
        for name, value in direct.items():
            setattr(self, name, value)
        return self

    def _check_params(self):
        super()._check_params()
        check_branches(self.branches)
        params = fusion_params(self)
        FUSIONS.check_names(params, [FUSIONS.check(self.fusion, params)[0]])
        # the branches__ parameters, against every branch that a block may get
        given = self.branches.values() if isinstance(self.branches, dict) else [self.branches]
        specs = [s for s in given if s is not None] + [BRANCHES.default(k) for k in KINDS]
        params = self.get_params_for("branches")
        BRANCHES.check_names(params, [BRANCHES.check(spec, params)[0] for spec in specs])
        if self.balance is not None:
            make_balance(self.balance, self.get_params_for("balance"))

    def _fit_data(self, data, initialize, **fit_params):
        if not initialize:  # partial_fit or warm_start: go on with the scheme's loss weights
            return super()._fit_data(data, initialize, **fit_params)
        self.loss_weights_ = self.balance_weights_ = None
        if self.balance is None:
            return super()._fit_data(data, initialize, **fit_params)
        if self.module is not None:
            raise InvalidInputError(
                f"balance={self.balance!r} trains the per-branch heads of skmm's multimodal "
                "module; it does not apply to a custom module. Leave module=None."
            )
        self.balance_ = make_balance(self.balance, self.get_params_for("balance"))
        return self.balance_.fit(self, data, **fit_params)

    def train_step_single(self, batch, **fit_params):
        scheme = getattr(self, "balance_", None) if self.balance is not None else None
        if scheme is not None:
            vars(self)["_last_targets"] = torch.as_tensor(batch[1], device=self.device_)
            vars(self)["_last_weights"] = getattr(batch, "sample_weight", None)
        step = super().train_step_single(batch, **fit_params)
        if scheme is not None:
            try:
                scheme.after_backward(self)
            finally:  # the batch's targets and weights are for after_backward only
                vars(self).pop("_last_targets", None)
                vars(self).pop("_last_weights", None)
        return step

    def _build_module(self, n_features, n_outputs, X=None):
        if self.module is None:
            module = net_module(self, n_features, n_outputs, X)
            if module is not None:
                return module
        return super()._build_module(n_features, n_outputs, X)

    def _check_values(self, X):
        names = getattr(self, "feature_names_in_", None)
        try:
            layout = infer_layout(names, X.shape[1], self.modalities, self.shapes)
        except InvalidInputError:
            layout = ()  # fit reports a bad layout with its own message
        for block in layout:
            if block.mask is not None:
                check_presence_column(X[:, block.mask], block, names)
        # NaN/inf are fine where a block is missing: its values are never read. NaN cells of
        # the multimodal module's feature and tabular blocks are missing values.
        bad = ~np.isfinite(X)
        if bad.any():
            # beside other modalities only: a lone block's NaN stays an error (sklearn's rule)
            multimodal = self.module is None and len(layout) > 1
            for block in layout:
                if block.mask is not None:
                    absent = X[:, block.mask] != 1
                    bad[np.ix_(absent, list(block.columns))] = False
                if multimodal and nan_is_missing(block):
                    columns = list(block.columns)
                    bad[:, columns] &= ~np.isnan(X[:, columns])
            if bad.any():
                super()._check_values(np.where(bad, X, 0.0))

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if not isinstance(y_pred, tuple):
            return super().get_loss(y_pred, y_true, X=X, training=training)
        # a MultimodalModule with auxiliary heads, in training: (logits, aux_logits, present)
        logits, aux, present = y_pred
        y_true = torch.as_tensor(y_true, device=logits.device)
        sample_weight = vars(self).get("_batch_weight")
        # block_losses hands the loss each block's rows of its third argument: given row
        # numbers, the loss takes those rows' targets and sample weights.
        rows = torch.arange(len(y_true), device=logits.device)

        def loss(pred, index):
            weight = None if sample_weight is None else sample_weight[index]
            return self.criterion_loss(pred, y_true[index], weight)

        weights = getattr(self, "loss_weights_", None)
        if weights is None:
            return (self.criterion_loss(logits, y_true, sample_weight)
                    + self.aux_weight * auxiliary_loss(aux, present, rows, loss))
        # balanced training: the fused head's and each unimodal head's loss, weighted
        total = 0.0
        if weights[0]:
            total = float(weights[0]) * self.criterion_loss(logits, y_true, sample_weight)
        for weight, block in zip(weights[1:], block_losses(aux, present, rows, loss)):
            if weight and block is not None:
                total = total + float(weight) * block
        return total
