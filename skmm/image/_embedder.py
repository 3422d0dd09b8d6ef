"""ImageEmbedder: frozen embeddings of a built-in CNN, a timm or torchvision model, or a module.

The backbones themselves are :mod:`skmm.image._backbones` (simple-cnn, weights files, the
shared cache, the pixels-to-embedding network) and :mod:`skmm.image._library_backbones`
(timm and torchvision models less their classifier); both import torch and are imported
lazily.
"""

import os
import warnings

import numpy as np

from .._docs import fill_doc
from .._naming import indexed_names
from .._quiet import quiet_libraries
from .._validation import (
    DEVICE_CONSTRAINT, PRECISIONS, InstanceOf, Options, Satisfies, resolve_device,
    resolve_precision,
)
from ..exceptions import InvalidInputError
from ._decode import DEFAULT_MAX_PIXELS
from ._extractors import IMAGE_PARAMS, MODE, SIZE, _as_size, _ImageExtractor

#: Global poolings of ImageEmbedder: None, the model's own; else over the feature map
#: (see ``_backbones.EmbeddingNet`` and ``_library_backbones``).
POOLINGS = (None, "avg", "max")


def _is_kwargs(kwargs):
    return isinstance(kwargs, dict) and all(isinstance(k, str) for k in kwargs)


