"""Batched, librosa-compatible log-mel and MFCC computation (torch; scipy's FFT on CPU).

A batch of clips of different lengths is laid out as one flat sequence of
frames, so no clip is padded to the batch's longest: each clip gets librosa's
centre padding (``n_fft // 2`` zeros on both sides, ``pad_mode="constant"``),
rounded up to a whole number of hops, and the clips are concatenated. Framing
that buffer at ``hop_length`` gives every clip's librosa frames as a contiguous
run (plus a few junk frames between clips, never read). All later steps
(``power_to_db`` with its per-clip ``top_db`` floor, deltas, pooling, the
fixed frames block) index the valid frames of each clip only, so a clip's
features do not depend on the other clips of its batch.
"""

import threading
from contextlib import contextmanager

import numpy as np

#: librosa.power_to_db's default amin (power floor before the log).
AMIN = 1e-10
STAT_CHOICES = ("mean", "std", "min", "max")


_THREADS_LOCK = threading.Lock()
_THREADS_STATE = {"users": 0, "saved": None}


@contextmanager
def single_torch_thread(device):
    """Run torch CPU ops on one intra-op thread, restoring the previous count after.

    Each op here is small and memory-bound: extra intra-op threads add little, and
    on a busy machine their synchronisation makes a batch several times slower.
    Nested or concurrent users share one saved value (a counter under a lock).
    """
    if not str(device).startswith("cpu"):
        yield
        return
    import torch

    with _THREADS_LOCK:
        if _THREADS_STATE["users"] == 0:
            _THREADS_STATE["saved"] = torch.get_num_threads()
            torch.set_num_threads(1)
        _THREADS_STATE["users"] += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_STATE["users"] -= 1
            if _THREADS_STATE["users"] == 0:
                torch.set_num_threads(_THREADS_STATE["saved"])


