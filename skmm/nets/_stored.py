"""Training and predicting from a :class:`~skmm.store.FeatureStore`: batches read from disk.

* :class:`StoreDataset` is the :class:`~skmm.nets._data.ArrayDataset` of a store: X stays
  on disk (a view of some of its rows after :meth:`~StoreDataset.subset`), y and the row
  weights are tensors on the device as usual;
* :class:`StoreSliceLoader` draws the same seeded permutation per pass as the in-memory
  :class:`~skmm.nets._data.SliceLoader` and reads each batch's rows from the store, so a
  fit from a store sees the same batches, in the same order, as the fit from the same
  rows in memory (and so reaches the same weights and predictions);
* :func:`row_chunks` iterates over the rows of any X (array, CSR, store) a chunk at a
  time, for the statistics and checks that read the whole training X.
"""

import numpy as np
import torch

from ..store import CHUNK_ROWS, FeatureStore
from ._data import ArrayDataset, SliceLoader


def is_store(X):
    return isinstance(X, FeatureStore)


def row_chunks(X, chunk_rows=CHUNK_ROWS):
    """Yield ``(start, rows)`` over X (an array, a CSR matrix or a store) in row order."""
    if is_store(X):
        yield from X.iter_chunks(chunk_rows)
        return
    n = X.shape[0]
    if n == 0:
        yield 0, X
    for start in range(0, n, int(chunk_rows)):
        yield start, X[start:start + int(chunk_rows)]


class StoreDataset(ArrayDataset):
    """The rows of a :class:`~skmm.store.FeatureStore` (all, or ``rows`` of it) with y
    and the row weights as tensors on ``device``; X is read a batch at a time."""

    def __init__(self, X, y=None, device="cpu", sample_weight=None, groups=None,
                 rows=None):  # noqa: D107 (skorch's __init__ not called)
        self.X, self.y, self.rows = X, y, None if rows is None else np.asarray(rows)
        self.sample_weight, self.groups = sample_weight, groups
        device = torch.device(device)
        self.y_t = None if y is None else torch.from_numpy(y).to(device)
        self.w_t = None if sample_weight is None else torch.from_numpy(sample_weight).to(device)
        self.X_t = None

    def __len__(self):
        return len(self.X) if self.rows is None else len(self.rows)

    def __getitem__(self, i):
        raise TypeError("a feature store is batched by skmm's own iterator; keep "
                        "iterator_train and iterator_valid as they are (DataLoader with "
                        "batch_size, shuffle, drop_last).")

    def store_rows(self, indices=None):
        """Positions in the store of the dataset's rows ``indices`` (all when None)."""
        if indices is None:
            return np.arange(len(self.X)) if self.rows is None else self.rows
        indices = np.asarray(indices, dtype=np.int64)
        return indices if self.rows is None else self.rows[indices]

    def subset(self, indices):
        def rows(a):
            return None if a is None else a[indices]

        device = "cpu" if self.y_t is None else self.y_t.device
        return StoreDataset(self.X, rows(self.y), device=device,
                            sample_weight=rows(self.sample_weight), groups=rows(self.groups),
                            rows=self.store_rows(indices))

    def tensors(self, indices=None):
        """``(X rows, y_t)`` of ``indices``: reads those rows into memory."""
        X_t = torch.from_numpy(self.X.rows(self.store_rows(indices)))
        if indices is None or self.y_t is None:
            return X_t, self.y_t
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long, device=self.y_t.device)
        return X_t, self.y_t.index_select(0, idx)

    def loader(self, indices, batch_size, shuffle, drop_last, seed):
        """A :class:`StoreSliceLoader` over the rows ``indices`` (all when None)."""
        y_t = self.y_t
        if indices is not None and y_t is not None:
            y_t = y_t.index_select(0, torch.as_tensor(np.asarray(indices), dtype=torch.long,
                                                      device=y_t.device))
        return StoreSliceLoader(self.X, self.store_rows(indices), y_t, batch_size,
                                shuffle=shuffle, drop_last=drop_last, seed=seed,
                                sample_weight=self.weights(indices))


class StoreSliceLoader(SliceLoader):
    """Batches ``(X rows, y rows)`` of a store's ``rows``, in the order the in-memory
    :class:`~skmm.nets._data.SliceLoader` would give them (same seeded permutation)."""

    def __init__(self, store, rows, y, batch_size, **kwargs):
        self.store, self.rows = store, np.asarray(rows, dtype=np.int64)
        super().__init__(_Length(len(self.rows)), y, batch_size, **kwargs)

    def __iter__(self):
        return self.host_batches(
            len(self.rows), lambda idx: torch.from_numpy(self.store.rows(self.rows[idx])))


class _Length:
    """Stands for X in :class:`SliceLoader`'s bookkeeping (``X.shape[0]``, ``len(X)``)."""

    def __init__(self, n):
        self.shape = (n,)

    def __len__(self):
        return self.shape[0]
