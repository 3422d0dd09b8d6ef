"""Balanced multimodal training: ``balance=`` of the fusion nets.

A fused net can lose to its best modality when one modality fits the training rows first
(audio on the speakers it has heard) and transfers badly: the net learns to trust it and
never takes up the others. Each scheme here gives every branch a linear head of its own
(a unimodal head) and uses it differently:

* :class:`UnimodalEnsemble` ("ume", Du et al., ICML 2023): the branches are trained through
  their own heads only, and their predictions are combined with weights fitted on held-out
  rows (whole groups when ``fit`` gets ``groups``). Costs a second training (on a quarter
  fewer rows first, to fit the weights).
* :class:`GradientBlending` ("gblend", Wang et al., CVPR 2020): the loss is a weighted sum
  of the fused head's and each unimodal head's losses; each weight grows with the head's
  generalisation gain and shrinks with its overfitting, both measured on held-out rows
  over intervals of a probe run. Costs the probe run (``probe_epochs`` on 75 % of the rows)
  and a loss evaluation per interval; predictions come from the fused head.
* :class:`GradientModulation` ("ogm-ge", Peng et al., CVPR 2022): per training batch, the
  branch of the modality whose share of the (linear) fused head's correct-class score is
  the larger has its gradient scaled down by ``1 - tanh(alpha * (ratio - 1))``, plus
  Gaussian noise of the gradient's own spread (generalisation enhancement). Nearly free;
  it needs ``fusion="concat"`` and a linear head (the default). It sees training batches
  only, so it cannot tell that a modality fails to transfer (see the README's measurements).

With ``sample_weight`` (or ``class_weight``), the weights follow the rows into the held-out
split: the heads' losses in training, UME's held-out accuracies and combination loss, and
G-Blend's held-out and training losses are weighted means; OGM-GE weighs each row's share
of the true class's score. With a multi-label classifier, UME scores the heads by their
per-label accuracy and combines their logits by a weighted mean (then a sigmoid per label);
OGM-GE, whose scores are softmax ones, is refused.

:data:`BALANCES` is their registry (a fourth extension point beside the operators, the
branches and the module); :func:`register_balance` adds a scheme: a subclass of
:class:`BalanceScheme` whose ``fit`` orchestrates the training runs of one fit with
:func:`~skmm.nets._fit.train`, and may set the loss weights of the heads
(``net.loss_weights_``, read by :func:`~skmm.nets._loss.net_loss`) or modulate gradients
in ``after_backward``.

Written from the papers (and the summary in the project's notes), not from their code.
"""

import numpy as np
import torch

from .._docs import fill_doc
from .._validation import InstanceOf, Integer, Real, check_param
from ..exceptions import InvalidInputError
from ._data import split_batch_X, validation_indices
from ._fit import train
from ._heads import fit_combination, head_losses
from ._registry import REGISTER_DOCS, Registry


class BalanceScheme:
    """What the schemes share: a held-out split and the training of the net's module.

    A scheme is built at each fit from ``balance`` and the routed ``balance__<name>``
    hyperparameters its constructor takes (checked against ``_parameter_constraints``).
    """

    #: Routed hyperparameters (``balance__<name>``) and their constraints.
    _parameter_constraints = {}

    def __init__(self, **params):
        for name, value in params.items():
            if name in self._parameter_constraints:
                check_param(f"balance__{name}", value, self._parameter_constraints[name])
            setattr(self, name, value)

    def fit(self, net, data, **fit_params):
        """Train ``net`` (its module built afresh) on ``data``, an ArrayDataset, with
        :meth:`train`; return ``net``."""
        raise NotImplementedError

    @staticmethod
    def train(net, data, initialize, **fit_params):
        """One training run of ``net`` on ``data`` (:func:`~skmm.nets._fit.train`):
        ``initialize=True`` builds the module afresh (``epochs=0``: only builds), else
        training goes on; ``epochs=k`` runs k epochs instead of ``max_epochs``."""
        return train(net, data, initialize, **fit_params)

    def after_backward(self, net, X, y):
        """Called after each training batch's backward pass, before the optimizer step,
        with the batch's X (the rows, or their dict with ``sample_weight``) and targets."""

    def split(self, net, data):
        """``(train, valid)`` row indices: whole groups held out when fit got groups."""
        y = data.y if getattr(net, "_stratify", False) else None
        return validation_indices(len(data), self.holdout, net.seed_, y=y,
                                  groups=data.groups, stratify=y is not None)


#: The balance schemes by name (a mapping name -> class; see :func:`register_balance`).
BALANCES = Registry("balance", "balance scheme", context=(),
                    register_hint="skmm.nets.BALANCES", base=BalanceScheme)


