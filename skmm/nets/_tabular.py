"""The branch of a ``"tabular"`` block: a table's numbers and category codes (registered as
"tabular" in :data:`~skmm.nets.BRANCHES`, the default for that kind)."""

import torch
from torch import nn

from ._embeddings import embedding_size, make_numeric_embedding


class TabularBranch(nn.Module):
    """A table's numbers and category codes: one embedding per categorical column, then
    two dense layers over the numbers and the embeddings (as tabular deep-learning
    libraries do for high-cardinality columns).

    Codes are 0 (missing or unseen) to ``k``; one at or above the column's number of
    categories seen at fit reads as 0. ``numeric_embedding="periodic"`` embeds each
    number with :class:`PeriodicEmbedding` (``numeric_dim`` wide, ``n_frequencies``
    frequencies drawn with ``frequency_scale``) instead of feeding it as it is; "auto"
    (the default) does so when the block has at most 32 numbers. One-hot columns (all
    columns before the codes) count as numbers: ``TabularEncoder``'s default codes every
    category, so that only the table's true numbers are embedded.
    """

    def __init__(self, shape, vocab_size, width, hidden=None, embedding_dim=None, dropout=0.1,
                 numeric_embedding="auto", numeric_dim=16, n_frequencies=16,
                 frequency_scale=1.0):
        super().__init__()
        self.n_numbers, n_codes = (int(s) for s in shape)
        if vocab_size is None or isinstance(vocab_size, int):  # one size for every column
            vocab_size = (vocab_size or 2,) * n_codes
        sizes = tuple(int(v) for v in vocab_size)
        self.register_buffer("n_categories", torch.as_tensor(sizes, dtype=torch.long))
        self.embeddings = nn.ModuleList(
            nn.Embedding(n, int(embedding_dim or embedding_size(n, width))) for n in sizes
        )
        self.numbers = make_numeric_embedding(numeric_embedding, self.n_numbers, numeric_dim,
                                          n_frequencies, frequency_scale)
        n_numbers_out = self.n_numbers * (int(numeric_dim) if self.numbers is not None else 1)
        n_in = n_numbers_out + sum(e.embedding_dim for e in self.embeddings)
        hidden = hidden or max(width, min(256, 2 * width))
        self.net = nn.Sequential(
            nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, width), nn.ReLU(),
        )

    def forward(self, x):
        codes = torch.nan_to_num(x[:, self.n_numbers:]).round().long()
        codes = torch.where((codes < 0) | (codes >= self.n_categories), 0, codes)
        numbers = x[:, :self.n_numbers]
        if self.numbers is not None:
            numbers = self.numbers(numbers.float()).to(numbers.dtype)
        parts = [numbers]
        parts += [embed(codes[:, j]) for j, embed in enumerate(self.embeddings)]
        return self.net(torch.cat([p.to(parts[-1].dtype) for p in parts], dim=1))
