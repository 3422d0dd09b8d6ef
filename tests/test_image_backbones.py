"""ImageEmbedder's timm and torchvision backbones, with random weights (no download).

Each family the docs list embeds to its own pre-logits width (timm's ``num_features``,
or ``head_hidden_size`` where the head adds a layer; torchvision's known widths) at a
small input size. These tests need ``skmm[vision]`` (timm and a torchvision built for
the installed torch; the test extra installs them) and skip, saying why, without it.
With ``SKMM_REQUIRE_VISION=1`` (set by CI) a missing or broken one fails the run instead,
so that CI never passes with these tests skipped.
"""

import importlib
import os
import sys

import numpy as np
import pytest
import torch
from torch import nn

from skmm import ImageEmbedder
from skmm.image import _backbones
from skmm.exceptions import InvalidInputError


def _usable(module):
    """(module, None) or (None, why it cannot be imported)."""
    try:
        return importlib.import_module(module), None
    except Exception as exc:  # absent, or a torchvision built for another torch
        return None, f"{module} is not usable here ({type(exc).__name__}: {exc})"


timm, TIMM_MISSING = _usable("timm")
tv, TV_MISSING = _usable("torchvision")
if os.environ.get("SKMM_REQUIRE_VISION") == "1" and (timm is None or tv is None):
    pytest.fail(f"SKMM_REQUIRE_VISION=1 but skmm[vision] is not usable: {TIMM_MISSING or ''} "
                f"{TV_MISSING or ''}".strip(), pytrace=False)
needs_timm = pytest.mark.skipif(timm is None, reason=f"needs skmm[vision]: {TIMM_MISSING}")
needs_tv = pytest.mark.skipif(tv is None, reason=f"needs skmm[vision]: {TV_MISSING}")


def random_images(n, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8) for _ in range(n)]


def normalised(images, mean, std):
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


@pytest.fixture(autouse=True)
def fresh_backbone_cache():
    _backbones.clear_cache()
    yield
    _backbones.clear_cache()


# name, input size, timm.create_model keyword arguments
TIMM_FAMILIES = [
    ("resnet18", 32, {}),
    ("convnext_atto", 32, {}),
    ("efficientnet_b0", 32, {}),
    ("mobilenetv3_small_100", 32, {}),
    ("regnety_002", 32, {}),
    ("vit_tiny_patch16_224", 32, {"img_size": 32}),
    ("swin_tiny_patch4_window7_224", 56, {"img_size": 56}),
]


@needs_timm
@pytest.mark.parametrize("name, size, kwargs", TIMM_FAMILIES, ids=[f[0] for f in TIMM_FAMILIES])
def test_timm_families_embed_to_their_num_features(name, size, kwargs):
    images = random_images(3, size)
    emb = ImageEmbedder(f"timm:{name}", weights=None, size=size, backbone_kwargs=kwargs,
                        device="cpu", batch_size=2).fit(images)
    out = emb.transform(images)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        reference = timm.create_model(name, pretrained=False, **kwargs).eval()
    # pre-logits width: num_features, or the hidden layer some heads add (MobileNetV3: 1024)
    width = getattr(reference, "head_hidden_size", None) or reference.num_features
    assert out.shape == (3, width) and out.dtype == np.float32
    config = timm.data.resolve_model_data_config(reference)
    with torch.no_grad():
        x = normalised(images, config["mean"], config["std"])
        expected = reference.forward_head(reference.forward_features(x), pre_logits=True)
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-4, atol=1e-4)
    assert np.ptp(out, axis=0).max() > 0


