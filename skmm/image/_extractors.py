"""ImagePixels, ImageColorHistogram and ImageEmbedder; see :mod:`skmm.image`."""

import warnings

import numpy as np

from .._base import BaseExtractor
from .._docs import EXTRACTOR_PARAMS, fill_doc, join_docs
from .._naming import bin_names, indexed_names, pixel_names
from .._validation import (
    DEVICE_CONSTRAINT, PRECISIONS, Integer, Options, Satisfies, resolve_device, resolve_precision,
)
from ..exceptions import InvalidInputError
from ._decode import DEFAULT_MAX_PIXELS, decode_image

_CHANNEL_NAMES = {"L": ("l",), "RGB": ("r", "g", "b")}
#: Global poolings of ImageEmbedder's feature map (see ``_backbones.EmbeddingNet``).
POOLINGS = ("avg", "max")


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


@fill_doc(**IMAGE_PARAMS)
class ImageEmbedder(_ImageExtractor):
    """Frozen CNN embeddings: a convolutional trunk followed by global pooling.

    Parameters
    ----------
    backbone : str or torch.nn.Module, default="simple-cnn"
        ``"simple-cnn"`` (built in, torch only: three conv-BN-ReLU blocks of 32, 64
        and 128 channels, 128 features, initialised from a fixed seed so that its
        embeddings are reproducible without weights); the name of a torchvision
        classification model (``"resnet18"``, ``"mobilenet_v3_small"``,
        ``"efficientnet_b0"``, ...; needs ``pip install 'skmm[vision]'``), whose
        classifier head is dropped; or your own ``nn.Module`` mapping a float batch
        ``(B, C, H, W)`` in [0, 1] to ``(B, D, h, w)`` (pooled) or ``(B, D)`` (used as
        is). A module is deep-copied in ``fit`` (your object is neither moved nor
        switched to eval mode) and pickled with the estimator, as any parameter.
    weights : None or path, default=None
        A state dict file (``torch.save(network.state_dict(), path)``), loaded with
        ``torch.load(weights_only=True)``: for simple-cnn the state dict of
        ``ImageEmbedder().fit(X).model_.trunk``, for torchvision names that of the
        whole model (``torchvision.models.get_model(name).state_dict()``). None means
        the seeded initialisation (simple-cnn) or torchvision's pretrained default
        (downloaded by torchvision into its cache). Must be None for a module.
    size : int, (height, width) or None, default=None
        Images are resized to this size. None: 32x32 for simple-cnn, 224x224 otherwise.
    mode : {"RGB", "L"}, default="RGB"
        Input channels; torchvision backbones need "RGB" (grey images are repeated).
    pooling : {"avg", "max"}, default="avg"
        Global pooling of the feature map.
    batch_size : int, default=64
        Images embedded per forward pass.
    device : str, default="auto"
        "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:1", "mps".
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        "auto" runs under bfloat16 autocast on CUDA devices that support it and in
        float32 elsewhere. The output is float32 either way.
    {{image_common}}

    Attributes
    ----------
    model_ : EmbeddingNet
        Pixels-to-embedding network in eval mode on ``device_``: ``model_.trunk`` is
        the backbone's trunk. Named backbones are shared with every estimator of the
        same (backbone, weights file, mode, device) in the process, so a grid search
        loads them once. Never pickled: rebuilt from the parameters on first use.
    device_ : str
    precision_ : str
        "float32", "bfloat16" or "float16".
    size_ : (int, int)
    embedding_dim_ : int
    n_features_out_ : int

    Notes
    -----
    Per batch, images are decoded in threads, stacked as uint8, moved to the device
    once and converted there (scaled to [0, 1], and normalised with the ImageNet mean
    and standard deviation for torchvision backbones); the trunk runs in eval mode
    under ``torch.inference_mode`` (BatchNorm statistics never move), channels-last
    (and in bfloat16 autocast with precision="auto") on CUDA.

    Examples
    --------
    >>> from skmm.datasets import make_multimodal_classification
    >>> X = make_multimodal_classification(n_samples=8, random_state=0).data
    >>> emb = ImageEmbedder(device="cpu").fit(X["image"])
    >>> emb.transform(X["image"]).shape
    (8, 128)
    """

    _parameter_constraints = {
        "size": [None, SIZE],
        "mode": [MODE],
        "pooling": [Options(*POOLINGS)],
        "backbone": [Satisfies(
            lambda b: isinstance(b, str) or hasattr(b, "state_dict"),
            "'simple-cnn', a torchvision model name (e.g. 'resnet18') or a torch.nn.Module",
        )],
        "device": [DEVICE_CONSTRAINT],
        "precision": [None, Options(*PRECISIONS)],
    }

    def __init__(
        self,
        backbone="simple-cnn",
        weights=None,
        size=None,
        mode="RGB",
        pooling="avg",
        batch_size=64,
        device="auto",
        precision="auto",
        on_error="raise",
        n_jobs=None,
        add_indicator=False,
        max_pixels=DEFAULT_MAX_PIXELS,
        verbose=False,
        cache=None,
    ):
        self.backbone = backbone
        self.weights = weights
        self.size = size
        self.mode = mode
        self.pooling = pooling
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.on_error = on_error
        self.n_jobs = n_jobs
        self.add_indicator = add_indicator
        self.max_pixels = max_pixels
        self.verbose = verbose
        self.cache = cache

    def _validate_rules(self):
        if self.weights is not None and not isinstance(self.backbone, str):
            raise InvalidInputError(
                "weights applies to named backbones; with an nn.Module backbone, load the "
                "state dict into the module yourself (module.load_state_dict(...)) and keep "
                "weights=None."
            )

    def _prepare_fit(self):
        # the model is loaded last in fit, once every parameter is valid
        self._load_model(fitting=True)

    def _load_model(self, fitting=False):
        from . import _backbones  # imports torch

        device = resolve_device(self.device)
        dtype = resolve_precision(self.precision, device)
        channels = len(self.mode)
        if isinstance(self.backbone, str):
            trunk, mean, std = _backbones.get_trunk(self.backbone, self.weights, channels, device)
            fingerprint = (
                None if self.weights is None else _backbones.weights_fingerprint(self.weights)[1:]
            )
            if not fitting and fingerprint != getattr(self, "weights_fingerprint_", fingerprint):
                warnings.warn(
                    f"ImageEmbedder: weights file '{self.weights}' changed since fit "
                    "(modification time or size differ); embeddings come from the new file.",
                    UserWarning,
                    stacklevel=4,
                )
        else:
            trunk, mean, std, fingerprint = (
                _backbones.user_trunk(self.backbone, device), None, None, None
            )
        model = _backbones.embedding_net(trunk, mean, std, self.pooling, channels, device)
        if fitting:
            default = (32, 32) if self.backbone == "simple-cnn" else (224, 224)
            self.size_ = default if self.size is None else _as_size(self.size)
            self.weights_fingerprint_ = fingerprint
            probe = np.zeros((1, *self.size_, channels), dtype=np.uint8)
            try:
                self.embedding_dim_ = int(_backbones.embed(model, probe, device, dtype).shape[1])
            except RuntimeError as exc:
                raise InvalidInputError(
                    f"the backbone fails on a batch of shape (1, {channels}, {self.size_[0]}, "
                    f"{self.size_[1]}) ({exc}); choose a size and mode it accepts."
                ) from exc
        self.device_ = device
        self.precision_ = str(dtype).replace("torch.", "") if dtype is not None else "float32"
        self._autocast_dtype = dtype
        self.model_ = model
        return model

    def _decode_size(self):
        return self.size_

    def _extract_batch(self, decoded):
        from ._backbones import embed

        model = self.__dict__.get("model_")
        if model is None:
            model = self._load_model()
        return embed(model, np.stack(decoded), self.device_, self._autocast_dtype)

    def _feature_names(self):
        return indexed_names("emb", self.embedding_dim_)

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("model_", None)
        state.pop("_autocast_dtype", None)
        return state
