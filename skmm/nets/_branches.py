"""Branch modules: one per modality block, each mapping its flat block to a common width.

Every branch takes a float tensor ``(batch, n_block_features)`` (the block's columns, in
the layout order found by :func:`skmm.nets._multimodal.infer_layout`) and returns
``(batch, width)``. No branch couples the samples of a batch (no batch normalisation),
so a sample's output depends on its own row only.

=============  ==========================================  ===============================
name           input block                                 module
=============  ==========================================  ===============================
"mlp"          any features                                :class:`MLPBranch`
"cnn"          pixels ``(channels, height, width)``         :class:`CNN2dBranch`
"cnn1d"        frames ``(n_mels, n_frames)``                :class:`CNN1dBranch`
"lstm"         frames ``(n_mels, n_frames)``                :class:`LSTMBranch`
"transformer"  token ids ``(n_tokens,)``, 0 = padding       :class:`TokenBranch`
"embedding"    token ids, mean-pooled embeddings            :class:`TokenBranch`
=============  ==========================================  ===============================
"""

import math

import torch
from torch import nn

from ..exceptions import InvalidInputError

BRANCHES = ("mlp", "cnn", "cnn1d", "lstm", "transformer", "embedding")

#: Branch used for a block when none is asked for, by the block's kind.
DEFAULT_BRANCH = {"pixels": "cnn", "frames": "cnn1d", "tokens": "transformer", "features": "mlp"}

#: Block kinds each branch accepts.
BRANCH_KINDS = {
    "mlp": ("pixels", "frames", "features"),
    "cnn": ("pixels",),
    "cnn1d": ("frames", "pixels"),
    "lstm": ("frames",),
    "transformer": ("tokens",),
    "embedding": ("tokens",),
}


class MLPBranch(nn.Module):
    """Two dense layers: ``n_in -> hidden -> width``, ReLU and dropout."""

    def __init__(self, n_in, width, hidden=None, dropout=0.1):
        super().__init__()
        hidden = hidden or max(width, min(256, 2 * width))
        self.net = nn.Sequential(
            nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, width), nn.ReLU(),
        )

    def forward(self, x):
        return self.net(x)


class CNN2dBranch(nn.Module):
    """A small 2-D CNN over images ``(channels, height, width)`` given as flat rows."""

    def __init__(self, shape, width, channels=(16, 32), dropout=0.1):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        layers, c_in, size = [], self.shape[0], min(self.shape[1:])
        for c_out in channels:
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
            if size >= 4:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            c_in = c_out
        pooled = min(2, size)
        layers += [nn.AdaptiveAvgPool2d(pooled), nn.Flatten(), nn.Dropout(dropout),
                   nn.Linear(c_in * pooled * pooled, width), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x.reshape(-1, *self.shape))


class CNN1dBranch(nn.Module):
    """A 1-D CNN over time of spectrogram frames ``(n_mels, n_frames)`` (mels are channels)."""

    def __init__(self, shape, width, channels=(32, 64), dropout=0.1):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        layers, c_in, steps = [], self.shape[0], self.shape[1]
        for i, c_out in enumerate(channels):
            kernel = 5 if i == 0 else 3
            layers += [nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2), nn.ReLU()]
            if steps >= 4:
                layers.append(nn.MaxPool1d(2))
                steps //= 2
            c_in = c_out
        self.conv = nn.Sequential(*layers)
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * c_in, width), nn.ReLU())

    def forward(self, x):
        h = self.conv(x.reshape(-1, *self.shape))
        return self.out(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1))


class LSTMBranch(nn.Module):
    """A bidirectional LSTM over spectrogram frames; the final states of both directions."""

    def __init__(self, shape, width, hidden=None, dropout=0.1):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        hidden = hidden or width
        self.lstm = nn.LSTM(self.shape[0], hidden, batch_first=True, bidirectional=True)
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, width), nn.ReLU())

    def forward(self, x):
        frames = x.reshape(-1, *self.shape).transpose(1, 2)  # (batch, n_frames, n_mels)
        _, (h, _) = self.lstm(frames)
        return self.out(torch.cat([h[0], h[1]], dim=1))


