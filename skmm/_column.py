"""Decoding the cells of one column: images, audio and text, with per-row errors.

Every extractor goes through this module, so the data contract of DESIGN.md
section 1 is implemented (and tested) once: which inputs a column may be, what
counts as a missing cell, how each modality's cells are decoded, and how bad
cells are reported (all of them at once, with row, path and cause).
"""

import io
import math
import os
import warnings

import numpy as np

from .exceptions import InvalidInputError

ON_ERROR_CHOICES = ("raise", "warn", "ignore")
#: Images with more pixels than this are refused before decoding (decompression-bomb guard).
DEFAULT_MAX_PIXELS = 40_000_000
_MAX_LISTED_ROWS = 20


class CellError(Exception):
    """Raised by a decoder for one bad cell; turned into a row of an InvalidInputError."""


# --------------------------------------------------------------------------- intake


def column_cells(X, what="column"):
    """Return the cells of a single column as a list, plus the row labels.

    Parameters
    ----------
    X : pandas.Series, (n, 1) pandas.DataFrame, list, tuple, 1-D array, (n, 1) array,
        or an array of shape (n, ...) whose rows are the cells (a stack of images
        or of equal-length waveforms).
    what : str
        How the caller names the column, used in error messages.

    Returns
    -------
    cells : list, length n
    labels : list or None
        The pandas index labels when X carries a non-default index, else None.
    """
    labels = None
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a hard dependency
        pd = None
    if pd is not None and isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise InvalidInputError(
                f"Expected one {what} (a DataFrame with exactly 1 column), got "
                f"{X.shape[1]} columns {list(X.columns)[:10]}. Select one column, e.g. "
                "ColumnTransformer([('audio', AudioLogMel(), 'audio')]) with the column "
                "name as a string, not a list."
            )
        X = X.iloc[:, 0]
    if pd is not None and isinstance(X, pd.Series):
        if not isinstance(X.index, pd.RangeIndex) or X.index.start != 0 or X.index.step != 1:
            labels = list(X.index)
        return list(X.array), labels
    if isinstance(X, (str, bytes, os.PathLike)):
        raise InvalidInputError(
            f"Expected a {what} of cells (a list, Series or 1-D array), got a single "
            f"{type(X).__name__}. Wrap it in a list: [x]."
        )
    if isinstance(X, np.ndarray):
        if X.ndim == 0:
            raise InvalidInputError(f"Expected a {what} of cells, got a 0-d array.")
        if X.ndim == 2 and X.shape[1] == 1:
            return list(X[:, 0]), None
        if X.ndim == 2 and X.dtype == object:
            raise InvalidInputError(
                f"Expected one {what} (shape (n,) or (n, 1)), got an object array of shape "
                f"{X.shape}. Select a single column."
            )
        return list(X), None
    if isinstance(X, (list, tuple)):
        return list(X), None
    if hasattr(X, "__array__") or hasattr(X, "__iter__"):
        return list(X), None
    raise InvalidInputError(
        f"Expected a {what} of cells (list, pandas Series, 1-D array), got {type(X).__name__}."
    )


def is_missing(cell):
    """True for ``None``, float NaN, ``pandas.NA`` and ``pandas.NaT``: an absent modality."""
    if cell is None:
        return True
    if isinstance(cell, float):
        return math.isnan(cell)
    if isinstance(cell, (np.floating,)):
        return bool(np.isnan(cell))
    try:
        import pandas as pd

        return cell is pd.NA or cell is pd.NaT
    except ImportError:  # pragma: no cover
        return False


def missing_mask(cells):
    """Boolean array, True where a cell is missing."""
    return np.fromiter((is_missing(c) for c in cells), dtype=bool, count=len(cells))


def describe_cell(cell):
    """Short description of a cell for error messages: its path, or its type and size."""
    if isinstance(cell, (str, os.PathLike)):
        return f"path '{os.fspath(cell)}'"
    if isinstance(cell, (bytes, bytearray, memoryview)):
        return f"{len(cell)} bytes"
    if isinstance(cell, np.ndarray):
        return f"array shape {cell.shape} dtype {cell.dtype}"
    if isinstance(cell, tuple):
        return f"tuple of {len(cell)}"
    return type(cell).__name__


