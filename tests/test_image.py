"""Image extractors: known answers, frozen embeddings, weights files, pickles, bad cells."""

import pickle
import subprocess
import sys
import types

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from torch import nn

from skmm import ImageColorHistogram, ImageEmbedder, ImagePixels
from skmm.image import _backbones
from skmm.exceptions import InvalidInputError, MissingDependencyError
from skmm.image import pixel_grid_shape

from _media import png_bytes

EXTRACTORS = [ImagePixels, ImageColorHistogram, ImageEmbedder]


def random_images(n, size=(12, 12), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(*size, 3), dtype=np.uint8) for _ in range(n)]


def pool_avg(module, images, mean=None, std=None):
    """The reference: a plain float32 forward pass of ``module`` in eval mode, average-pooled."""
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    if mean is not None:
        x = (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    with torch.no_grad():
        return module.eval()(x).mean((2, 3)).numpy()


@pytest.fixture(autouse=True)
def fresh_backbone_cache():
    _backbones.clear_cache()
    yield
    _backbones.clear_cache()


# --------------------------------------------------------------------------- pixels


def test_pixels_of_a_known_array_come_back_exactly_in_channel_major_order():
    rgb = random_images(1, size=(4, 5))[0]
    raw = ImagePixels(size=(4, 5), mode="RGB", scale=False).fit([rgb]).transform([rgb])
    np.testing.assert_array_equal(raw[0], rgb.transpose(2, 0, 1).ravel().astype(np.float32))
    scaled = ImagePixels(size=(4, 5), mode="RGB").fit([rgb]).transform([rgb])
    np.testing.assert_array_equal(
        scaled[0], rgb.transpose(2, 0, 1).ravel().astype(np.float32) / 255
    )
    grey = rgb[:, :, 0]
    out = ImagePixels(size=(4, 5), scale=False).fit([grey]).transform([grey, png_bytes(grey)])
    np.testing.assert_array_equal(out, np.stack([grey.ravel(), grey.ravel()]).astype(np.float32))


def test_pixel_names_give_back_channels_rows_and_columns():
    ext = ImagePixels(size=(3, 12), mode="RGB", add_indicator=True).fit([np.zeros((3, 12, 3))])
    names = list(ext.get_feature_names_out())
    assert names[:2] == ["c0_r00_c00", "c0_r00_c01"] and names[12] == "c0_r01_c00"
    assert names[-2:] == ["c2_r02_c11", "present"]
    ct = ColumnTransformer([("image", ext, "image")]).fit(
        pd.DataFrame({"image": [np.ones((5, 5))]})
    )
    assert pixel_grid_shape(ct.get_feature_names_out()) == (3, 3, 12)
    assert (
        ImagePixels(size=(100, 128)).fit([np.zeros((2, 2))]).get_feature_names_out()[-1]
        == "c0_r099_c127"
    )
    with pytest.raises(InvalidInputError, match="full"):
        pixel_grid_shape(names[:-3])


def test_pixels_resize_and_grey_conversion_follow_pillow():
    from PIL import Image

    rgb = random_images(1, size=(20, 30))[0]
    out = ImagePixels(size=(10, 15), scale=False).fit([rgb]).transform([rgb])
    expected = np.asarray(Image.fromarray(rgb).convert("L").resize((15, 10), Image.BILINEAR))
    np.testing.assert_array_equal(out[0], expected.ravel())


# --------------------------------------------------------------------------- histograms


def test_a_solid_colour_puts_all_its_mass_in_one_bin_per_channel():
    red = np.zeros((8, 6, 3), dtype=np.uint8)
    red[..., 0] = 255
    hist = ImageColorHistogram(bins=16).fit([red])
    out = hist.transform([red, png_bytes(red)])
    expected = np.zeros(48, dtype=np.float32)
    expected[[15, 16, 32]] = 1.0  # r: last bin; g and b: first bin
    np.testing.assert_array_equal(out, [expected, expected])
    assert list(hist.get_feature_names_out()[[15, 16, 47]]) == ["r_bin15", "g_bin00", "b_bin15"]
    grey = ImageColorHistogram(bins=16, mode="L").fit([red]).transform([red])
    np.testing.assert_array_equal(np.flatnonzero(grey[0]), [76 * 16 // 256])  # luma of red is 76


def test_histograms_match_numpy_for_images_of_different_sizes_in_one_batch():
    images = random_images(3, size=(9, 7)) + random_images(2, size=(4, 13), seed=1)
    out = ImageColorHistogram(bins=5, batch_size=8).fit(images).transform(images)
    for row, image in zip(out, images):
        for c in range(3):
            counts = np.bincount(image[:, :, c].ravel().astype(int) * 5 // 256, minlength=5)
            np.testing.assert_allclose(row[5 * c:5 * (c + 1)], counts / counts.sum(), rtol=1e-6)
    np.testing.assert_allclose(out.reshape(5, 3, 5).sum(-1), 1.0, rtol=1e-6)


# --------------------------------------------------------------------------- embeddings


def test_embeddings_are_deterministic_and_do_not_depend_on_the_batch_size():
    images = random_images(11)
    first = ImageEmbedder(device="cpu", batch_size=4).fit(images).transform(images)
    _backbones.clear_cache()
    again = ImageEmbedder(device="cpu", batch_size=4).fit(images).transform(images)
    np.testing.assert_array_equal(first, again)
    for batch_size in (1, 11):
        other = ImageEmbedder(device="cpu", batch_size=batch_size).fit(images).transform(images)
        np.testing.assert_allclose(other, first, rtol=1e-5, atol=1e-6)
    assert (
        first.shape == (11, 128) and first.dtype == np.float32 and np.ptp(first, axis=0).max() > 0
    )
    emb = ImageEmbedder(device="cpu", size=12).fit(images)
    np.testing.assert_allclose(emb.transform(images), pool_avg(_backbones.simple_cnn(), images),
                               rtol=1e-4, atol=1e-5)


def test_batchnorm_statistics_do_not_move_and_a_user_module_is_left_untouched():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())  # in train mode
    module[1].running_mean.fill_(0.3)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    images = random_images(6)
    emb = ImageEmbedder(backbone=module, size=12, device="cpu", batch_size=4).fit(images)
    out = emb.transform(images)
    trunk_before = {k: v.clone() for k, v in emb.model_.trunk.state_dict().items()}
    emb.transform(images)
    for key, value in emb.model_.trunk.state_dict().items():
        assert torch.equal(value, trunk_before[key]), key
    assert module.training and not emb.model_.trunk.training
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key]), key
    np.testing.assert_allclose(out, pool_avg(module, images), rtol=1e-5, atol=1e-6)
    assert list(emb.get_feature_names_out()) == ["emb000", "emb001", "emb002", "emb003"]


def test_a_user_module_survives_clone_and_pickle_and_may_return_flat_features():
    torch.manual_seed(1)
    flat = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 5))
    images = random_images(4, size=(8, 8))
    emb = ImageEmbedder(backbone=flat, size=8, device="cpu").fit(images)
    out = emb.transform(images)
    assert out.shape == (4, 5)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(emb)).transform(images), out)
    np.testing.assert_array_equal(clone(emb).fit(images).transform(images), out)


