"""The per-branch heads of a multimodal module, evaluated on held-out rows.

What the balance schemes (:mod:`._balance`) measure: each head's output and loss on rows
the training did not see (:func:`evaluate_heads`, :func:`head_losses`), and the weights
that combine the heads best there (:func:`fit_combination`, the unimodal ensemble's).
"""

import numpy as np
import torch

from ._loss import criterion_loss


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
            return float(criterion_loss(net.criterion_, pred, y, sw, net.device_))
        return float(criterion_loss(net.criterion_, pred, y[rows],
                                    None if sw is None else sw[rows], net.device_))

    return np.asarray([loss(fused)] + [
        loss(heads[present[:, i], i], present[:, i]) if present[:, i].any() else np.nan
        for i in range(heads.shape[1])], dtype=np.float64)


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