def row_reference(position, labels=None):
    """'row 3' or "row 3 (index 'a')" when the caller's index differs from positions."""
    if labels is not None:
        return f"row {position} (index {labels[position]!r})"
    return f"row {position}"


def report_cell_errors(errors, on_error, what, labels=None):
    """Raise, warn about or ignore the bad cells collected by a decoder.

    Parameters
    ----------
    errors : list of (position, cell, cause)
    on_error : {"raise", "warn", "ignore"}
    what : str
        The extractor or modality, for the message (e.g. ``"AudioLogMel"``).
    labels : list or None
        Row labels of the input (see :func:`column_cells`).
    """
    if not errors:
        return
    errors = sorted(errors, key=lambda e: e[0])
    lines = [
        f"  {row_reference(pos, labels)}, {describe_cell(cell)}: {cause}"
        for pos, cell, cause in errors[:_MAX_LISTED_ROWS]
    ]
    if len(errors) > _MAX_LISTED_ROWS:
        lines.append(f"  ... and {len(errors) - _MAX_LISTED_ROWS} more")
    rows = [int(e[0]) for e in errors]
    if on_error == "raise":
        raise InvalidInputError(
            f"{what}: {len(errors)} bad cell(s) could not be decoded:\n"
            + "\n".join(lines)
            + "\nFix or remove these cells, or pass on_error='warn' (or 'ignore') to treat "
            "them as missing (filled and flagged; no row is dropped).",
            rows=rows,
        )
    if on_error == "warn":
        warnings.warn(
            f"{what}: {len(errors)} bad cell(s) treated as missing (rows {rows[:50]}):\n"
            + "\n".join(lines),
            UserWarning,
            stacklevel=3,
        )


def check_on_error(on_error):
    if on_error not in ON_ERROR_CHOICES:
        raise InvalidInputError(
            f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}."
        )


def _read_path(cell, kind):
    path = os.fspath(cell)
    if not os.path.exists(path):
        raise CellError(f"file not found; check the path (working directory is '{os.getcwd()}')")
    if os.path.isdir(path):
        raise CellError(f"is a directory, expected a {kind} file")
    if os.path.getsize(path) == 0:
        raise CellError(f"file is empty (0 bytes), expected a {kind} file")
    return path


# --------------------------------------------------------------------------- images


def _image_mode_array(arr, mode):
    """Convert an (H, W, C) uint8 array to ``mode`` ('L' or 'RGB'); None keeps it."""
    channels = arr.shape[2]
    if mode is None or (mode == "L" and channels == 1) or (mode == "RGB" and channels == 3):
        return arr
    if channels == 4:  # drop alpha by compositing on black, as PIL's convert does
        arr = arr[:, :, :3]
        channels = 3
    if mode == "RGB":
        return np.repeat(arr, 3, axis=2) if channels == 1 else arr
    # ITU-R 601-2 luma, the transform PIL uses for convert("L")
    luma = arr[:, :, 0] * 0.299 + arr[:, :, 1] * 0.587 + arr[:, :, 2] * 0.114
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[:, :, None]