def test_a_weights_file_round_trips(tmp_path):
    network = _backbones.simple_cnn()
    with torch.no_grad():
        for p in network.parameters():
            p.mul_(1.5).add_(0.01)
    network.features[1].running_var.fill_(2.0)
    path = tmp_path / "cnn.pt"
    torch.save(network.state_dict(), path)
    images = random_images(5)
    loaded = ImageEmbedder(weights=str(path), device="cpu").fit(images).transform(images)
    direct = ImageEmbedder(backbone=network, size=32, device="cpu").fit(images).transform(images)
    np.testing.assert_array_equal(loaded, direct)
    default = ImageEmbedder(device="cpu").fit(images).transform(images)
    assert not np.allclose(loaded, default)
    # the state dict of a fitted default embedder's trunk is a valid weights file too
    torch.save(ImageEmbedder(device="cpu").fit(images).model_.trunk.state_dict(), path)
    np.testing.assert_array_equal(
        ImageEmbedder(weights=path, device="cpu").fit(images).transform(images), default
    )


def test_a_mismatched_weights_file_names_the_keys_and_shapes(tmp_path):
    state = _backbones.simple_cnn().state_dict()
    del state["features.1.running_mean"]
    state["head.weight"] = torch.zeros(3)
    state["features.4.weight"] = torch.zeros(64, 32, 5, 5)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(InvalidInputError) as info:
        ImageEmbedder(weights=path, device="cpu").fit(random_images(2))
    message = str(info.value)
    assert "missing keys" in message and "features.1.running_mean" in message
    assert "unexpected keys" in message and "head.weight" in message
    assert "features.4.weight: file (64, 32, 5, 5) vs model (64, 32, 3, 3)" in message
    grey = ImageEmbedder(weights=path, mode="L", device="cpu")
    torch.save(_backbones.simple_cnn(3).state_dict(), path)
    with pytest.raises(
        InvalidInputError,
        match=r"features.0.weight: file \(32, 3, 3, 3\) vs model \(32, 1, 3, 3\)",
    ):
        grey.fit(random_images(2))


