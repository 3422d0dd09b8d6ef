"""Fast batching for the nets: whole tensors sliced into batches, never collated item by item.

skorch's default ``DataLoader`` builds every batch by indexing a ``Dataset`` once per sample
and collating the items, which costs more than a small network's step. Here the training
data are two tensors (moved to the device once, when they fit there) and a batch is an
index slice of them, drawn from a seeded permutation per epoch. Sample weights, when a fit
has them, are a third tensor sliced with the same indices: a batch carries its rows'
weights (:class:`WeightedBatch`).
"""

import builtins
import contextlib

import numpy as np
import torch
from skorch.callbacks import PrintLog
from skorch.dataset import Dataset

#: Fraction of the free accelerator memory the training tensors may take.
_DEVICE_MEMORY_SHARE = 0.5


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


class WeightedBatch(tuple):
    """An ``(X_batch, y_batch)`` pair that also carries its rows' ``sample_weight``.

    It unpacks and indexes as the pair, so that skorch and its callbacks see an ordinary
    batch; the nets read the weights of the batch they train or validate on.
    """

    def __new__(cls, X, y, sample_weight):
        batch = super().__new__(cls, (X, y))
        batch.sample_weight = sample_weight
        return batch


class SliceLoader:
    """Iterate over ``(X_batch, y_batch)`` index slices of two tensors.

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
        Row weights: each batch is then a :class:`WeightedBatch` holding its rows' weights.
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
        n, b = len(self.X), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        X, y, w, b = self.X, self.y, self.sample_weight, self.batch_size
        n = len(X)
        stop = n - n % b if self.drop_last else n
        if not self.shuffle:
            for start in range(0, stop, b):
                batch = X[start:start + b], (None if y is None else y[start:start + b])
                yield batch if w is None else WeightedBatch(*batch, w[start:start + b])
            return
        order = torch.randperm(n, generator=self.generator).to(X.device)
        for start in range(0, stop, b):
            idx = order[start:start + b]
            batch = X.index_select(0, idx), (None if y is None else y.index_select(0, idx))
            yield batch if w is None else WeightedBatch(*batch, w.index_select(0, idx))


@contextlib.contextmanager
def seeded(seed, device):
    """Run the block with torch's global generators seeded, restoring them afterwards.

    Module initialisation and dropout draw from the global generators; forking them keeps
    a fit deterministic for a given seed without changing the caller's random stream.
    """
    device = torch.device(device)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


def print_line(*args, **kwargs):
    """``print``, looked up at each call: the sink of the nets' logging callbacks.

    skorch's callbacks default to the ``print`` they saw at import, which pickles by
    reference; a library that replaces ``builtins.print`` (Ray's ``shutdown`` does) would
    make every fitted net unpicklable. This function pickles by its own name.
    """
    builtins.print(*args, **kwargs)


class QuietPrintLog(PrintLog):
    """skorch's PrintLog, which formats its table only when the net is verbose, and prints
    through :func:`print_line`."""

    def __init__(self, keys_ignored=None, sink=print_line, tablefmt="simple", floatfmt=".4f",
                 stralign="right"):
        super().__init__(keys_ignored=keys_ignored, sink=sink, tablefmt=tablefmt,
                         floatfmt=floatfmt, stralign=stralign)

    def on_epoch_end(self, net, **kwargs):
        if net.verbose:
            super().on_epoch_end(net, **kwargs)
