"""Image extractors: raw pixels, colour histograms and frozen embeddings (built-in CNN,
timm or torchvision model, or any module).

Each takes one column of image cells (paths, encoded bytes, ``PIL.Image`` objects or
arrays, see DESIGN.md section 1), decodes it in threads with
:func:`skmm.image.decode_image` and returns one float32 row per image.

Pixel column names follow the scheme ``c{channel}_r{row}_c{column}`` (row and
column zero-padded to a common width, e.g. ``c0_r05_c12``), in channel-major order,
so ``X.reshape(-1, C, H, W)`` recovers the images; :func:`pixel_grid_shape` reads
``(C, H, W)`` back from the names.
"""

from .._naming import pixel_grid_shape, pixel_names
from ._decode import decode_image
from ._embedder import ImageEmbedder
from ._extractors import ImageColorHistogram, ImagePixels

__all__ = [
    "ImageColorHistogram", "ImageEmbedder", "ImagePixels", "decode_image", "pixel_grid_shape",
    "pixel_names",
]
