"""ImagePixels and ImageColorHistogram, and what every image extractor shares; see
:mod:`skmm.image`."""

import numpy as np

from .._base import BaseExtractor
from .._docs import EXTRACTOR_PARAMS, fill_doc, join_docs
from .._naming import bin_names, pixel_names
from .._validation import Integer, Options, Satisfies
from ._decode import DEFAULT_MAX_PIXELS, decode_image

_CHANNEL_NAMES = {"L": ("l",), "RGB": ("r", "g", "b")}


def _as_size(size):
    """``size`` as (height, width) of positive ints (an int means a square), or None."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (size, size)
    ok = (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(Integer(1).is_satisfied_by(s) for s in size)
    )
    return (int(size[0]), int(size[1])) if ok else None


SIZE = Satisfies(lambda s: _as_size(s) is not None,
                 "a positive int or a (height, width) pair of positive ints")
MODE = Options("L", "RGB")
#: The parameters every image extractor ends with ("image_common"), after a batch size
#: of 256 for the two that decode only ("image_params").
_COMMON = join_docs(
    EXTRACTOR_PARAMS["on_error"],
    EXTRACTOR_PARAMS["n_jobs"],
    EXTRACTOR_PARAMS["add_indicator"],
    """max_pixels : int, default=40_000_000
    Larger images are refused before decoding (decompression-bomb guard).""",
    EXTRACTOR_PARAMS["cache"],
    EXTRACTOR_PARAMS["verbose"],
)
IMAGE_PARAMS = {
    "image_common": _COMMON,
    "image_params": join_docs(
        """batch_size : int, default=256
    Images decoded and processed per batch.""",
        _COMMON,
    ),
}


class _ImageExtractor(BaseExtractor):
    """Decodes each cell with the subclass's ``mode``, ``max_pixels`` and decoding size."""

    modality = "image"

    def _decode_size(self):
        return None if self.size is None else _as_size(self.size)

    def _decode_cell(self, cell):
        return decode_image(
            cell, mode=self.mode, size=self._decode_size(), max_pixels=self.max_pixels
        )


@fill_doc(**IMAGE_PARAMS)
class ImagePixels(_ImageExtractor):
    """Decoded, resized images as flattened pixels.

    The input of a CNN branch inside a fusion net, and a classic baseline on its own.

    Parameters
    ----------
    size : int or (height, width), default=(28, 28)
        Every image is resized (bilinear) to this size.
    mode : {"L", "RGB"}, default="L"
        Grey (1 channel) or colour (3 channels); images are converted as Pillow does.
    scale : bool, default=True
        Divide by 255 so that pixels lie in [0, 1]; False keeps 0-255 values.
    {{image_params}}

    Attributes
    ----------
    n_features_out_ : int
        ``C * H * W`` (+1 with the indicator).

    Notes
    -----
    Columns are named ``c{channel}_r{row}_c{column}`` (see :func:`pixel_grid_shape`)
    in channel-major order: ``X.reshape(-1, C, H, W)`` gives the images back. Float
    image cells are quantised to 8 bits by decoding.

    Examples
    --------
    >>> from skmm.datasets import make_multimodal_classification
    >>> X = make_multimodal_classification(n_samples=8, random_state=0).data
    >>> pixels = ImagePixels(size=(8, 8), mode="RGB").fit(X["image"])
    >>> pixels.transform(X["image"]).shape
    (8, 192)
    >>> list(pixels.get_feature_names_out()[:2])
    ['c0_r00_c00', 'c0_r00_c01']
    """

    _parameter_constraints = {"size": [SIZE], "mode": [MODE]}

    def __init__(
        self,
        size=(28, 28),
        mode="L",
        scale=True,
        on_error="raise",
        batch_size=256,
        n_jobs=None,
        add_indicator=False,
        max_pixels=DEFAULT_MAX_PIXELS,
        verbose=False,
        cache=None,
    ):
        self.size = size
        self.mode = mode
        self.scale = scale
        self.on_error = on_error
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.add_indicator = add_indicator
        self.max_pixels = max_pixels
        self.verbose = verbose
        self.cache = cache

    def _extract_batch(self, decoded):
        batch = np.stack(decoded)  # (B, H, W, C) uint8
        out = batch.transpose(0, 3, 1, 2).reshape(len(batch), -1).astype(np.float32)
        if self.scale:
            np.divide(out, np.float32(255), out=out)
        return out

    def _feature_names(self):
        height, width = _as_size(self.size)
        return pixel_names(len(self.mode), height, width)


@fill_doc(**IMAGE_PARAMS)
class ImageColorHistogram(_ImageExtractor):
    """Per-channel intensity histograms, each normalised to sum to 1.

    Parameters
    ----------
    bins : int, default=16
        Equal-width bins over 0-255 per channel (1 to 256); value ``v`` falls in bin
        ``v * bins // 256``.
    mode : {"RGB", "L"}, default="RGB"
        Channels to histogram: red, green, blue, or grey luma.
    size : int, (height, width) or None, default=None
        Resize before counting; None counts every pixel of the image as it is.
    {{image_params}}

    Attributes
    ----------
    n_features_out_ : int
        ``channels * bins`` (+1 with the indicator).

    Notes
    -----
    Columns are named ``{channel}_bin{k}``, channel in ``r, g, b`` or ``l``. A batch is
    counted with one ``numpy.bincount``, whatever its images' sizes.

    Examples
    --------
    >>> from skmm.datasets import make_multimodal_classification
    >>> X = make_multimodal_classification(n_samples=8, random_state=0).data
    >>> hist = ImageColorHistogram(bins=4).fit(X["image"])
    >>> H = hist.transform(X["image"])
    >>> H.shape, float(H[0, :4].sum())
    ((8, 12), 1.0)
    """

    _parameter_constraints = {
        "bins": [Integer(1, 256)],
        "mode": [MODE],
        "size": [None, SIZE],
    }

    def __init__(
        self,
        bins=16,
        mode="RGB",
        size=None,
        on_error="raise",
        batch_size=256,
        n_jobs=None,
        add_indicator=False,
        max_pixels=DEFAULT_MAX_PIXELS,
        verbose=False,
        cache=None,
    ):
        self.bins = bins
        self.mode = mode
        self.size = size
        self.on_error = on_error
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.add_indicator = add_indicator
        self.max_pixels = max_pixels
        self.verbose = verbose
        self.cache = cache

    def _extract_batch(self, decoded):
        bins, channels = int(self.bins), len(self.mode)
        counts = np.array([d.shape[0] * d.shape[1] for d in decoded])
        pixels = np.concatenate([d.reshape(-1, channels) for d in decoded])  # (P, C) uint8
        image = np.repeat(np.arange(len(decoded)), counts)
        slot = (image[:, None] * channels + np.arange(channels)) * bins
        index = slot + (pixels.astype(np.intp) * bins >> 8)
        hist = np.bincount(index.ravel(), minlength=len(decoded) * channels * bins)
        return (hist.reshape(len(decoded), -1) / counts[:, None]).astype(np.float32)

    def _feature_names(self):
        return bin_names(_CHANNEL_NAMES[self.mode], self.bins)
