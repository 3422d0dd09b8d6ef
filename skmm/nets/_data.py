"""The data of a fit: rows as whole tensors, batches sliced from them, held-out splits.

* :class:`ArrayDataset` holds X, y and the rows' weights and groups of one fit or predict
  call, as numpy arrays and as whole tensors (moved to the device once, when they fit).
* :class:`SliceLoader` batches by index slices of those tensors, from a seeded permutation
  per epoch: skorch's default ``DataLoader`` indexes and collates sample by sample, which
  costs more than a small network's step. A weighted batch carries its X as the dict
  ``{"X": rows, "sample_weight": weights}`` (skorch's documented way to give ``get_loss``
  per-row data through its ``X`` argument).
* :func:`validation_indices` is the nets' own held-out split: whole groups when ``fit``
  gets ``groups``, else stratified (classifier) or random (regressor).
* :func:`check_sample_weight` and :func:`check_groups` validate what ``fit`` receives.
"""

import numpy as np
import torch
from sklearn.model_selection import (
    GroupKFold,
    ShuffleSplit,
    StratifiedGroupKFold,
    StratifiedShuffleSplit,
)
from sklearn.utils.validation import _check_sample_weight
from skorch.dataset import Dataset
from skorch.utils import to_numpy

from ..exceptions import InvalidInputError

#: Fraction of the free accelerator memory the training tensors may take.
_DEVICE_MEMORY_SHARE = 0.5
#: The key of a weighted batch's X dict that holds the rows (the other is "sample_weight").
ROWS = "X"


class ArrayDataset(Dataset):
    """X and y of one fit or predict call, as numpy arrays and as whole tensors.

    ``X`` and ``y`` are what skorch's callbacks read (through
    :func:`skorch.utils.data_from_dataset`, which needs a :class:`skorch.dataset.Dataset`,
    whose ``__init__`` is not used here); ``X_t`` and ``y_t`` are the same data as
    tensors, which batches are sliced from.

    Parameters
    ----------
    X : ndarray of float32, shape (n_samples, n_features)
    y : ndarray, optional
        Training targets, as the criterion receives them (class codes 0..k-1, or float32
        targets of shape (n_samples, n_targets)).
    device : str, default="cpu"
        Where to keep ``X_t`` and ``y_t`` (they stay on the CPU when they do not fit).
    sample_weight : ndarray of float32, shape (n_samples,), optional
        Weights of the rows (None: unweighted); kept as ``w_t`` next to ``y_t``.
    groups : ndarray of shape (n_samples,), optional
        Group labels of the rows, for the net's own held-out splits (never a tensor).

    Weights and groups follow the rows through :meth:`subset` and :meth:`tensors`.
    """

    def __init__(self, X, y=None, device="cpu", sample_weight=None,
                 groups=None):  # noqa: D107 (skorch's __init__ not called)
        self.X, self.y = X, y
        self.sample_weight, self.groups = sample_weight, groups
        if not X.flags.writeable:  # torch refuses to wrap read-only memory silently
            X = X.copy()
        self.X_t = to_device_if_fits(torch.from_numpy(X), device)
        self.y_t = None if y is None else torch.from_numpy(y).to(self.X_t.device)
        self.w_t = (None if sample_weight is None
                    else torch.from_numpy(sample_weight).to(self.X_t.device))

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        # Only used when a custom iterator (a DataLoader with extra arguments) asks for items.
        return self.X_t[i], (self.y_t[i] if self.y_t is not None else torch.zeros(()))

    def subset(self, indices):
        """A new ArrayDataset of the rows ``indices`` (on the same device), with their
        weights and groups."""
        def rows(a):
            return None if a is None else a[indices]

        return ArrayDataset(self.X[indices], rows(self.y), device=self.X_t.device,
                            sample_weight=rows(self.sample_weight), groups=rows(self.groups))

    def tensors(self, indices=None):
        """``(X_t, y_t)``, restricted to ``indices`` (an index array) when given."""
        if indices is None:
            return self.X_t, self.y_t
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long, device=self.X_t.device)
        y_t = None if self.y_t is None else self.y_t.index_select(0, idx)
        return self.X_t.index_select(0, idx), y_t

    def weights(self, indices=None):
        """``w_t`` (None when unweighted), restricted to ``indices`` when given."""
        if self.w_t is None or indices is None:
            return self.w_t
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long, device=self.w_t.device)
        return self.w_t.index_select(0, idx)


def to_device_if_fits(tensor, device):
    """Move ``tensor`` to ``device`` unless it would take too much of the free memory there."""
    device = torch.device(device)
    if device.type == "cpu":
        return tensor
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if tensor.numel() * tensor.element_size() > _DEVICE_MEMORY_SHARE * free:
            return tensor  # batches are moved one by one in ``infer``
    return tensor.to(device)