def _array_to_uint8(arr):
    if arr.size == 0:
        raise CellError(f"empty image array of shape {arr.shape}")
    if arr.ndim == 3 and arr.shape[2] not in (1, 3, 4):
        raise CellError(
            f"image array has {arr.shape[2]} channels in the last axis; expected (H, W), "
            "(H, W, 1), (H, W, 3) or (H, W, 4) (channels last)"
        )
    if arr.ndim not in (2, 3):
        raise CellError(f"image array must be (H, W) or (H, W, C), got shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise CellError("image array contains NaN or inf")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise CellError(
                f"float image values must lie in [0, 1], got [{lo:g}, {hi:g}]; divide by 255 "
                "or pass uint8"
            )
        arr = np.rint(arr * 255.0).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.integer):
        if arr.dtype != np.uint8:
            lo, hi = int(arr.min()), int(arr.max())
            if lo < 0 or hi > 255:
                raise CellError(
                    f"integer image values must lie in [0, 255], got [{lo}, {hi}]"
                )
            arr = arr.astype(np.uint8)
    else:
        raise CellError(f"unsupported image array dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr)


def decode_image(cell, mode="RGB", size=None, max_pixels=DEFAULT_MAX_PIXELS):
    """Decode one image cell into a uint8 array of shape (H, W, C).

    Parameters
    ----------
    cell : str, os.PathLike, bytes, PIL.Image.Image or ndarray
        A path or raw encoded bytes (any format Pillow reads), a PIL image, or an
        array (H, W) / (H, W, C) of uint8 0-255 or floats in [0, 1].
    mode : {"RGB", "L"} or None
        Colour mode of the result (C = 3 or 1). None keeps the cell's channels.
    size : (height, width) or None
        Resize to this size (bilinear) when given.
    max_pixels : int
        Images with more pixels are refused before their pixels are decoded.

    Returns
    -------
    ndarray of uint8, shape (H, W, C)

    Raises
    ------
    CellError
        With a cause a person can act on; callers turn it into InvalidInputError.

    Examples
    --------
    >>> import numpy as np
    >>> decode_image(np.zeros((4, 5), dtype=np.uint8), mode="RGB").shape
    (4, 5, 3)
    """
    from PIL import Image

    if isinstance(cell, np.ndarray):
        arr = _array_to_uint8(cell)
        if arr.shape[0] * arr.shape[1] > max_pixels:
            raise CellError(
                f"image of {arr.shape[1]}x{arr.shape[0]} pixels exceeds max_pixels={max_pixels}"
            )
        target = tuple(size) if size is not None else arr.shape[:2]
        if arr.shape[:2] == target:
            return _image_mode_array(arr, mode)
        image = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    elif isinstance(cell, Image.Image):
        image = cell
    elif isinstance(cell, (str, os.PathLike, bytes, bytearray, memoryview)):
        source = (
            io.BytesIO(bytes(cell))
            if isinstance(cell, (bytes, bytearray, memoryview))
            else _read_path(cell, "image")
        )
        if isinstance(source, io.BytesIO) and source.getbuffer().nbytes == 0:
            raise CellError("empty bytes, expected an encoded image")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(source)
        except Exception as exc:  # Pillow raises several unrelated types
            raise CellError(f"not a readable image ({type(exc).__name__}: {exc})") from exc
    else:
        raise CellError(
            f"expected a path, bytes, PIL.Image or ndarray for an image, got {type(cell).__name__}"
        )
    width, height = image.size
    if width * height > max_pixels:
        raise CellError(
            f"image of {width}x{height} pixels exceeds max_pixels={max_pixels} (a guard against "
            "decompression bombs); raise max_pixels if the image is genuine"
        )
    if width == 0 or height == 0:
        raise CellError(f"image has zero size {width}x{height}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
            if mode is not None and image.mode != mode:
                if image.mode in ("RGBA", "LA", "PA") or (
                    image.mode == "P" and "transparency" in image.info
                ):
                    image = image.convert("RGBA")
                    background = Image.new("RGBA", image.size, (0, 0, 0, 255))
                    image = Image.alpha_composite(background, image)
                image = image.convert(mode)
            elif mode is None and image.mode not in ("L", "RGB", "RGBA"):
                image = image.convert("RGB")
            if size is not None and (image.size[1], image.size[0]) != tuple(size):
                image = image.resize((size[1], size[0]), Image.BILINEAR)
    except Exception as exc:
        raise CellError(
            f"image could not be decoded ({type(exc).__name__}: {exc}); is the file truncated?"
        ) from exc
    arr = np.asarray(image, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr)


# --------------------------------------------------------------------------- audio


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
            source = _read_path(cell, "audio")
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


# --------------------------------------------------------------------------- text


def decode_text(cell):
    """Validate one text cell: ``str`` (or UTF-8 ``bytes``) -> ``str``.

    Examples
    --------
    >>> decode_text(b"caf\\xc3\\xa9")
    'café'
    """
    if isinstance(cell, str):
        return cell
    if isinstance(cell, (bytes, bytearray)):
        try:
            return bytes(cell).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CellError(f"bytes are not valid UTF-8 ({exc}); decode them to str first") from exc
    if isinstance(cell, np.str_):
        return str(cell)
    raise CellError(f"expected a str for text, got {type(cell).__name__}")
