"""The fusion nets' internal validation split: grouped when the user's folds are.

A net that holds out rows for early stopping or for balanced training should see, on those
rows, the shift its user evaluates: when ``fit`` receives ``groups`` (speakers, users,
sessions), whole groups are held out; without groups the split is stratified for a
classifier and random for a regressor.
"""

import numpy as np
import torch
from sklearn.model_selection import (
    GroupKFold,
    ShuffleSplit,
    StratifiedGroupKFold,
    StratifiedShuffleSplit,
)
from skorch.utils import to_numpy

from ..exceptions import InvalidInputError


def validation_indices(n_samples, fraction, seed, y=None, groups=None, stratify=False):
    """Indices ``(train, valid)`` of a held-out split of about ``fraction`` of the rows.

    Parameters
    ----------
    n_samples : int
    fraction : float in (0, 1)
    seed : int
    y : array-like of shape (n_samples,), optional
        Class codes, to stratify by (``stratify=True``).
    groups : array-like of shape (n_samples,), optional
        Group labels: whole groups go to one side. Needs at least two groups.
    stratify : bool, default=False

    Returns
    -------
    train, valid : int ndarrays

    Examples
    --------
    >>> groups = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    >>> train, valid = validation_indices(8, 0.25, seed=0, groups=groups)
    >>> len(set(groups[valid]).intersection(groups[train]))  # whole groups held out
    0
    """
    index = np.arange(n_samples)
    stratify = stratify and y is not None and len(np.unique(to_numpy(y))) > 1
    if groups is not None:
        groups = np.asarray(to_numpy(groups) if isinstance(groups, torch.Tensor) else groups)
        if groups.shape != (n_samples,):
            raise InvalidInputError(
                f"groups must hold one label per training row, shape ({n_samples},); got "
                f"shape {groups.shape}."
            )
        n_groups = len(np.unique(groups))
        if n_groups < 2:
            raise InvalidInputError(
                f"groups holds {n_groups} distinct group; the net's grouped validation split "
                "needs at least two. Pass groups with two or more values, or none."
            )
        n_splits = int(min(n_groups, max(2, round(1.0 / fraction))))
        if stratify:
            cv = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
            return next(cv.split(index, to_numpy(y), groups))
        cv = GroupKFold(n_splits, shuffle=True, random_state=seed)
        return next(cv.split(index, groups=groups))
    if stratify:
        cv = StratifiedShuffleSplit(1, test_size=fraction, random_state=seed)
        try:
            return next(cv.split(index, to_numpy(y)))
        except ValueError:  # a class with a single row cannot be stratified
            pass
    return next(ShuffleSplit(1, test_size=fraction, random_state=seed).split(index))
