"""The loss of the fusion nets, in one place: :func:`net_loss`.

What a training (or validation) batch costs is the criterion on the fused head's output,

* with each row's loss weighted by its ``sample_weight`` (times ``class_weight``):
  ``sum(w_i * loss_i) / sum(w_i)`` (:func:`weighted_loss`);
* plus, when the :class:`~skmm.nets._module.MultimodalModule` has per-branch heads,
  ``aux_weight`` times the mean of their losses, each on the rows where its block is
  present (:func:`auxiliary_loss`);
* or, under a balance scheme that sets ``loss_weights_`` (Gradient-Blending, the
  unimodal ensemble), the weighted sum of the fused head's and each branch head's losses.

skorch's ``get_loss`` hook of the nets calls :func:`net_loss`; the balance schemes'
held-out evaluations call :func:`criterion_loss`, its first step.
"""

import torch
from skorch.utils import to_tensor

from ..exceptions import InvalidInputError


def net_loss(net, y_pred, y_true, sample_weight=None):
    """The loss of a fusion net on one batch.

    Parameters
    ----------
    net : FusionNetClassifier or FusionNetRegressor
        Reads ``criterion_``, ``device_``, ``aux_weight`` and ``loss_weights_``.
    y_pred : tensor, or the tuple ``(logits, aux_logits, present)`` of a module with
        per-branch heads in training
    y_true : tensor or array
    sample_weight : tensor (n_rows,), optional
    """
    if not isinstance(y_pred, tuple):
        return criterion_loss(net.criterion_, y_pred, y_true, sample_weight, net.device_)
    logits, aux, present = y_pred
    y_true = torch.as_tensor(y_true, device=logits.device)
    # block_losses hands the loss each block's rows of its third argument: given row
    # numbers, the loss takes those rows' targets and sample weights.
    rows = torch.arange(len(y_true), device=logits.device)

    def loss(pred, index):
        weight = None if sample_weight is None else sample_weight[index]
        return criterion_loss(net.criterion_, pred, y_true[index], weight, net.device_)

    weights = getattr(net, "loss_weights_", None)
    if weights is None:
        return (criterion_loss(net.criterion_, logits, y_true, sample_weight, net.device_)
                + net.aux_weight * auxiliary_loss(aux, present, rows, loss))
    # balanced training: the fused head's and each unimodal head's loss, weighted
    total = 0.0
    if weights[0]:
        total = float(weights[0]) * criterion_loss(net.criterion_, logits, y_true,
                                                   sample_weight, net.device_)
    for weight, block in zip(weights[1:], block_losses(aux, present, rows, loss)):
        if weight and block is not None:
            total = total + float(weight) * block
    return total


def criterion_loss(criterion, y_pred, y_true, sample_weight=None, device="cpu"):
    """``criterion`` on ``(y_pred, y_true)``, weighted by ``sample_weight`` when given.

    An ``NLLLoss`` gets log-probabilities (the module returns probabilities), as skorch's
    classifier gives it.
    """
    if isinstance(y_true, torch.Tensor):
        y_true = y_true.to(device, non_blocking=True)
    else:
        y_true = to_tensor(y_true, device=device)
    if isinstance(criterion, torch.nn.NLLLoss):
        y_pred = torch.log(y_pred + torch.finfo(y_pred.dtype).eps)
    if sample_weight is None:
        return criterion(y_pred, y_true)
    return weighted_loss(criterion, y_pred, y_true, sample_weight)


def weighted_loss(criterion, y_pred, y_true, sample_weight):
    """``criterion``'s loss with each row's loss weighted by ``sample_weight``.

    The criterion is called with ``reduction="none"``; a row's loss is the mean over its
    other dimensions (targets, labels), and the rows are combined as
    ``sum(w_i * loss_i) / sum(w_i)`` for a criterion whose reduction is "mean" (equal
    weights give its unweighted mean), times the number of rows for "sum".

    Parameters
    ----------
    criterion : torch loss with a ``reduction`` attribute ("mean" or "sum")
    y_pred, y_true : tensors
    sample_weight : tensor (n_rows,)
    """
    reduction = getattr(criterion, "reduction", None)
    if reduction not in ("mean", "sum"):
        raise InvalidInputError(
            f"sample_weight needs a criterion that gives the loss of each row: a torch loss "
            f"with reduction 'mean' or 'sum'; {type(criterion).__name__} has reduction "
            f"{reduction!r}. Use a torch.nn loss, or fit without sample_weight."
        )
    criterion.reduction = "none"
    try:
        losses = criterion(y_pred, y_true)
    finally:
        criterion.reduction = reduction
    if losses.ndim == 0 or losses.shape[0] != len(sample_weight):
        raise InvalidInputError(
            f"sample_weight needs one loss per row, but {type(criterion).__name__} with "
            f"reduction='none' gave shape {tuple(losses.shape)} for {len(sample_weight)} rows."
        )
    if losses.ndim > 1:
        losses = losses.reshape(len(losses), -1).mean(dim=1)
    weights = sample_weight.to(losses.device, losses.dtype)
    total = (losses * weights).sum()
    if reduction == "mean":
        return total / weights.sum()
    return total * (len(weights) / weights.sum())


def block_losses(aux, present, y_true, loss_fn):
    """``loss_fn(aux_logits, y)`` of each block on the samples where it is present (None
    where no sample of the batch has it)."""
    return [loss_fn(aux[present[:, i], i], y_true[present[:, i]]) if present[:, i].any()
            else None for i in range(aux.shape[1])]


def auxiliary_loss(aux, present, y_true, loss_fn):
    """Mean over blocks of ``loss_fn(aux_logits, y)`` on the samples where the block is present.

    Parameters
    ----------
    aux : tensor (batch, n_blocks, n_outputs)
    present : bool tensor (batch, n_blocks)
    y_true : tensor (batch, ...)
    loss_fn : callable(y_pred, y_true) -> scalar tensor
    """
    losses = [loss for loss in block_losses(aux, present, y_true, loss_fn) if loss is not None]
    return sum(losses) / max(1, len(losses))