class SliceLoader:
    """Iterate over ``(X_batch, y_batch)`` index slices of two tensors.

    With ``sample_weight``, ``X_batch`` is the dict ``{"X": rows, "sample_weight": weights}``
    (see :func:`split_batch_X`).

    Parameters
    ----------
    X : tensor (n_samples, ...)
    y : tensor (n_samples, ...) or None
    batch_size : int
    shuffle : bool, default=False
        Draw a new permutation of the rows at each pass (each epoch) from ``seed``.
    drop_last : bool, default=False
    seed : int, optional
        Seed of the permutations; None draws it from torch's global generator.
    sample_weight : tensor (n_samples,), optional
        Row weights, sliced with the rows into each batch's X dict.
    """

    def __init__(self, X, y, batch_size, shuffle=False, drop_last=False, seed=None,
                 sample_weight=None):
        self.X, self.y, self.sample_weight = X, y, sample_weight
        self.batch_size = max(1, int(batch_size))
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.generator = None
        if self.shuffle:
            self.generator = torch.Generator()
            self.generator.manual_seed(
                int(seed) if seed is not None else int(torch.randint(2**31 - 1, ()))
            )

    def __len__(self):
        n, b = self.X.shape[0], self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        X, y, w, b = self.X, self.y, self.sample_weight, self.batch_size
        n = len(X)
        stop = n - n % b if self.drop_last else n
        order = torch.randperm(n, generator=self.generator).to(X.device) if self.shuffle else None
        for start in range(0, stop, b):
            if order is None:
                rows = slice(start, start + b)
                Xb, yb = X[rows], (None if y is None else y[rows])
                wb = None if w is None else w[rows]
            else:
                idx = order[start:start + b]
                Xb, yb = X.index_select(0, idx), (None if y is None else y.index_select(0, idx))
                wb = None if w is None else w.index_select(0, idx)
            yield (Xb if wb is None else {ROWS: Xb, "sample_weight": wb}), yb

    def host_batches(self, n, read_rows):
        """The batches of ``n`` rows kept on the host (a sparse X, a feature store): the
        same order as :meth:`__iter__`; ``read_rows(idx)`` gives the X rows of the positions
        ``idx`` (an int ndarray), y and the weights are sliced here."""
        b = self.batch_size
        stop = n - n % b if self.drop_last else n
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        for start in range(0, stop, b):
            idx = (np.arange(start, min(start + b, n)) if order is None
                   else order[start:start + b].numpy())
            Xb, t_idx = read_rows(idx), None
            if self.y is not None or self.sample_weight is not None:
                device = (self.y if self.y is not None else self.sample_weight).device
                t_idx = torch.as_tensor(idx, dtype=torch.long, device=device)
            yb = None if self.y is None else self.y.index_select(0, t_idx)
            if self.sample_weight is None:
                yield Xb, yb
            else:
                yield {ROWS: Xb, "sample_weight": self.sample_weight.index_select(0, t_idx)}, yb


def split_batch_X(X):
    """``(rows, sample_weight)`` of a batch's X: a weighted batch's dict, or the rows alone
    (weight None)."""
    if isinstance(X, dict) and "sample_weight" in X:
        return X[ROWS], X["sample_weight"]
    return X, None


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


def check_sample_weight(sample_weight, n_samples):
    """``sample_weight`` validated as scikit-learn does (one finite, non-negative number
    per row, not all 0; a scalar is repeated), as float64; None stays None."""
    if sample_weight is None:
        return None
    try:
        checked = _check_sample_weight(sample_weight, np.empty((n_samples, 0)),
                                       dtype=np.float64, ensure_non_negative=True)
        if not checked.any():  # scikit-learn < 1.9 lets all-zero weights through
            raise ValueError("Sample weights must contain at least one non-zero number.")
        return checked
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


#: From this many training rows, ``batch_size="auto"`` and ``early_stopping="auto"`` switch to
#: their large-table settings (see :func:`resolve_schedule`).
LARGE_FIT_ROWS = 10_000
#: ``batch_size="auto"``: (below :data:`LARGE_FIT_ROWS` rows, from there).
AUTO_BATCH_SIZES = (128, 512)
#: ``early_stopping="auto"``: the patience from :data:`LARGE_FIT_ROWS` rows (None below).
AUTO_PATIENCE = 5


def resolve_schedule(batch_size, early_stopping, n_rows):
    """``(batch_size_, early_stopping_)`` for a fit on ``n_rows`` rows.

    "auto" keeps a small fit as it was (batches of 128, every row trained on, no held-out
    split to shrink a CV fold) and gives a large one (at least :data:`LARGE_FIT_ROWS`
    rows) batches of 512 and early stopping with patience 5 on a held-out 10%, restoring
    the best epoch, as RealMLP does. On Adult (with the other defaults), batches of 512
    against 128 gave accuracy 0.8644 against 0.8626 at about half the fit time, and early
    stopping cut the fit time to a third for a like accuracy
    (``benchmarks/results/real_ablation.md``).

    Examples
    --------
    >>> resolve_schedule("auto", "auto", 2_000), resolve_schedule("auto", "auto", 30_000)
    ((128, None), (512, 5))
    >>> resolve_schedule(64, None, 30_000)
    (64, None)
    """
    large = n_rows >= LARGE_FIT_ROWS
    if batch_size == "auto":
        batch_size = AUTO_BATCH_SIZES[large]
    if early_stopping == "auto":
        early_stopping = AUTO_PATIENCE if large else None
    return batch_size, early_stopping


def resolved_setting(net, name):
    """The net's ``batch_size`` or ``early_stopping`` as its fit resolved "auto" (see
    :func:`resolve_schedule`); a value set since the fit is used as it is."""
    if getattr(net, name) != "auto":
        return getattr(net, name)
    small = dict(zip(("batch_size", "early_stopping"), resolve_schedule("auto", "auto", 0)))
    return getattr(net, name + "_", small[name])