@fill_doc(**REGISTER_DOCS)
def register_balance(name, cls=None, **defaults):
    """Register a balance scheme class as ``name`` (a class decorator when ``cls`` is None).

    Parameters
    ----------
    name : str
        The value of the nets' ``balance`` parameter that selects it; registering a name
        twice is an error.
    cls : BalanceScheme subclass, optional
        Built at each fit with the routed hyperparameters its constructor takes
        (``balance__<argument>``). Its ``fit(net, data, **fit_params)`` trains the net's
        module (see ARCHITECTURE.md for a worked example).
    {{defaults}}

    {{returns}}

    Examples
    --------
    >>> from skmm.nets import BALANCES, BalanceScheme, register_balance
    >>> @register_balance("heads-only")
    ... class HeadsOnly(BalanceScheme):
    ...     def fit(self, net, data, **fit_params):
    ...         self.train(net, data, initialize=True, epochs=0)  # build the module
    ...         net.loss_weights_ = [0.0] + [1.0] * len(net.module_.aux_heads)
    ...         return self.train(net, data, initialize=False, **fit_params)
    >>> "heads-only" in BALANCES
    True
    >>> BALANCES.unregister("heads-only").__name__
    'HeadsOnly'
    """
    return BALANCES.register(name, cls, **defaults)


def _n_blocks(net):
    return len(net.module_.aux_heads)


class UnimodalEnsemble(BalanceScheme):
    """Per-branch heads trained alone, combined with weights fitted on held-out rows.

    Parameters
    ----------
    holdout : float in (0, 1), default=0.25
        Share of the training rows (whole groups, when ``fit`` gets ``groups``) held out
        to fit the combination weights.
    """

    _parameter_constraints = {"holdout": [Real(0, 1, closed="neither")]}

    def __init__(self, holdout=0.25):
        super().__init__(holdout=holdout)

    def fit(self, net, data, **fit_params):
        fit_rows, held_out = self.split(net, data)
        self.train(net, data.subset(fit_rows), initialize=True, epochs=0, **fit_params)
        net.loss_weights_ = np.r_[0.0, np.ones(_n_blocks(net))]  # the unimodal heads only
        self.train(net, data.subset(fit_rows), initialize=False, **fit_params)
        weights = fit_combination(net, data.subset(held_out))
        self.train(net, data, initialize=True, **fit_params)
        net.module_.set_combination(weights, net._combine_kind)
        net.balance_weights_ = weights
        return net


class GradientBlending(BalanceScheme):
    """Loss weights of the fused and unimodal heads from their overfitting-to-generalisation
    ratio on held-out rows (Gradient-Blending, estimated online in a probe run).

    Parameters
    ----------
    holdout : float in (0, 1), default=0.25
        Share of the training rows (whole groups with ``groups``) the probe run holds out.
    probe_epochs : int, default=8
        Length of the probe run, in epochs.
    interval : int, default=2
        Epochs between two estimates; the weights are the running mean of the estimates.
    floor : float in [0, 1), default=0.05
        Least weight of a head (one noisy estimate must not switch a head off).
    """

    _parameter_constraints = {
        "holdout": [Real(0, 1, closed="neither")],
        "probe_epochs": [Integer(1)],
        "interval": [Integer(1)],
        "floor": [Real(0, 1, closed="left")],
    }

    def __init__(self, holdout=0.25, probe_epochs=8, interval=2, floor=0.05):
        super().__init__(holdout=holdout, probe_epochs=probe_epochs, interval=interval,
                         floor=floor)

    def fit(self, net, data, **fit_params):
        fit_rows, held_out = self.split(net, data)
        probe_train, probe_valid = data.subset(fit_rows), data.subset(held_out)
        self.train(net, probe_train, initialize=True, epochs=0, **fit_params)
        n_heads = 1 + _n_blocks(net)
        net.loss_weights_ = np.full(n_heads, 1.0 / n_heads)
        before = (head_losses(net, probe_valid), head_losses(net, probe_train))
        estimates, done = [], 0
        while done < self.probe_epochs:
            step = min(self.interval, self.probe_epochs - done)
            self.train(net, probe_train, initialize=False, epochs=step, **fit_params)
            after = (head_losses(net, probe_valid), head_losses(net, probe_train))
            estimates.append(blend_weights(*before, *after))
            weights = np.maximum(np.mean(estimates, axis=0), self.floor)
            net.loss_weights_ = weights / weights.sum()
            before, done = after, done + step
        weights = net.loss_weights_
        self.train(net, data, initialize=True, **fit_params)
        net.loss_weights_ = net.balance_weights_ = weights
        return net


