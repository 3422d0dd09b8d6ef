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

Written from the papers (and the summary in the project's notes), not from their code.
"""

import inspect

import numpy as np
import torch

from .._validation import InstanceOf, Integer, Real, check_param
from ..exceptions import InvalidInputError
from ._split import validation_indices


class BalanceScheme:
    """What the schemes share: a held-out split and the training of the net's module."""

    #: Routed hyperparameters (``balance__<name>``) and their constraints.
    _parameter_constraints = {}

    def __init__(self, **params):
        for name, value in params.items():
            check_param(f"balance__{name}", value, self._parameter_constraints[name])
            setattr(self, name, value)

    def fit(self, net, data, **fit_params):
        """Train ``net`` (its module built afresh) on ``data``, an ArrayDataset."""
        raise NotImplementedError

    def after_backward(self, net):
        """Called after each training batch's backward pass (before the optimizer step)."""

    def split(self, net, data):
        """``(train, valid)`` row indices: whole groups held out when fit got groups."""
        y = data.y if getattr(net, "_stratify", False) else None
        return validation_indices(len(data), self.holdout, net.seed_, y=y,
                                  groups=data.groups, stratify=y is not None)


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
        train, valid = self.split(net, data)
        net._train(data.subset(train), initialize=True, epochs=0, **fit_params)
        net.loss_weights_ = np.r_[0.0, np.ones(_n_blocks(net))]  # the unimodal heads only
        net._train(data.subset(train), initialize=False, **fit_params)
        weights = fit_combination(net, data.subset(valid))
        net._train(data, initialize=True, **fit_params)
        net.module_.set_combination(weights, net._combine_kind)
        net.balance_weights_ = weights
        return net


def fit_combination(net, data):
    """Weights of the per-branch heads, from held-out rows.

    The head that is the most accurate there (the lowest squared error, for regression)
    gets weight 1; each other head, in order of accuracy, the weight in [0, 1] (steps of
    0.1) that gives the combination the lowest held-out loss. No head outweighs the best
    one: a modality that is confidently wrong on new groups cannot take the lead. With
    sample weights, the accuracies, errors and losses are weighted means over the rows.
    """
    _, outputs, present, y = evaluate_heads(net, data)
    outputs, present, y = outputs.float().cpu(), present.float().cpu(), y.cpu()
    sw = data.weights()
    sw = None if sw is None else sw.float().cpu()
    kind = ("multilabel" if getattr(net, "multilabel_", False)
            else "classify" if net._combine_kind == "log_prob" else "regress")
    if kind == "classify":
        outputs = torch.log_softmax(outputs, dim=2)
    scores = [_head_score(outputs[:, k], present[:, k] > 0, y, sw, kind)
              for k in range(outputs.shape[1])]
    weights = np.zeros(outputs.shape[1], dtype=np.float32)
    leader = int(np.argmax(scores))
    weights[leader] = 1.0
    for k in np.argsort(scores)[::-1][1:]:
        losses = []
        for candidate in _GRID:
            weights[k] = candidate
            losses.append(_combined_loss(outputs, present, y, weights, kind, sw))
        weights[k] = _GRID[int(np.argmin(losses))]
    return weights


def _weighted_mean(values, sample_weight):
    """Mean of ``values`` (one per row), weighted by ``sample_weight`` when given."""
    if sample_weight is None:
        return values.mean()
    return (values * sample_weight).sum() / sample_weight.sum()


def _head_score(output, present, y, sample_weight, kind):
    """How well one head does on held-out rows (higher is better): its accuracy on the rows
    where its block is present (per label, for multi-label), or minus its squared error."""
    if kind == "regress":
        if sample_weight is None:  # (the unweighted expression, as it always was)
            return -float(torch.mean((output - y.reshape(output.shape)) ** 2))
        errors = ((output - y.reshape(output.shape)) ** 2).reshape(len(output), -1).mean(1)
        return -float(_weighted_mean(errors, sample_weight))
    if not present.any():
        return -1.0
    w = None if sample_weight is None else sample_weight[present]
    if kind == "multilabel":
        correct = ((output[present] > 0) == (y[present] > 0.5)).float().mean(1)
    else:
        correct = (output[present].argmax(1) == y[present]).float()
    return float(_weighted_mean(correct, w))


#: Relative weights tried for each head after the best one (whose weight is 1).
_GRID = np.linspace(0.0, 1.0, 11)


def _combined_loss(outputs, present, y, weights, kind, sample_weight=None):
    """Held-out loss of the heads combined with ``weights``, as the module combines them
    (``MultimodalModule.combine``): cross-entropy of the weighted sum of log-probabilities,
    or the squared error (binary cross-entropy of the logits, multi-label) of their
    weighted mean; a weighted mean over rows with ``sample_weight``."""
    functional = torch.nn.functional
    w = torch.as_tensor(weights) * present  # (n, blocks)
    if kind == "classify":
        logits = (w.unsqueeze(2) * outputs).sum(1)
        if sample_weight is None:
            return float(functional.cross_entropy(logits, y))
        losses = functional.cross_entropy(logits, y, reduction="none")
        return float(_weighted_mean(losses, sample_weight))
    mean = (w.unsqueeze(2) * outputs).sum(1) / w.sum(1, keepdim=True).clamp(min=1e-6)
    target = y.reshape(mean.shape).float()
    if kind == "multilabel":
        losses = functional.binary_cross_entropy_with_logits(mean, target, reduction="none")
    elif sample_weight is None:
        return float(functional.mse_loss(mean, target))
    else:
        losses = functional.mse_loss(mean, target, reduction="none")
    return float(_weighted_mean(losses.reshape(len(losses), -1).mean(1), sample_weight))


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
        train, valid = self.split(net, data)
        probe_train, probe_valid = data.subset(train), data.subset(valid)
        net._train(probe_train, initialize=True, epochs=0, **fit_params)
        n_heads = 1 + _n_blocks(net)
        net.loss_weights_ = np.full(n_heads, 1.0 / n_heads)
        before = (head_losses(net, probe_valid), head_losses(net, probe_train))
        estimates, done = [], 0
        while done < self.probe_epochs:
            step = min(self.interval, self.probe_epochs - done)
            net._train(probe_train, initialize=False, epochs=step, **fit_params)
            after = (head_losses(net, probe_valid), head_losses(net, probe_train))
            estimates.append(blend_weights(*before, *after))
            weights = np.maximum(np.mean(estimates, axis=0), self.floor)
            net.loss_weights_ = weights / weights.sum()
            before, done = after, done + step
        weights = net.loss_weights_
        net._train(data, initialize=True, **fit_params)
        net.loss_weights_ = net.balance_weights_ = weights
        return net


def evaluate_heads(net, data):
    """``(fused, heads, present, y)`` on ``data`` in eval mode: the fused head's output, the
    per-branch heads' outputs ``(n, n_blocks, n_outputs)``, the presence mask and y."""
    module = net.module_
    was_training = module.training
    module.train(False)
    X, y = data.tensors()
    try:
        with torch.no_grad():
            h, present = module.encode(X.to(net.device_))
            fused = module.head(module.fusion(h, present))
            return fused, module.branch_heads(h), present, y.to(h.device)
    finally:
        module.train(was_training)


def head_losses(net, data):
    """Loss of the fused head and of each unimodal head on ``data`` (eval mode), weighted
    by the rows' sample weights when ``data`` has them."""
    fused, heads, present, y = evaluate_heads(net, data)
    sw = data.weights()
    sw = None if sw is None else sw.to(y.device)

    def loss(pred, rows=None):
        if rows is None:
            return float(net.criterion_loss(pred, y, sw))
        return float(net.criterion_loss(pred, y[rows], None if sw is None else sw[rows]))

    return np.asarray([loss(fused)] + [
        loss(heads[present[:, i], i], present[:, i]) if present[:, i].any() else np.nan
        for i in range(heads.shape[1])], dtype=np.float64)


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
        net._train(data, initialize=True, epochs=0, **fit_params)
        module = net.module_
        linear = [m for m in module.head.modules() if isinstance(m, torch.nn.Linear)]
        if type(module.fusion).__name__ != "ConcatFusion" or len(linear) != 1:
            raise InvalidInputError(
                "balance='ogm-ge' reads each modality's share of the fused head's scores, so "
                "it needs fusion='concat' and a linear head (hidden_sizes='auto' or ()); got "
                f"fusion={net.fusion!r} and hidden_sizes={net.hidden_sizes!r}."
            )
        module.keep_branch_outputs = True
        net._train(data, initialize=False, **fit_params)
        module.keep_branch_outputs = False
        module.branch_outputs = None
        return net

    def after_backward(self, net):
        module = net.module_
        h, y = module.branch_outputs, vars(net).get("_last_targets")
        if h is None or y is None:
            return
        sample_weight = vars(net).get("_last_weights")
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


#: ``balance=`` names -> scheme classes.
BALANCES = {"ume": UnimodalEnsemble, "gblend": GradientBlending, "ogm-ge": GradientModulation}


def make_balance(name, params):
    """The scheme ``name`` with the routed hyperparameters (``balance__<x>``) it takes.

    A hyperparameter that another scheme takes is ignored (one grid may span several
    schemes); one that no scheme takes is refused as a typo.
    """
    cls = BALANCES[name]
    accepted = set(inspect.signature(cls).parameters)
    known = {p for scheme in BALANCES.values() for p in inspect.signature(scheme).parameters}
    unknown = sorted(set(params) - known)
    if unknown:
        raise InvalidInputError(
            f"balance={name!r} takes the hyperparameters {sorted(accepted)} (as "
            f"balance__<name>); got unknown {['balance__' + u for u in unknown]}."
        )
    return cls(**{k: v for k, v in params.items() if k in accepted})
