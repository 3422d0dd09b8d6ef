"""Backbones from the libraries made for them: timm and torchvision, for ImageEmbedder.

A named backbone becomes an ``nn.Module`` mapping a normalised float batch
``(B, 3, H, W)`` to pooled embeddings ``(B, D)`` through the model's *own* forward
pass, with only its classifier removed, so that each family pools as it was trained
(average for CNNs, the class token for ViT, layer-normed channels-last average for
Swin) and no walker over attribute names decides where a trunk ends:

* timm: ``timm.create_model(name, pretrained=..., **kwargs)``, then
  ``reset_classifier(0)`` (pre-logits features, ``num_features`` wide); the input
  normalisation and default size come from ``timm.data.resolve_model_data_config``.
* torchvision: ``torchvision.models.get_model(name, weights="DEFAULT" | None)``, then
  its final classifier layer (the last ``nn.Linear``; SqueezeNet's final 1x1
  convolution) is replaced with ``nn.Identity``; mean, std and crop size come from
  the weights' own transforms (ImageNet's and 224 px otherwise).

Bare names go to timm when it is installed and knows the name, else to torchvision;
``"timm:name"`` and ``"torchvision:name"`` choose explicitly. This module imports
torch at import time; import it lazily.
"""

import contextlib
import importlib
import os

import torch
from torch import nn

from .._deps import import_optional
from .._quiet import libraries_quiet
from ..exceptions import InvalidInputError, MissingDependencyError
from ._backbones import IMAGENET_MEAN, IMAGENET_STD

#: ``weights=`` keywords; anything else but None is a state dict file.
WEIGHT_KEYWORDS = ("default", "pretrained")
#: Seed of random initialisations (``weights=None``), so that embeddings are repeatable.
INIT_SEED = 0
_PREFIXES = ("timm", "torchvision")
_DOWNLOAD_MODULES = ("huggingface_hub", "httpx", "httpx2", "httpcore", "requests", "urllib3")


def is_weights_file(weights):
    """Whether ``weights`` names a state dict file (neither None nor a keyword)."""
    return weights is not None and not (isinstance(weights, str) and weights in WEIGHT_KEYWORDS)


def wants_pretrained(weights):
    return isinstance(weights, str) and weights in WEIGHT_KEYWORDS


def import_library(module, purpose):
    """Import timm or torchvision; an installed but broken one is a MissingDependencyError too.

    torchvision wheels are built for one torch release: beside another one, importing
    them fails with a RuntimeError or OSError rather than an ImportError.
    """
    try:
        return import_optional(module, "vision", purpose=purpose)
    except MissingDependencyError:
        raise
    except Exception as exc:
        raise MissingDependencyError(
            f"{module!r} is installed but fails to import for {purpose} ({type(exc).__name__}: "
            f"{exc}); torchvision (which timm needs) must be the build made for the installed "
            f"torch {torch.__version__}. Reinstall them together, e.g. pip install "
            "'skmm[vision]' torch torchvision --upgrade."
        ) from exc


def _try_import(module):
    try:
        return importlib.import_module(module)
    except Exception:  # absent, or built for another torch: the other library may do
        return None


def resolve_name(name):
    """(library, model name) for ``name``: ``"timm:..."``, ``"torchvision:..."`` or bare."""
    library, sep, model = name.partition(":")
    if sep and library in _PREFIXES:
        return library, model
    timm = _try_import("timm")
    if timm is not None and timm.is_model(name):
        return "timm", name
    tv = _try_import("torchvision")
    if tv is not None and name in tv.models.list_models(module=tv.models):
        return "torchvision", name
    if timm is None and tv is None:
        import_library("timm", f"ImageEmbedder(backbone={name!r})")  # raises, with the cause
    known = []
    if timm is not None:
        known.append("timm.list_models() (e.g. 'resnet18', 'convnext_tiny', "
                     "'vit_small_patch16_224')")
    if tv is not None:
        known.append("torchvision.models.list_models() (e.g. 'resnet18', 'swin_t')")
    raise InvalidInputError(
        f"backbone={name!r} is neither built in ('simple-cnn') nor a model of "
        f"{' or '.join(known)}; pass one of those names or an nn.Module."
    )


