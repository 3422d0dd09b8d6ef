"""CNN backbones of :class:`~skmm.image.ImageEmbedder`: building, weights files, a shared cache.

A backbone is reduced to its *trunk*, an ``nn.Module`` mapping a float batch
``(B, C, H, W)`` to a feature map ``(B, D, h, w)`` (or already pooled ``(B, D)``): for
timm and torchvision models, the model itself less its classifier, pooling as it was
trained (see :mod:`skmm.image._library_backbones`).
:class:`EmbeddingNet` wraps a trunk with the input conversion (uint8 channels-last
pixels to normalised floats, on the device) and the global pooling.

Named backbones are built once per process and configuration and shared by every
estimator asking for them (clones in a grid search included): see :func:`get_trunk`.
This module imports torch at import time; import it lazily.
"""

import copy
import os
import threading
from collections import OrderedDict

import torch
from torch import nn

from ..exceptions import InvalidInputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Seed of the built-in backbone's initialisation (embeddings are reproducible without weights).
SIMPLE_CNN_SEED = 0
BUILTIN_BACKBONES = ("simple-cnn",)
_CACHE_SIZE = 4
_MAX_LISTED = 10


class SimpleCNN(nn.Module):
    """The built-in backbone: three conv3x3-BatchNorm-ReLU blocks (32, 64, 128 channels).

    The first two blocks end with a 2x2 max pooling; ``forward`` returns the feature
    map ``(B, 128, H / 4, W / 4)``.

    Parameters
    ----------
    in_channels : int, default=3
    widths : tuple of int, default=(32, 64, 128)
    """

    def __init__(self, in_channels=3, widths=(32, 64, 128)):
        super().__init__()
        layers, channels = [], in_channels
        for i, width in enumerate(widths):
            layers += [
                nn.Conv2d(channels, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            channels = width
        self.features = nn.Sequential(*layers)
        self.out_channels = channels

    def forward(self, x):
        return self.features(x)


def simple_cnn(in_channels=3, seed=SIMPLE_CNN_SEED):
    """A :class:`SimpleCNN` with He-normal convolutions drawn from ``seed``.

    The global random state of torch is left untouched.

    Examples
    --------
    >>> import torch
    >>> a, b = simple_cnn(), simple_cnn()
    >>> all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    True
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SimpleCNN(in_channels)
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return model


# --------------------------------------------------------------------------- weights files


def weights_fingerprint(path):
    """(absolute path, mtime in ns, size in bytes) of a weights file; raises if absent."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InvalidInputError(
            f"weights file '{path}' not found (working directory is '{os.getcwd()}'); pass "
            "the path of a file written by torch.save(model.state_dict(), path), or one of "
            "weights='default' (pretrained where the model has such weights), 'pretrained' "
            "or None (random initialisation)."
        )
    stat = os.stat(path)
    return os.path.abspath(path), stat.st_mtime_ns, stat.st_size


def read_state_dict(path):
    """Load a state dict safely (``torch.load(weights_only=True)``) onto the CPU."""
    path = os.fspath(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle, zip and runtime errors alike
        raise InvalidInputError(
            f"weights file '{path}' could not be read by torch.load(weights_only=True) "
            f"({type(exc).__name__}: {exc}). Save weights with torch.save(model.state_dict(), "
            "path); pickled modules are refused for safety."
        ) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InvalidInputError(
            f"weights file '{path}' holds a {type(state).__name__}, expected a state dict "
            "(a mapping of parameter names to tensors) as written by "
            "torch.save(model.state_dict(), path)."
        )
    return state


def _listed(items):
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f", ... ({len(items)} in all)" if len(items) > _MAX_LISTED else "")


def load_weights(network, path, what):
    """Load the state dict in ``path`` into ``network``, naming every key or shape that differs."""
    state = read_state_dict(path)
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{key}: file {tuple(state[key].shape)} vs model {tuple(value.shape)}"
        for key, value in expected.items()
        if key in state and state[key].shape != value.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys (in the model, not in the file): {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected keys (in the file, not in the model): {_listed(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches: {_listed(shapes)}")
    if problems:
        raise InvalidInputError(
            f"weights file '{os.fspath(path)}' does not match {what}:\n  "
            + "\n  ".join(problems)
            + "\nSave the state dict of the same architecture (and, for simple-cnn, the same "
            "image mode), or choose the backbone the file was written for."
        )
    network.load_state_dict(state)


# --------------------------------------------------------------------------- named backbones


def _build_named(name, weights, in_channels, pooling=None, kwargs=None):
    """(trunk, mean, std, default size) for a named backbone, weights loaded, on the CPU.

    ``weights``: "default" or "pretrained" (the model's pretrained weights; simple-cnn's
    seeded initialisation for "default"), None (a seeded random initialisation) or a
    state dict file. timm and torchvision models come from :mod:`skmm.image._library_backbones`.
    """
    from . import _library_backbones as library

    file = library.is_weights_file(weights)
    if name == "simple-cnn":
        trunk = simple_cnn(in_channels)
        if file:
            load_weights(trunk, weights, f"backbone {name!r}")
        return trunk, None, None, (32, 32)
    if in_channels != 3:
        raise InvalidInputError(
            f"backbone={name!r} takes RGB images; use mode='RGB' (grey images are "
            "repeated over the three channels)."
        )
    return library.build(name, weights, pooling, kwargs, load_weights)


def _prepare(trunk, device):
    trunk.eval().requires_grad_(False)
    trunk = trunk.to(device)
    if str(device).startswith("cuda"):
        trunk = trunk.to(memory_format=torch.channels_last)
    return trunk


_cache = OrderedDict()
_cache_lock = threading.Lock()


def get_trunk(name, weights, in_channels, device, pooling=None, kwargs=None):
    """(trunk, mean, std, default size) of a named backbone, frozen in eval mode on ``device``.

    Built once per (name, weights keyword or file path + mtime + size, channels, device,
    and for timm/torchvision models pooling and keyword arguments) and shared: a
    least-recently-used cache holds the last few, so the clones of a grid search load
    the backbone once.
    """
    from ._library_backbones import is_weights_file

    weights_key = weights_fingerprint(weights) if is_weights_file(weights) else weights
    if name == "simple-cnn":
        pooling = kwargs = None  # pooled by EmbeddingNet, so shared across poolings
    kwargs_key = None if not kwargs else repr(sorted(kwargs.items()))
    key = (name, weights_key, in_channels, str(device), pooling, kwargs_key)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        trunk, mean, std, size = _build_named(name, weights, in_channels, pooling, kwargs)
        entry = (_prepare(trunk, device), mean, std, size)
        _cache[key] = entry
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
        return entry


def clear_cache():
    """Forget every cached backbone (the next fit or transform rebuilds it)."""
    with _cache_lock:
        _cache.clear()


def user_trunk(module, device):
    """A frozen eval-mode deep copy of a user's module on ``device`` (the original is untouched)."""
    if not isinstance(module, nn.Module):
        raise InvalidInputError(
            f"backbone must be one of {BUILTIN_BACKBONES}, a timm or torchvision model name or a "
            f"torch.nn.Module, got {type(module).__name__}."
        )
    return _prepare(copy.deepcopy(module), device)


# --------------------------------------------------------------------------- the hot path


class EmbeddingNet(nn.Module):
    """uint8 ``(B, H, W, C)`` pixels -> pooled float features ``(B, D)``.

    Conversion and normalisation run on the tensor's device: ``x / 255``, then
    ``(x - mean) / std`` when ``mean``/``std`` are given, folded into one multiply-add.
    """

    def __init__(self, trunk, mean=None, std=None, pooling="avg", channels=3):
        super().__init__()
        self.trunk = trunk
        mean = torch.zeros(channels) if mean is None else torch.tensor(mean, dtype=torch.float32)
        std = torch.ones(channels) if std is None else torch.tensor(std, dtype=torch.float32)
        self.register_buffer("scale", (1.0 / (255.0 * std)).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("shift", (-mean / std).view(1, -1, 1, 1), persistent=False)
        self.pooling = pooling

    def forward(self, pixels):
        # permute of an NHWC tensor is an NCHW view with channels-last strides: no copy.
        x = pixels.permute(0, 3, 1, 2).float().mul_(self.scale).add_(self.shift)
        features = self.trunk(x)
        if features.ndim == 4:
            features = features.float()
            return features.amax((2, 3)) if self.pooling == "max" else features.mean((2, 3))
        return features.flatten(1).float()


def embedding_net(trunk, mean, std, pooling, channels, device):
    return EmbeddingNet(trunk, mean, std, pooling, channels).to(device)


def embed(net, pixels, device, autocast_dtype):
    """Run ``net`` on a uint8 numpy batch ``(B, H, W, C)``; float32 numpy ``(B, D)``."""
    device = torch.device(device)
    batch = torch.from_numpy(pixels).to(device, non_blocking=device.type == "cuda")
    with torch.inference_mode(), torch.autocast(
        device_type=device.type, dtype=autocast_dtype or torch.bfloat16,
        enabled=autocast_dtype is not None,
    ):
        out = net(batch)
    return out.float().cpu().numpy()