class TokenBranch(nn.Module):
    """Token ids ``(n_tokens,)`` -> embedding -> Transformer encoder (or none) -> mean pool.

    Id 0 is padding (masked out of attention and of the mean), id 1 unknown; ids at or
    above ``vocab_size`` (unseen at fit time) are read as unknown. A row of padding only
    (an empty or missing text) pools to the embedding of its first position.
    """

    def __init__(self, n_tokens, vocab_size, width, encoder="transformer", n_layers=1,
                 n_heads=None, dropout=0.1):
        super().__init__()
        if encoder not in ("transformer", "mean"):
            raise InvalidInputError(f"encoder must be 'transformer' or 'mean', got {encoder!r}.")
        self.vocab_size = max(2, int(vocab_size))
        self.embed = nn.Embedding(self.vocab_size, width, padding_idx=0)
        self.encoder = None
        if encoder == "transformer":
            self.position = nn.Parameter(torch.randn(1, int(n_tokens), width) * 0.02)
            n_heads = n_heads or _heads_for(width)
            layer = nn.TransformerEncoderLayer(
                width, n_heads, dim_feedforward=2 * width, dropout=dropout,
                batch_first=True, norm_first=True,
            )
            self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)

    def forward(self, x):
        ids = torch.nan_to_num(x).round().long()
        ids = torch.where((ids < 0) | (ids >= self.vocab_size), torch.ones_like(ids), ids)
        pad = ids == 0
        empty = pad.all(dim=1)
        pad[:, 0] &= ~empty  # attend to (and pool) one position in all-padding rows
        h = self.embed(ids)
        if self.encoder is not None:
            h = self.encoder(h + self.position, src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(2).to(h.dtype)
        return (h * keep).sum(dim=1) / keep.sum(dim=1)


def _heads_for(width):
    for heads in (4, 2, 1):
        if width % heads == 0:
            return heads
    return 1


def make_branch(name, kind, shape, width, vocab_size=None, dropout=0.1):
    """Build the branch ``name`` for a block of ``kind`` with layout ``shape``.

    Parameters
    ----------
    name : {"mlp", "cnn", "cnn1d", "lstm", "transformer", "embedding"}
    kind : {"pixels", "frames", "tokens", "features"}
    shape : tuple of int
        The block's layout: (channels, height, width), (n_mels, n_frames), (n_tokens,) or
        (n_features,).
    width : int
        Output width of the branch.
    vocab_size : int, optional
        For token branches: one more than the largest id seen at fit time.

    Returns
    -------
    torch.nn.Module mapping (batch, prod(shape)) to (batch, width)
    """
    if name not in BRANCHES:
        raise InvalidInputError(f"unknown branch {name!r}; expected one of {BRANCHES}.")
    if kind not in BRANCH_KINDS[name]:
        raise InvalidInputError(
            f"branch {name!r} needs a block of kind {BRANCH_KINDS[name]}, but this block is "
            f"{kind!r} (shape {tuple(shape)}). Give its layout with the column names of the "
            "matching extractor (ImagePixels: c0_r00_c00, AudioLogMel(output='frames'): "
            "mel00_t000, TextTokenIds: tok000) or choose branch 'mlp'."
        )
    n_in = math.prod(shape)
    if name == "mlp":
        return MLPBranch(n_in, width, dropout=dropout)
    if name == "cnn":
        return CNN2dBranch(shape, width, dropout=dropout)
    if name == "cnn1d":
        return CNN1dBranch(shape if kind == "frames" else (shape[0] * shape[1], shape[2]), width,
                           dropout=dropout)
    if name == "lstm":
        return LSTMBranch(shape, width, dropout=dropout)
    encoder = "transformer" if name == "transformer" else "mean"
    return TokenBranch(shape[0], vocab_size or 2, width, encoder=encoder, dropout=dropout)