def test_unreadable_or_absent_weights_files_are_reported(tmp_path):
    with pytest.raises(InvalidInputError, match="not found"):
        ImageEmbedder(weights=tmp_path / "nope.pt", device="cpu").fit(random_images(1))
    (tmp_path / "text.pt").write_text("not torch")
    with pytest.raises(InvalidInputError, match="weights_only=True"):
        ImageEmbedder(weights=tmp_path / "text.pt", device="cpu").fit(random_images(1))
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    with pytest.raises(InvalidInputError, match="holds a list, expected a state dict"):
        ImageEmbedder(weights=tmp_path / "list.pt", device="cpu").fit(random_images(1))


def test_pickles_hold_no_weights_and_give_identical_outputs(tmp_path):
    images = random_images(6)
    path = tmp_path / "cnn.pt"
    torch.save(_backbones.simple_cnn().state_dict(), path)
    for emb in (ImageEmbedder(device="cpu"), ImageEmbedder(weights=path, device="cpu")):
        emb.fit(images)
        out = emb.transform(images)
        blob = pickle.dumps(emb)
        assert len(blob) < 4000 < path.stat().st_size  # the weights are about 370 kB
        _backbones.clear_cache()
        restored = pickle.loads(blob)
        assert "model_" not in vars(restored)
        np.testing.assert_array_equal(restored.transform(images), out)


def test_a_changed_weights_file_is_flagged_when_the_model_is_rebuilt(tmp_path):
    images = random_images(2)
    path = tmp_path / "cnn.pt"
    torch.save(_backbones.simple_cnn().state_dict(), path)
    blob = pickle.dumps(ImageEmbedder(weights=path, device="cpu").fit(images))
    torch.save(_backbones.simple_cnn(seed=1).state_dict(), path)
    with pytest.warns(UserWarning, match="changed since fit"):
        pickle.loads(blob).transform(images)


def test_clones_of_one_configuration_share_one_model(tmp_path):
    images = random_images(2)
    a = ImageEmbedder(device="cpu").fit(images)
    b = clone(a).set_params(pooling="max", batch_size=3).fit(images)
    assert b.model_.trunk is a.model_.trunk
    c = ImageEmbedder(mode="L", device="cpu").fit(images)
    assert c.model_.trunk is not a.model_.trunk
    assert np.all(b.transform(images) >= a.transform(images) - 1e-6)  # max pool >= avg pool


def test_bfloat16_precision_runs_under_autocast_and_returns_float32():
    images = random_images(4)
    exact = ImageEmbedder(device="cpu", precision="float32").fit(images).transform(images)
    emb = ImageEmbedder(device="cpu", precision="bfloat16").fit(images)
    approx = emb.transform(images)
    assert emb.precision_ == "bfloat16" and approx.dtype == np.float32
    assert not np.array_equal(approx, exact)
    np.testing.assert_allclose(approx, exact, rtol=0.1, atol=0.05 * np.abs(exact).max())