@fill_doc(**IMAGE_PARAMS)
class ImageEmbedder(_ImageExtractor):
    """Frozen image embeddings: a backbone's pooled features, its classifier removed.

    Parameters
    ----------
    backbone : str or torch.nn.Module, default="simple-cnn"
        ``"simple-cnn"`` (built in, torch only: three conv-BN-ReLU blocks of 32, 64
        and 128 channels, 128 features, initialised from a fixed seed so that its
        embeddings are reproducible without weights); the name of a timm model
        (``"resnet18"``, ``"convnext_tiny"``, ``"vit_small_patch16_224"``,
        ``"resnet50.a1_in1k"``, any of ``timm.list_models()``) or of a torchvision
        classification model (``"resnet18"``, ``"swin_t"``, ``"vit_b_16"``,
        ``"regnet_y_400mf"``, ``"shufflenet_v2_x1_0"``, ...); both need ``pip install
        'skmm[vision]'``. A bare name goes to timm when timm is installed and knows it,
        else to torchvision; ``"timm:name"`` or ``"torchvision:name"`` chooses. A named
        model keeps its own forward pass less its classifier, so it pools as it was
        trained (average for CNNs, the class token for ViT) and its embedding is its
        pre-logits width (timm's ``num_features``, or ``head_hidden_size`` for heads
        with a hidden layer; e.g. 512 for resnet18, 768 for swin_t). Or your own
        ``nn.Module`` mapping a float batch ``(B, C, H, W)`` in [0, 1] to ``(B, D, h,
        w)`` (pooled) or ``(B, D)`` (used as is). A module is deep-copied in ``fit``
        (your object is neither moved nor switched to eval mode) and pickled with the
        estimator, as any parameter.
    weights : {"default", "pretrained"}, None or path, default="default"
        "default": the model's pretrained weights for timm and torchvision names, the
        seeded initialisation for simple-cnn (which has none). "pretrained": the
        pretrained weights, refused for simple-cnn. None: a random initialisation
        (drawn from a fixed seed, so repeatable), as ``weights=None`` means in
        torchvision and ``pretrained=False`` in timm. A path: a state dict file
        (``torch.save(network.state_dict(), path)``) loaded with
        ``torch.load(weights_only=True)`` into a randomly initialised model: for
        simple-cnn the state dict of ``ImageEmbedder().fit(X).model_.trunk``, for
        named models that of the whole model (``timm.create_model(name).state_dict()``,
        ``torchvision.models.get_model(name).state_dict()``). A module is used as it
        is: keep "default". In the libraries' own spelling, "default" is torchvision's
        ``weights="DEFAULT"`` and timm's ``pretrained=True``; a file is timm's
        ``pretrained_cfg_overlay=dict(file=path)`` (which ``backbone_kwargs`` also
        takes). Pretrained weights are downloaded once into torch's hub folder
        (torchvision; ``torch.hub.get_dir()``) or the Hugging Face cache (timm); when
        that fails (no network), fit raises an InvalidInputError naming the model and
        the cache folder. Before skmm 0.2, None meant torchvision's pretrained default.
    size : int, (height, width) or None, default=None
        Images are resized to this size. None: the model's own input size (timm's data
        config, torchvision's crop size; 224x224 for most), 32x32 for simple-cnn,
        224x224 for a module.
    mode : {"RGB", "L"}, default="RGB"
        Input channels; named backbones need "RGB" (grey images are repeated).
    pooling : {None, "avg", "max"}, default=None
        Global pooling. None: the model's own (timm's ``global_pool``, torchvision's
        forward pass; average over the feature map of simple-cnn and modules). "avg"
        or "max": over the feature map, for simple-cnn, modules, timm models (as
        ``reset_classifier(0, global_pool=pooling)``) and torchvision models with a
        global average pooling layer.
    batch_size : int, default=64
        Images embedded per forward pass.
    device : str, default="auto"
        "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:1", "mps".
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        "auto" runs under bfloat16 autocast on CUDA devices that support it and in
        float32 elsewhere. The output is float32 either way.
    {{image_common}}
    backbone_kwargs : dict or None, default=None
        Keyword arguments of ``timm.create_model`` or ``torchvision.models.get_model``
        for a named backbone, e.g. ``{"img_size": 64}`` for a timm ViT at 64 px.

    Attributes
    ----------
    model_ : EmbeddingNet
        Pixels-to-embedding network in eval mode on ``device_``: ``model_.trunk`` is
        the backbone's trunk. Named backbones are shared with every estimator of the
        same (backbone, weights, mode, device, and pooling and backbone_kwargs for
        library models) in the process, so a grid search loads them once. Never
        pickled: rebuilt from the parameters on first use.
    device_ : str
    precision_ : str
        "float32", "bfloat16" or "float16".
    size_ : (int, int)
    embedding_dim_ : int
    n_features_out_ : int

    Notes
    -----
    Per batch, images are decoded in threads, stacked as uint8, moved to the device
    once and converted there (scaled to [0, 1], and normalised with the model's own
    mean and standard deviation for named backbones: timm's data config, the
    torchvision weights' transforms); the trunk runs in eval mode
    under ``torch.inference_mode`` (BatchNorm statistics never move), channels-last
    (and in bfloat16 autocast with precision="auto") on CUDA.

    Examples
    --------
    >>> from skmm.datasets import make_multimodal_classification
    >>> X = make_multimodal_classification(n_samples=8, random_state=0).data
    >>> emb = ImageEmbedder(device="cpu").fit(X["image"])
    >>> emb.transform(X["image"]).shape
    (8, 128)

    With ``pip install 'skmm[vision]'``, ``ImageEmbedder("convnext_tiny")`` embeds with
    timm's pretrained ConvNeXt (768 features), downloaded on first use.
    """

    _parameter_constraints = {
        "size": [None, SIZE],
        "mode": [MODE],
        "pooling": [Options(*POOLINGS)],
        "backbone": [Satisfies(
            lambda b: isinstance(b, str) or hasattr(b, "state_dict"),
            "'simple-cnn', a timm or torchvision model name (e.g. 'resnet18') or a "
            "torch.nn.Module",
        )],
        "weights": (
            [None, InstanceOf(str, os.PathLike, description=(
                "'default', 'pretrained' or the path of a state dict file"))],
            "None is a random initialisation.",
        ),
        "backbone_kwargs": (
            [None, Satisfies(_is_kwargs, "a dict of keyword arguments")],
            "E.g. backbone_kwargs={'img_size': 64} for a timm ViT at 64 px.",
        ),
        "device": [DEVICE_CONSTRAINT],
        "precision": [None, Options(*PRECISIONS)],
    }

    def __init__(
        self,
        backbone="simple-cnn",
        weights="default",
        size=None,
        mode="RGB",
        pooling=None,
        batch_size=64,
        device="auto",
        precision="auto",
        on_error="raise",
        n_jobs=None,
        add_indicator=False,
        max_pixels=DEFAULT_MAX_PIXELS,
        verbose=False,
        cache=None,
        backbone_kwargs=None,
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
        self.backbone_kwargs = backbone_kwargs

    def _validate_rules(self):
        weights = self.weights
        if not isinstance(self.backbone, str) and weights != "default":
            raise InvalidInputError(
                "weights applies to named backbones; with an nn.Module backbone, load the "
                "state dict into the module yourself (module.load_state_dict(...)) and keep "
                f"weights='default', got weights={weights!r}."
            )
        if self.backbone == "simple-cnn" and weights == "pretrained":
            raise InvalidInputError(
                "backbone='simple-cnn' has no pretrained weights: use weights='default' (its "
                "seeded initialisation), a state dict file, or a pretrained timm or "
                "torchvision backbone such as 'resnet18'."
            )
        named = isinstance(self.backbone, str) and self.backbone != "simple-cnn"
        if self.backbone_kwargs and not named:
            raise InvalidInputError(
                "backbone_kwargs applies to timm and torchvision backbones (the keyword "
                "arguments of timm.create_model / torchvision.models.get_model)."
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
            from ._library_backbones import is_weights_file

            # a timm or torchvision model may download its weights: no bar unless verbose
            with quiet_libraries(not self.verbose, imports=("huggingface_hub",)):
                trunk, mean, std, default_size = _backbones.get_trunk(
                    self.backbone, self.weights, channels, device, self.pooling,
                    self.backbone_kwargs,
                )
            fingerprint = (
                _backbones.weights_fingerprint(self.weights)[1:]
                if is_weights_file(self.weights) else None
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
            default_size = (224, 224)
        model = _backbones.embedding_net(trunk, mean, std, self.pooling, channels, device)
        if fitting:
            self.size_ = default_size if self.size is None else _as_size(self.size)
            self.weights_fingerprint_ = fingerprint
            probe = np.zeros((1, *self.size_, channels), dtype=np.uint8)
            try:
                self.embedding_dim_ = int(_backbones.embed(model, probe, device, dtype).shape[1])
            except (RuntimeError, ValueError, AssertionError) as exc:
                raise InvalidInputError(
                    f"the backbone fails on a batch of shape (1, {channels}, {self.size_[0]}, "
                    f"{self.size_[1]}) ({type(exc).__name__}: {exc}); choose a size and mode it "
                    "accepts (a timm ViT takes other sizes with backbone_kwargs={'img_size': "
                    "size})."
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
