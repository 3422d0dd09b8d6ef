"""Decoding one image cell (path, bytes, PIL image or array) into uint8 pixels with Pillow."""

import io
import os
import warnings

import numpy as np

from .._column import CellError, read_file_path

#: Images with more pixels than this are refused before decoding (decompression-bomb guard).
DEFAULT_MAX_PIXELS = 40_000_000


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
            else read_file_path(cell, "image")
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