def test_named_torchvision_backbones_need_the_vision_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'skmm\[vision\]'"):
        ImageEmbedder(backbone="resnet18", device="cpu").fit(random_images(1))


class TinyResNet(nn.Module):
    """The attribute layout and forward pass of torchvision's ResNet, at toy size."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(2)
        self.layer1, self.layer2, self.layer3 = nn.Identity(), nn.Identity(), nn.Identity()
        self.layer4 = nn.Conv2d(4, 6, 3)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 1000)

    def forward(self, x):
        for name, module in self.named_children():
            x = torch.flatten(x, 1) if name == "fc" else x
            x = module(x)
        return x


@pytest.fixture
def fake_torchvision(monkeypatch):
    calls = []

    def get_model(name, weights=None, **kwargs):
        calls.append((name, weights))
        return TinyResNet()

    models = types.SimpleNamespace(
        list_models=lambda module=None: ["resnet18"], get_model=get_model
    )
    monkeypatch.setitem(sys.modules, "torchvision", types.SimpleNamespace(models=models))
    monkeypatch.setitem(sys.modules, "timm", None)
    return calls


def test_torchvision_backbones_drop_the_head_and_use_imagenet_normalisation(
    fake_torchvision, tmp_path
):
    images = random_images(3, size=(16, 16))
    emb = ImageEmbedder(backbone="resnet18", size=16, device="cpu").fit(images)
    assert fake_torchvision == [("resnet18", "DEFAULT")] and emb.size_ == (16, 16)
    out = emb.transform(images)
    with torch.random.fork_rng():
        torch.manual_seed(0)  # random initialisations are drawn from seed 0: the same network
        trunk = nn.Sequential(*list(TinyResNet().children())[:-2])
    expected = pool_avg(trunk, images, _backbones.IMAGENET_MEAN, _backbones.IMAGENET_STD)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert isinstance(emb.model_.trunk.fc, nn.Identity) and emb.embedding_dim_ == 6
    maxed = ImageEmbedder(backbone="resnet18", size=16, pooling="max", device="cpu").fit(images)
    assert isinstance(maxed.model_.trunk.avgpool, nn.AdaptiveMaxPool2d)
    assert np.all(maxed.transform(images) >= out - 1e-6)
    network = TinyResNet()
    path = tmp_path / "resnet.pt"
    torch.save(network.state_dict(), path)
    assert ImageEmbedder(backbone="resnet18", weights=path).fit(images).size_ == (224, 224)
    assert fake_torchvision[-1] == ("resnet18", None)
    ImageEmbedder(backbone="torchvision:resnet18", weights=None, size=16).fit(images)
    assert fake_torchvision[-1] == ("resnet18", None)
    with pytest.raises(InvalidInputError, match="neither built in"):
        ImageEmbedder(backbone="resnet1800", device="cpu").fit(images)
    with pytest.raises(InvalidInputError, match="mode='RGB'"):
        ImageEmbedder(backbone="resnet18", mode="L", device="cpu").fit(images)


def test_offline_downloads_name_the_model_the_cache_and_a_local_file(monkeypatch):
    from urllib.error import URLError

    def get_model(name, weights=None, **kwargs):
        if weights is not None:
            raise URLError("[Errno -3] Temporary failure in name resolution")
        return TinyResNet()

    models = types.SimpleNamespace(list_models=lambda module=None: ["resnet18"],
                                   get_model=get_model)
    monkeypatch.setitem(sys.modules, "torchvision", types.SimpleNamespace(models=models))
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(InvalidInputError) as info:
        ImageEmbedder(backbone="resnet18", device="cpu").fit(random_images(1))
    message = str(info.value)
    assert "'resnet18'" in message and torch.hub.get_dir() in message
    assert "weights='/path/to/file.pth'" in message and "name resolution" in message
    assert isinstance(info.value.__cause__, URLError)
    # random weights need no download
    ImageEmbedder(backbone="resnet18", weights=None, size=16, device="cpu").fit(random_images(1))


# --------------------------------------------------------------------------- the data contract


@pytest.fixture
def bad_cells(media_files):
    return {
        "missing file": media_files["missing.png"],
        "truncated PNG": media_files["truncated.png"],
        "empty file": media_files["empty.png"],
        "directory": media_files["dir"],
        "not an image": b"GIF89a but not really",
        "wrong type": 42,
        "dict": {"pixels": 1},
        "float out of range": np.full((4, 4), 3.0),
        "five channels": np.zeros((4, 4, 5), dtype=np.uint8),
        "NaN pixels": np.full((4, 4), np.nan),
    }


@pytest.mark.parametrize("cls", EXTRACTORS, ids=lambda c: c.__name__)
def test_every_bad_cell_gives_invalid_input_error_with_its_row(cls, media_files, bad_cells):
    good = media_files["red.png"]
    ext = cls(device="cpu") if cls is ImageEmbedder else cls()
    ext.fit([good])
    for what, cell in bad_cells.items():
        with pytest.raises(InvalidInputError) as info:
            ext.transform([good, good, cell])
        assert info.value.rows == [2], what
        assert "row 2" in str(info.value), what
    with pytest.raises(InvalidInputError, match="not found"):
        ext.transform([media_files["missing.png"]])
    quiet = clone(ext).set_params(on_error="ignore", add_indicator=True).fit([good])
    out = quiet.transform([good, *bad_cells.values(), None, media_files["rgba.png"]])
    np.testing.assert_array_equal(out[:, -1], [1] + [0] * (len(bad_cells) + 1) + [1])
    assert not out[1:-1, :-1].any()


def test_parameters_are_checked_in_fit():
    one = [np.zeros((4, 4))]
    for ext, match in [
        (ImagePixels(size=(0, 3)), "size"),
        (ImagePixels(size=None), "size"),
        (ImagePixels(mode="CMYK"), "mode"),
        (ImageColorHistogram(bins=0), "bins"),
        (ImageColorHistogram(bins=2.5), "bins"),
        (ImageEmbedder(pooling="median", device="cpu"), "pooling"),
        (ImageEmbedder(precision="int8", device="cpu"), "precision"),
        (ImageEmbedder(backbone=3, device="cpu"), "backbone"),
        (ImageEmbedder(backbone=nn.Identity(), weights="w.pt", device="cpu"), "weights applies"),
        (ImageEmbedder(weights="pretrained", device="cpu"), "no pretrained weights"),
        (ImageEmbedder(weights=3, device="cpu"), "weights must be"),
        (ImageEmbedder(backbone_kwargs={"img_size": 8}, device="cpu"), "backbone_kwargs applies"),
        (ImageEmbedder(backbone_kwargs=[1], device="cpu"), "backbone_kwargs must be"),
        (ImageEmbedder(device="tpu"), "device"),
        (ImageEmbedder(backbone=nn.Linear(5, 2), size=4, device="cpu"), r"\(1, 3, 4, 4\)"),
    ]:
        with pytest.raises(InvalidInputError, match=match):
            ext.fit(one)


@pytest.mark.slow
def test_importing_the_image_module_and_extracting_pixels_does_not_import_torch():
    code = (
        "import sys, numpy as np; from skmm.image import ImagePixels, ImageColorHistogram;"
        "x = [np.zeros((3, 3, 3), np.uint8)]; ImagePixels().fit(x).transform(x);"
        "ImageColorHistogram().fit(x).transform(x); assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- real data


@pytest.mark.slow
@pytest.mark.realdata
def test_pixels_and_logistic_regression_read_av_digits(fsdd_home):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from threadpoolctl import threadpool_limits

    from skmm.datasets import load_av_digits

    X, y = load_av_digits(data_home=fsdd_home, return_X_y=True)
    model = make_pipeline(ImagePixels(size=(28, 28)), LogisticRegression(max_iter=200, C=0.1))
    with threadpool_limits(1, user_api="blas"):  # BLAS threads thrash on small, busy machines
        scores = cross_val_score(model, X["image"], y, cv=5)
    assert scores.mean() >= 0.85, scores
