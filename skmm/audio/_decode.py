"""Decoding one audio cell (path, bytes, waveform or (waveform, rate)) into a mono waveform."""

import io
import os

import numpy as np

from .._column import CellError, read_file_path


def _to_float_waveform(arr):
    arr = np.asarray(arr)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise CellError(f"audio array must be numeric, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(arr.dtype)
        arr = arr.astype(np.float32) / float(max(abs(info.min), info.max))
    elif np.issubdtype(arr.dtype, np.complexfloating):
        raise CellError("audio array is complex; pass a real waveform")
    with np.errstate(over="ignore", invalid="ignore"):
        arr = arr.astype(np.float32, copy=False)  # overflow -> inf, refused below
    if arr.ndim == 2:
        # librosa's convention is (channels, samples); accept (samples, channels) too.
        channel_axis = 0 if arr.shape[0] <= arr.shape[1] else 1
        arr = arr.mean(axis=channel_axis)
    elif arr.ndim != 1:
        raise CellError(
            f"audio array must be 1-D (mono) or 2-D (channels, samples), got shape {arr.shape}"
        )
    return arr


def resample(y, orig_sr, target_sr):
    """Resample a 1-D float32 waveform with soxr's high quality filter (librosa's default)."""
    if orig_sr == target_sr:
        return y
    import soxr

    return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def decode_audio(cell, sr):
    """Decode one audio cell into a mono float32 waveform at ``sr`` Hz.

    Parameters
    ----------
    cell : str, os.PathLike, bytes, 1-D ndarray or (waveform, sample_rate) tuple
        A path or raw bytes of any file libsndfile reads (WAV, FLAC, OGG, ...), a
        waveform already at ``sr``, or a waveform with its own rate (resampled).
        Stereo is mixed to mono; integer PCM is scaled to [-1, 1].
    sr : int
        Target sample rate.

    Returns
    -------
    ndarray of float32, shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> decode_audio((np.zeros(800, dtype=np.float32), 8000), sr=16000).shape
    (1600,)
    """
    if isinstance(cell, tuple):
        if len(cell) != 2 or not np.isscalar(cell[1]):
            raise CellError("an audio tuple must be (waveform, sample_rate)")
        orig_sr = cell[1]
        if not (isinstance(orig_sr, (int, np.integer, float, np.floating))
                and np.isfinite(orig_sr) and orig_sr >= 1):
            raise CellError(f"sample rate must be a positive number of Hz (>= 1), got {orig_sr!r}")
        y = _to_float_waveform(cell[0])
        orig_sr = int(orig_sr)
    elif isinstance(cell, np.ndarray):
        y, orig_sr = _to_float_waveform(cell), sr
    elif isinstance(cell, (str, os.PathLike, bytes, bytearray, memoryview)):
        import soundfile

        if isinstance(cell, (bytes, bytearray, memoryview)):
            if len(cell) == 0:
                raise CellError("empty bytes, expected an encoded audio file")
            source = io.BytesIO(bytes(cell))
        else:
            source = read_file_path(cell, "audio")
        try:
            data, orig_sr = soundfile.read(source, dtype="float32", always_2d=True)
        except Exception as exc:
            raise CellError(
                f"not a readable audio file ({type(exc).__name__}: {exc}); formats are those "
                "of libsndfile (WAV, FLAC, OGG, MP3 with libsndfile >= 1.1)"
            ) from exc
        y = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    else:
        raise CellError(
            "expected a path, bytes, 1-D array or (waveform, sample_rate) tuple for audio, "
            f"got {type(cell).__name__}"
        )
    if y.size == 0:
        raise CellError("zero-length audio")
    if not np.all(np.isfinite(y)):
        raise CellError("audio contains NaN or inf samples")
    out = resample(y, orig_sr, sr)
    if out.size == 0:
        raise CellError(
            f"audio of {y.size} sample(s) at {orig_sr} Hz is shorter than one sample at {sr} Hz"
        )
    if out is not y and not np.all(np.isfinite(out)):
        raise CellError(
            f"resampling from {orig_sr} Hz to {sr} Hz overflowed float32 (the waveform peaks "
            f"at {float(np.max(np.abs(y))):.3g}; float audio is expected within [-1, 1])"
        )
    return np.ascontiguousarray(out, dtype=np.float32)
