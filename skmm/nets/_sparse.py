"""Sparse blocks in the nets: a sparse X batched as sparse rows, its blocks as bags.

A sparse X (a CSR matrix: a bare ``TfidfVectorizer`` output, or the union's named CSR
whose ``sparse:<feature>`` columns form sparse blocks beside dense ones) is never
densified whole:

* :class:`SparseDataset` keeps X as a scipy CSR on the host; :class:`SparseSliceLoader`
  slices each batch's rows from it (C-level row indexing) into a torch sparse CSR tensor,
  which moves to the device as it is;
* :class:`SparseSplitter` (a part of the multimodal module) turns a batch into the dense
  columns of the dense blocks (scattered into a dense tensor, only those columns) and,
  for each sparse block, its non-zeros as ``(indices, offsets, weights)``;
* :class:`SparseBranch` reads those with ``torch.nn.EmbeddingBag(mode="sum")``: the block
  times a weight matrix, computed over the non-zeros only (a linear layer on the sparse
  rows), then a bias, ReLU and dropout. A row without non-zeros is an absent document.
"""

import warnings

import numpy as np
import torch
from scipy import sparse as sp
from torch import nn

from ._branches import register_branch
from ._data import ArrayDataset, SliceLoader


def csr_rows(X, rows=None):
    """The ``rows`` of a scipy CSR matrix (all when None) as a torch sparse CSR tensor."""
    if rows is not None:
        X = X[rows]
    with warnings.catch_warnings():  # torch says once that its CSR tensors are in beta
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(X.indptr.astype(np.int64)),
            torch.from_numpy(X.indices.astype(np.int64)),
            torch.from_numpy(np.asarray(X.data, dtype=np.float32)), size=X.shape,
            check_invariants=False)  # scipy's CSR rows hold them


class SparseDataset(ArrayDataset):
    """:class:`~skmm.nets._data.ArrayDataset` of a sparse X: X stays a scipy CSR matrix
    (float32) on the host; y and the row weights are tensors on the device as usual."""

    def __init__(self, X, y=None, device="cpu", sample_weight=None,
                 groups=None):  # noqa: D107 (skorch's __init__ not called)
        self.X, self.y = sp.csr_matrix(X, dtype=np.float32), y
        self.sample_weight, self.groups = sample_weight, groups
        device = torch.device(device)
        self.y_t = None if y is None else torch.from_numpy(y).to(device)
        self.w_t = None if sample_weight is None else torch.from_numpy(sample_weight).to(device)
        self.X_t = None

    def __len__(self):
        return self.X.shape[0]

    def __getitem__(self, i):
        raise TypeError("a sparse X is batched by skmm's own iterator; keep iterator_train "
                        "and iterator_valid as they are (DataLoader with batch_size, shuffle, "
                        "drop_last).")

    def subset(self, indices):
        def rows(a):
            return None if a is None else a[indices]

        device = "cpu" if self.y_t is None else self.y_t.device
        return SparseDataset(self.X[indices], rows(self.y), device=device,
                             sample_weight=rows(self.sample_weight), groups=rows(self.groups))

    def tensors(self, indices=None):
        """``(X rows as a torch sparse CSR tensor, y_t)``, of ``indices`` when given."""
        if indices is None:
            return csr_rows(self.X), self.y_t
        indices = np.asarray(indices)
        y_t = None if self.y_t is None else self.y_t[torch.as_tensor(indices, dtype=torch.long,
                                                                     device=self.y_t.device)]
        return csr_rows(self.X, indices), y_t

    def loader(self, indices, batch_size, shuffle, drop_last, seed):
        """A :class:`SparseSliceLoader` over the rows ``indices`` (all when None)."""
        return SparseSliceLoader(self.X if indices is None else self.X[np.asarray(indices)],
                                 self.tensors(indices)[1], batch_size, shuffle=shuffle,
                                 drop_last=drop_last, seed=seed,
                                 sample_weight=self.weights(indices))


class SparseSliceLoader(SliceLoader):
    """Batches of a scipy CSR X: ``(sparse CSR tensor of the rows, y rows)``, from a seeded
    permutation per pass when ``shuffle`` (the dense :class:`~skmm.nets._data.SliceLoader`'s
    contract, a weighted batch's X being the dict with ``sample_weight``)."""

    def __iter__(self):
        return self.host_batches(self.X.shape[0], lambda idx: csr_rows(self.X, idx))