@contextlib.contextmanager
def seeded():
    """Fix torch's CPU generator for a random initialisation, restoring it after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        yield


def _is_download_error(exc):
    root = type(exc).__module__.split(".")[0]
    return isinstance(exc, OSError) or root in _DOWNLOAD_MODULES


def offline_error(name, library, exc):
    """The InvalidInputError of a failed weights download, saying where they are cached."""
    if library == "timm":
        try:
            from huggingface_hub import constants

            cache = f"the Hugging Face cache ({constants.HF_HUB_CACHE})"
        except Exception:  # pragma: no cover - timm always has huggingface_hub
            cache = "the Hugging Face cache (~/.cache/huggingface/hub)"
        cache += f" or torch's hub folder ({torch.hub.get_dir()})"
    else:
        cache = f"torch's hub folder ({os.path.join(torch.hub.get_dir(), 'checkpoints')})"
    return InvalidInputError(
        f"the pretrained weights of backbone {name!r} ({library}) could not be downloaded "
        f"({type(exc).__name__}: {exc}). {library} keeps downloaded weights in {cache}: copy "
        "them there from a machine with network access, or save the model's state dict "
        "(torch.save(model.state_dict(), path)) and pass weights='/path/to/file.pth' (loaded "
        "with weights_only=True), or weights=None for a random initialisation."
        + (" HF_HUB_OFFLINE=1 skips the network retries." if library == "timm" else "")
    )


@contextlib.contextmanager
def _downloads(name, library, pretrained):
    try:
        yield
    except InvalidInputError:
        raise
    except Exception as exc:
        if pretrained and _is_download_error(exc):
            raise offline_error(name, library, exc) from exc
        raise


def _check_kwargs(name, library, kwargs, exc):
    return InvalidInputError(
        f"{library} could not build backbone {name!r} with backbone_kwargs={kwargs!r} "
        f"({type(exc).__name__}: {exc})."
    )


# --------------------------------------------------------------------------- timm


def _timm_model(name, weights, pooling, kwargs, load_weights):
    timm = import_library("timm", f"ImageEmbedder(backbone={name!r})")
    pretrained = wants_pretrained(weights)
    with _downloads(name, "timm", pretrained), seeded():
        try:
            model = timm.create_model(name, pretrained=pretrained, **kwargs)
        except TypeError as exc:
            raise _check_kwargs(name, "timm", kwargs, exc) from exc
    if is_weights_file(weights):
        load_weights(model, weights, f"timm model {name!r} (timm.create_model({name!r}))")
    try:
        if pooling is None:
            model.reset_classifier(0)
        else:
            model.reset_classifier(0, global_pool=pooling)
    except (AssertionError, ValueError, TypeError, NotImplementedError) as exc:
        raise InvalidInputError(
            f"timm model {name!r} does not take global_pool={pooling!r} ({exc}); use "
            "pooling=None (the model's own pooling)."
        ) from exc
    config = timm.data.resolve_model_data_config(model)
    size = tuple(int(s) for s in config["input_size"][1:])
    img_size = kwargs.get("img_size")
    if img_size is not None:  # e.g. a ViT built for small images
        size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    return model, tuple(config["mean"]), tuple(config["std"]), size


# --------------------------------------------------------------------------- torchvision


def _set_submodule(network, dotted, module):
    parent_name, _, child = dotted.rpartition(".")
    parent = network.get_submodule(parent_name) if parent_name else network
    setattr(parent, child, module)


def _classifier_name(network):
    """The dotted name of a torchvision model's final classifier layer."""
    linear = [n for n, m in network.named_modules() if isinstance(m, nn.Linear)]
    if linear:
        return linear[-1]  # torchvision registers the classifier last, in every family
    convs = [n for n, m in network.named_modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None  # SqueezeNet: a 1x1 convolution to the classes


def _torchvision_pooling(network, name, pooling):
    if pooling is None:
        return
    pool = getattr(network, "avgpool", None)
    global_avg = isinstance(pool, nn.AdaptiveAvgPool2d) and pool.output_size in (1, (1, 1))
    if not global_avg:
        raise InvalidInputError(
            f"torchvision model {name!r} has no global average pooling layer to change; use "
            "pooling=None (the model's own pooling), or the timm model of that name."
        )
    if pooling == "max":
        network.avgpool = nn.AdaptiveMaxPool2d(1)


def _torchvision_preprocessing(tv, name):
    """(mean, std, crop size) of the model's default weights' transforms."""
    mean, std, size = IMAGENET_MEAN, IMAGENET_STD, (224, 224)
    try:
        keywords = dict(getattr(tv.models.get_model_weights(name).DEFAULT.transforms,
                                "keywords", {}))
    except Exception:  # a model without registered weights
        keywords = {}
    crop = keywords.get("crop_size")
    if crop is not None:
        size = (crop, crop) if isinstance(crop, int) else tuple(crop)
    return tuple(keywords.get("mean", mean)), tuple(keywords.get("std", std)), size


def _torchvision_model(name, weights, pooling, kwargs, load_weights):
    tv = import_library("torchvision", f"ImageEmbedder(backbone={name!r})")
    available = tv.models.list_models(module=tv.models)
    if name not in available:
        raise InvalidInputError(
            f"backbone={name!r} is not a torchvision classification model (e.g. "
            f"{sorted(available)[:8]}); see torchvision.models.list_models()."
        )
    pretrained = wants_pretrained(weights)
    with _downloads(name, "torchvision", pretrained), seeded():
        try:
            # no torch.hub download bar while skmm keeps the libraries quiet (verbose=0)
            quiet = pretrained and libraries_quiet() and "progress" not in kwargs
            options = {"progress": False, **kwargs} if quiet else kwargs
            network = tv.models.get_model(name, weights="DEFAULT" if pretrained else None,
                                          **options)
        except TypeError as exc:
            raise _check_kwargs(name, "torchvision", kwargs, exc) from exc
    if is_weights_file(weights):
        load_weights(network, weights, f"torchvision model {name!r} "
                                       f"(torchvision.models.get_model({name!r}))")
    classifier = _classifier_name(network)
    if classifier is None:
        raise InvalidInputError(
            f"torchvision model {name!r} has no final classifier layer skmm can remove; "
            "build the network yourself and pass the nn.Module as backbone=..."
        )
    _set_submodule(network, classifier, nn.Identity())
    _torchvision_pooling(network, name, pooling)
    mean, std, size = _torchvision_preprocessing(tv, name)
    return network, mean, std, size


def build(name, weights, pooling, kwargs, load_weights):
    """(module, mean, std, default size) of a named timm or torchvision backbone, on the CPU.

    ``module`` maps a normalised float batch ``(B, 3, H, W)`` to ``(B, D)``.
    ``load_weights(network, path, what)`` loads a state dict file strictly.
    """
    library, model = resolve_name(name)
    kwargs = dict(kwargs or {})
    if library == "timm":
        return _timm_model(model, weights, pooling, kwargs, load_weights)
    return _torchvision_model(model, weights, pooling, kwargs, load_weights)