def blend_weights(valid_before, train_before, valid_after, train_after):
    """Gradient-Blending's weights, proportional to dG / dO**2 and normalised to sum 1.

    dG = held-out loss before - after (generalisation gain); dO = the growth of the
    held-out minus training loss gap (overfitting). A head that did not generalise gets
    0; a tiny dO is floored at 0.01 so that one head cannot take all the weight.
    """
    gain = np.nan_to_num(valid_before - valid_after)
    overfit = (valid_after - train_after) - (valid_before - train_before)
    weights = np.clip(gain, 0, None) / np.maximum(np.nan_to_num(overfit), 1e-2) ** 2
    if not np.isfinite(weights).all() or weights.sum() <= 0:
        weights = np.ones_like(weights)
    return weights / weights.sum()


class GradientModulation(BalanceScheme):
    """On-the-fly gradient modulation with generalisation enhancement (OGM-GE).

    Parameters
    ----------
    alpha : float > 0, default=1.0
        Strength of the modulation: the dominant branch's gradient is multiplied by
        ``1 - tanh(alpha * (ratio - 1))``.
    noise : bool, default=True
        Add zero-mean Gaussian noise with the modulated gradient's spread (the "GE").
    """

    _parameter_constraints = {"alpha": [Real(0, closed="neither")],
                              "noise": [InstanceOf(bool, description="a bool")]}

    def __init__(self, alpha=1.0, noise=True):
        super().__init__(alpha=alpha, noise=noise)

    def fit(self, net, data, **fit_params):
        if getattr(net, "multilabel_", False):
            raise InvalidInputError(
                "balance='ogm-ge' compares the modalities' softmax scores of the true class: "
                "it is for single-label classifiers. With a multi-label y (an indicator "
                "matrix) use 'ume' or 'gblend'."
            )
        if net._combine_kind != "log_prob":
            raise InvalidInputError(
                "balance='ogm-ge' compares the modalities' softmax scores of the true class: "
                "it is for classifiers. Use 'ume' or 'gblend' with FusionNetRegressor."
            )
        self.train(net, data, initialize=True, epochs=0, **fit_params)
        module = net.module_
        linear = [m for m in module.head.modules() if isinstance(m, torch.nn.Linear)]
        if type(module.fusion).__name__ != "ConcatFusion" or len(linear) != 1:
            raise InvalidInputError(
                "balance='ogm-ge' reads each modality's share of the fused head's scores, so "
                "it needs fusion='concat' and a linear head (hidden_sizes='auto' or ()); got "
                f"fusion={net.fusion!r} and hidden_sizes={net.hidden_sizes!r}."
            )
        module.keep_branch_outputs = True
        self.train(net, data, initialize=False, **fit_params)
        module.keep_branch_outputs = False
        module.branch_outputs = None
        return net

    def after_backward(self, net, X, y):
        module = net.module_
        h = module.branch_outputs
        if h is None or y is None:
            return
        y = torch.as_tensor(y, device=net.device_)
        sample_weight = split_batch_X(X)[1]
        head = module.head.layers[-1]
        with torch.no_grad():
            n_blocks, width = h.shape[1], h.shape[2]
            weight = head.weight.view(head.weight.shape[0], n_blocks, width)
            bias = head.bias / n_blocks
            shares = [torch.softmax(h[:, k].float() @ weight[:, k].T.float() + bias, dim=1)
                      .gather(1, y.view(-1, 1)) for k in range(n_blocks)]
            if sample_weight is not None:  # each row's share counts with its weight
                w = sample_weight.to(h.device).view(-1, 1)
                shares = [share * w for share in shares]
            scores = torch.stack([share.sum() for share in shares])
            others = (scores.sum() - scores) / max(n_blocks - 1, 1)
            ratios = scores / others.clamp(min=1e-12)
            for k in range(n_blocks):
                ratio = float(ratios[k])
                if ratio <= 1:
                    continue
                coefficient = 1.0 - np.tanh(self.alpha * (ratio - 1.0))
                for param in module.branches[k].parameters():
                    if param.grad is None:
                        continue
                    param.grad.mul_(coefficient)
                    if self.noise:
                        param.grad.add_(torch.randn_like(param.grad) * param.grad.std())
        module.branch_outputs = None


BALANCES.register("ume", UnimodalEnsemble)
BALANCES.register("gblend", GradientBlending)
BALANCES.register("ogm-ge", GradientModulation)


def make_balance(spec, params):
    """The scheme ``spec`` (a name, a class or an instance) built with the routed
    hyperparameters (``balance__<x>``) it takes.

    A hyperparameter that another registered scheme takes is ignored (one grid may span
    several schemes); one that no scheme takes is refused as a typo.
    """
    cls = BALANCES.check(spec, params)[0]
    BALANCES.check_names(params, [cls])
    return BALANCES.build(spec, {}, params)