class SparseSplitter(nn.Module):
    """The blocks of a sparse batch: the dense blocks' columns as one dense tensor, each
    sparse block as the bags ``(indices, offsets, weights)`` of its non-zeros.

    Parameters
    ----------
    layout : tuple of Block
        Dense blocks' columns (and presence columns) are gathered, in increasing order,
        into the dense tensor; :attr:`dense_layout` is the layout with those columns
        numbered in it. A sparse block's columns may be anywhere in X.
    """

    def __init__(self, layout):
        super().__init__()
        n_cols = 1 + max(max(b.columns) if b.columns else -1 for b in layout)
        n_cols = max([n_cols] + [b.mask + 1 for b in layout if b.mask is not None])
        dense = sorted({c for b in layout if b.kind != "sparse" for c in b.columns}
                       | {b.mask for b in layout if b.mask is not None})
        position = np.full(n_cols, -1, dtype=np.int64)
        position[dense] = np.arange(len(dense))
        owner = np.full(n_cols, -1, dtype=np.int64)
        local = np.zeros(n_cols, dtype=np.int64)
        self.sparse_blocks = [i for i, b in enumerate(layout) if b.kind == "sparse"]
        for i in self.sparse_blocks:
            owner[list(layout[i].columns)] = i
            local[list(layout[i].columns)] = np.arange(len(layout[i].columns))
        self.n_dense = len(dense)
        self.register_buffer("position", torch.from_numpy(position))
        self.register_buffer("owner", torch.from_numpy(owner))
        self.register_buffer("local", torch.from_numpy(local))
        renumber = {int(c): k for k, c in enumerate(dense)}
        self.dense_layout = tuple(
            b if b.kind == "sparse" else type(b)(
                b.name, tuple(renumber[c] for c in b.columns), b.kind, b.shape,
                None if b.mask is None else renumber[b.mask])
            for b in layout)

    def forward(self, X):
        """``(dense, bags)``: the (batch, n_dense) dense tensor and {block index: bags}."""
        crow, col, val = X.crow_indices(), X.col_indices(), X.values()
        n = crow.numel() - 1
        counts = crow[1:] - crow[:-1]
        rows = torch.repeat_interleave(torch.arange(n, device=col.device), counts)
        inside = col < self.position.numel()  # columns past every block are unused
        col, val, rows = col[inside], val[inside], rows[inside]
        dense = torch.zeros(n, self.n_dense, dtype=val.dtype, device=val.device)
        if self.n_dense:
            where = self.position[col]
            keep = where >= 0
            dense[rows[keep], where[keep]] = val[keep]
        bags = {}
        owner = self.owner[col]
        for i in self.sparse_blocks:
            keep = owner == i
            per_row = torch.bincount(rows[keep], minlength=n)
            offsets = torch.cumsum(per_row, 0) - per_row
            bags[i] = (self.local[col[keep]], offsets, val[keep], per_row > 0)
        return dense, bags


@register_branch("sparse", kinds=("sparse",), default_for=("sparse",))
class SparseBranch(nn.Module):
    """A sparse block (a TF-IDF vocabulary, many one-hot columns): a linear layer over its
    non-zeros (``EmbeddingBag`` of mode "sum", weighted by the values), a bias, ReLU and
    dropout. It reads ``(indices, offsets, weights)`` bags, never a dense row."""

    def __init__(self, n_in, width, dropout=0.1):
        super().__init__()
        self.bag = nn.EmbeddingBag(int(n_in), int(width), mode="sum")
        bound = 1.0 / np.sqrt(max(1, int(n_in)))
        nn.init.uniform_(self.bag.weight, -bound, bound)  # as a Linear(n_in, width) would be
        self.bias = nn.Parameter(torch.zeros(int(width)))
        self.dropout = nn.Dropout(dropout)

    def forward(self, bags):
        indices, offsets, weights = bags[:3]
        out = self.bag(indices, offsets, per_sample_weights=weights.to(self.bag.weight.dtype))
        return self.dropout(torch.relu(out + self.bias))
