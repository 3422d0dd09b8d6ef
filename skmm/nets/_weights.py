"""Sample weights of the fusion nets: their checks, and the weighted loss of a batch.

The weights travel with the rows (a tensor of :class:`~skmm.nets._training.ArrayDataset`,
sliced with each batch); :func:`weighted_loss` turns a criterion's per-row losses into the
batch's loss.
"""

import numpy as np
from sklearn.utils.validation import _check_sample_weight

from ..exceptions import InvalidInputError


def check_sample_weight(sample_weight, n_samples):
    """``sample_weight`` validated as scikit-learn does (one finite, non-negative number
    per row, not all 0; a scalar is repeated), as float64; None stays None."""
    if sample_weight is None:
        return None
    try:
        return _check_sample_weight(sample_weight, np.empty((n_samples, 0)), dtype=np.float64,
                                    ensure_non_negative=True)
    except (TypeError, ValueError) as exc:
        got = (f"shape {np.shape(sample_weight)}" if hasattr(sample_weight, "__len__")
               and not isinstance(sample_weight, str) else repr(sample_weight))
        raise InvalidInputError(
            f"sample_weight must hold one finite, non-negative number per row of X (shape "
            f"({n_samples},)), or be one number, and not be all 0; got {got}: {exc} Fix: "
            "pass one weight per row of X, in the order of its rows."
        ) from exc


def check_groups(groups, n_samples):
    """``groups`` as an array of one label per row (None stays None)."""
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.shape != (n_samples,):
        raise InvalidInputError(
            f"groups must hold one label per row of X, shape ({n_samples},); got "
            f"shape {groups.shape}."
        )
    return groups


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