def split_by_samples(lengths, n_parts, min_samples=200_000):
    """Contiguous groups of clip indices with about equal total samples (for threads).

    Fewer groups when the batch is small: each holds at least ``min_samples``.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    n_parts = max(1, min(n_parts, len(lengths), total // min_samples))
    if n_parts == 1:
        return [np.arange(len(lengths))]
    bounds = np.searchsorted(np.cumsum(lengths), total * np.arange(1, n_parts) / n_parts)
    return [p for p in np.split(np.arange(len(lengths)), bounds) if len(p)]


class FrameLayout:
    """Where each clip's valid frames sit in the flat frame sequence.

    Attributes
    ----------
    starts : ndarray of int64, shape (b,)
        Sample offset of each clip in the flat buffer.
    offsets : ndarray of int64, shape (b,)
        Index of each clip's first frame in the flat frame sequence.
    n_valid : ndarray of int64, shape (b,)
        librosa's frame count of each clip (``center=True``).
    buffer_length : int
    """

    def __init__(self, lengths, n_fft, hop_length):
        lengths = np.asarray(lengths, dtype=np.int64)
        pad = n_fft // 2
        self.n_valid = 1 + (lengths + 2 * pad - n_fft) // hop_length
        segment = -(-(lengths + 2 * pad) // hop_length) * hop_length
        seg_starts = np.concatenate([[0], np.cumsum(segment)[:-1]])
        self.starts = seg_starts + pad
        self.offsets = seg_starts // hop_length
        self.buffer_length = int(segment.sum()) + n_fft
        self._valid = None

    def valid_index(self):
        """(flat index, clip id, index within the clip) of every valid frame, clip after clip."""
        if self._valid is None:
            self._valid = self._compute_valid_index()
        return self._valid

    def _compute_valid_index(self):
        clip = np.repeat(np.arange(len(self.n_valid)), self.n_valid)
        first = np.cumsum(self.n_valid) - self.n_valid
        within = np.arange(len(clip)) - np.repeat(first, self.n_valid)
        return self.offsets[clip] + within, clip, within


def power_mel(waveforms, layout, window, mel_basis, hop_length, device, fft_dtype, chunk=8192):
    """Mel power of every frame of the flat sequence: float32 tensor (n_flat_frames, n_mels).

    As in librosa, the windowed FFT runs in ``fft_dtype`` (librosa's float64 window
    promotes its frames to float64) and the power spectrum meets the mel basis in
    float32. On the CPU the FFT is scipy's (pocketfft), measured about twice as fast
    as torch's CPU FFT in float64; elsewhere it is torch's. Frames go through the FFT
    ``chunk`` at a time, which bounds the working memory whatever the clips' lengths.
    """
    import torch

    on_cpu = str(device).startswith("cpu")
    buffer = np.zeros(layout.buffer_length, dtype=np.float64 if on_cpu else np.float32)
    for start, y in zip(layout.starts, waveforms):
        buffer[start:start + len(y)] = y
    n_fft = len(window)
    if on_cpu:
        from scipy.fft import rfft

        frames = np.lib.stride_tricks.sliding_window_view(buffer, n_fft)[::hop_length]
    else:
        signal = torch.from_numpy(buffer).to(device=device, dtype=fft_dtype)
        frames = signal.unfold(0, n_fft, hop_length)
        window = torch.as_tensor(window, device=device, dtype=fft_dtype)
    # |X|^2 @ mel.T as one matmul over interleaved (re, im) squares: rows of mel.T doubled
    weights = torch.as_tensor(np.repeat(mel_basis.T, 2, axis=0), device=device, dtype=torch.float32)
    out = torch.empty((frames.shape[0], mel_basis.shape[0]), device=device, dtype=torch.float32)
    for start in range(0, frames.shape[0], chunk):
        if on_cpu:
            spectrum = rfft(frames[start:start + chunk] * window, axis=1, overwrite_x=True)
            parts = torch.from_numpy(spectrum.view(np.float64).astype(np.float32))
        else:
            spectrum = torch.fft.rfft(frames[start:start + chunk] * window, dim=1)
            parts = torch.view_as_real(spectrum).flatten(1).to(torch.float32)
        out[start:start + chunk] = parts.square_() @ weights
    return out


def power_to_db(mel, layout, top_db):
    """librosa.power_to_db (ref=1, amin=1e-10), its ``top_db`` floor taken per clip.

    Returns the dB tensor of the flat sequence (n_flat_frames, n_mels) and each
    clip's silence level (b,): the value a frame of zeros gets, which pads the
    frames block.
    """
    import torch

    device = mel.device
    db = 10.0 * torch.log10(torch.clamp(mel, min=AMIN))
    silence = torch.full(
        (len(layout.n_valid),), 10.0 * np.log10(AMIN), dtype=db.dtype, device=device
    )
    if top_db is not None:
        flat_index, _, _ = layout.valid_index()
        lengths = torch.as_tensor(layout.n_valid, device=device)
        valid = db[torch.as_tensor(flat_index, device=device)]
        peak = torch.segment_reduce(valid.amax(dim=1), "max", lengths=lengths, unsafe=True)
        floor = peak - float(top_db)
        frame_clip = _flat_clip_ids(layout, db.shape[0], device)
        db = torch.maximum(db, floor[frame_clip][:, None])
        silence = torch.maximum(silence, floor)
    return db, silence


def _flat_clip_ids(layout, n_flat, device):
    """Clip id of every flat frame (junk frames between clips get the previous clip)."""
    import torch

    ids = np.zeros(n_flat, dtype=np.int64)
    ids[layout.offsets[1:]] = 1
    return torch.as_tensor(np.cumsum(ids), device=device)


def delta_kernel(width, order):
    """Savitzky-Golay derivative weights librosa.feature.delta applies away from the edges."""
    from scipy.signal import savgol_coeffs

    return savgol_coeffs(width, order, deriv=order, use="dot")


def deltas(flat, layout, width, order):
    """librosa.feature.delta(x, width, order, mode="interp") of every clip, on the flat sequence.

    With ``polyorder == deriv == order`` the "interp" edges equal the value at the
    first (last) full window, so edge frames copy that value. A clip with fewer than
    ``width`` frames (where librosa raises) gets zeros; junk frames get zeros.
    """
    import torch

    half = width // 2
    device = flat.device
    kernel = torch.as_tensor(delta_kernel(width, order), dtype=flat.dtype, device=device)
    full = torch.nn.functional.conv1d(flat.T[:, None, :], kernel[None, None, :], padding=half)
    full = full[:, 0, :].T
    target, clip, within = layout.valid_index()
    n_valid = layout.n_valid[clip]
    keep = n_valid >= width
    source = layout.offsets[clip] + np.clip(within, half, np.maximum(n_valid - 1 - half, half))
    result = torch.zeros_like(flat)
    source = torch.as_tensor(source[keep], device=device)
    result[torch.as_tensor(target[keep], device=device)] = full[source]
    return result


def pool(flat, layout, stats):
    """Per-clip statistics over the valid frames: tensor (b, len(stats) * C), stat-major."""
    import torch

    device = flat.device
    values = flat[torch.as_tensor(layout.valid_index()[0], device=device)]
    lengths = torch.as_tensor(layout.n_valid, device=device)
    counts = lengths.to(values.dtype)[:, None]
    blocks = {}
    if "mean" in stats or "std" in stats:
        blocks["mean"] = torch.segment_reduce(values, "sum", lengths=lengths, unsafe=True) / counts
    if "std" in stats:
        centred = values - torch.repeat_interleave(blocks["mean"], lengths, dim=0)
        var = torch.segment_reduce(centred.square(), "sum", lengths=lengths, unsafe=True) / counts
        blocks["std"] = var.sqrt()
    for name in ("min", "max"):
        if name in stats:
            blocks[name] = torch.segment_reduce(values, name, lengths=lengths, unsafe=True)
    return torch.cat([blocks[s] for s in stats], dim=1)


def frames_block(flat, layout, n_frames, pad_rows=None):
    """The first ``n_frames`` frames of each clip: (b, C, n_frames).

    A clip with fewer frames is padded with its row of ``pad_rows`` (b, C), or, when
    ``pad_rows`` is None, with its own frames repeated from the start.
    """
    import torch

    t = np.arange(n_frames)
    n_valid = np.maximum(layout.n_valid[:, None], 1)
    if pad_rows is None:
        index = layout.offsets[:, None] + t[None, :] % n_valid
        return flat[torch.as_tensor(index, device=flat.device)].transpose(1, 2)
    index = layout.offsets[:, None] + np.minimum(t[None, :], n_valid - 1)
    inside = t[None, :] < layout.n_valid[:, None]
    block = flat[torch.as_tensor(index, device=flat.device)]  # (b, n_frames, C)
    mask = torch.as_tensor(inside, device=flat.device)[:, :, None]
    block = torch.where(mask, block, pad_rows[:, None, :])
    return block.transpose(1, 2)


def dct_matrix(n_mels, n_mfcc):
    """The orthonormal DCT-II rows librosa.feature.mfcc keeps: (n_mfcc, n_mels)."""
    from scipy.fft import dct

    return dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc]


def lifter_weights(n_mfcc, lifter):
    """librosa's cepstral liftering weights (all ones when ``lifter == 0``)."""
    if lifter == 0:
        return np.ones(n_mfcc)
    return 1.0 + (lifter / 2.0) * np.sin(np.pi * np.arange(1, n_mfcc + 1) / lifter)