@needs_timm
def test_timm_weights_files_pooling_and_defaults(tmp_path):
    images = random_images(2)
    with torch.random.fork_rng():
        torch.manual_seed(3)
        network = timm.create_model("resnet18", pretrained=False)
    path = tmp_path / "resnet18.pth"
    torch.save(network.state_dict(), path)
    loaded = ImageEmbedder("resnet18", weights=path, size=32, device="cpu").fit(images)
    network.eval().reset_classifier(0)
    config = timm.data.resolve_model_data_config(network)
    with torch.no_grad():
        expected = network(normalised(images, config["mean"], config["std"])).numpy()
    np.testing.assert_allclose(loaded.transform(images), expected, rtol=1e-4, atol=1e-4)
    random = ImageEmbedder("resnet18", weights=None, size=32, device="cpu").fit(images)
    assert not np.allclose(random.transform(images), expected)  # the file's weights, not seed 0
    maxed = ImageEmbedder("resnet18", weights=None, size=32, pooling="max", device="cpu")
    assert np.all(maxed.fit(images).transform(images) >= random.transform(images) - 1e-5)
    # the model's data config decides the default size (and mean/std)
    assert ImageEmbedder("resnet18", weights=None, device="cpu").fit(images).size_ == (224, 224)
    with pytest.raises(InvalidInputError, match="could not build"):
        ImageEmbedder("resnet18", weights=None, backbone_kwargs={"no_such": 1}).fit(images)


@needs_timm
def test_timm_offline_downloads_become_invalid_input_errors(monkeypatch):
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    def offline(*args, **kwargs):
        raise LocalEntryNotFoundError("cannot reach the Hub and the file is not cached")

    monkeypatch.setattr("timm.models._hub.hf_hub_download", offline)
    monkeypatch.setattr("timm.models._builder.load_state_dict_from_url", offline)
    with pytest.raises(InvalidInputError) as info:
        ImageEmbedder("resnet18", device="cpu").fit(random_images(1))
    message = str(info.value)
    assert "'resnet18'" in message and constants.HF_HUB_CACHE in message
    assert "weights='/path/to/file.pth'" in message
    assert isinstance(info.value.__cause__, LocalEntryNotFoundError)


# name, input size, embedding width, get_model keyword arguments
TORCHVISION_FAMILIES = [
    ("resnet18", 32, 512, {}),
    ("swin_t", 64, 768, {}),
    ("vit_b_16", 32, 768, {"image_size": 32}),
    ("regnet_y_400mf", 32, 440, {}),
    ("shufflenet_v2_x0_5", 32, 1024, {}),
    ("mobilenet_v3_small", 32, 1024, {}),
    ("efficientnet_b0", 32, 1280, {}),
    ("convnext_tiny", 32, 768, {}),
    ("densenet121", 32, 1024, {}),
    ("squeezenet1_0", 64, 512, {}),
]


@needs_tv
@pytest.mark.parametrize("name, size, width, kwargs", TORCHVISION_FAMILIES,
                         ids=[f[0] for f in TORCHVISION_FAMILIES])
def test_torchvision_families_embed_to_their_known_width(name, size, width, kwargs):
    images = random_images(3, size)
    emb = ImageEmbedder(f"torchvision:{name}", weights=None, size=size, backbone_kwargs=kwargs,
                        device="cpu", batch_size=2).fit(images)
    out = emb.transform(images)
    assert out.shape == (3, width) and emb.embedding_dim_ == width
    assert np.isfinite(out).all() and np.ptp(out, axis=0).max() > 0


@needs_tv
def test_swin_is_pooled_over_space_not_over_channels():
    """The reported bug: 2 columns at 64 px and 7 at 224 px instead of 768."""
    images = random_images(2, 64)
    out = ImageEmbedder("torchvision:swin_t", weights=None, size=64, device="cpu").fit(images)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        reference = tv.models.swin_t(weights=None).eval()
    reference.head = nn.Identity()
    with torch.no_grad():
        expected = reference(normalised(images, _backbones.IMAGENET_MEAN,
                                        _backbones.IMAGENET_STD)).numpy()
    np.testing.assert_allclose(out.transform(images), expected, rtol=1e-4, atol=1e-4)


@needs_tv
def test_torchvision_offline_downloads_become_invalid_input_errors(monkeypatch):
    from urllib.error import URLError

    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", offline)
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(InvalidInputError) as info:
        ImageEmbedder("resnet18", device="cpu").fit(random_images(1))
    message = str(info.value)
    assert "'resnet18'" in message and torch.hub.get_dir() in message
    assert isinstance(info.value.__cause__, URLError)
    with pytest.raises(InvalidInputError, match="no global average pooling"):
        ImageEmbedder("torchvision:vit_b_16", weights=None, pooling="max",
                      backbone_kwargs={"image_size": 32}).fit(random_images(1))
