"""skmm.datasets: the synthetic generator and the real-data loaders."""

import time

import numpy as np
import pytest

from skmm.datasets import (
    get_data_home,
    load_ag_news,
    load_av_digits,
    make_multimodal_classification,
)
from skmm.exceptions import InvalidInputError


def test_synthetic_shapes_types_and_determinism():
    X, y = make_multimodal_classification(
        n_samples=50, n_classes=3, random_state=1, return_X_y=True
    )
    assert list(X.columns) == ["image", "text", "audio"] and len(X) == len(y) == 50
    assert X["image"][0].dtype == np.uint8 and X["image"][0].shape == (16, 16, 3)
    assert isinstance(X["text"][0], str)
    assert X["audio"][0].dtype == np.float32 and X["audio"][0].ndim == 1
    assert set(np.unique(y)) == {0, 1, 2}
    X2, y2 = make_multimodal_classification(
        n_samples=50, n_classes=3, random_state=1, return_X_y=True
    )
    np.testing.assert_array_equal(y, y2)
    assert (X["text"] == X2["text"]).all()
    np.testing.assert_array_equal(np.stack(X["image"]), np.stack(X2["image"]))


def test_synthetic_is_fast():
    start = time.perf_counter()
    make_multimodal_classification(n_samples=1000, random_state=0)
    assert time.perf_counter() - start < 1.0


def test_synthetic_missing_cells_and_subsets():
    bunch = make_multimodal_classification(n_samples=400, missing=0.3, random_state=0)
    rate = bunch.data.isna().mean()
    assert ((rate > 0.2) & (rate < 0.4)).all()
    assert not bunch.data.isna().all(axis=1).any(), "every sample keeps a modality"
    X, _ = make_multimodal_classification(n_samples=10, modalities=("audio",), return_X_y=True)
    assert list(X.columns) == ["audio"]
    with pytest.raises(InvalidInputError, match="modalities"):
        make_multimodal_classification(modalities=("video",))
    with pytest.raises(InvalidInputError, match="missing"):
        make_multimodal_classification(missing=1.0)


def test_synthetic_fusion_beats_each_modality():
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = make_multimodal_classification(n_samples=400, random_state=0, return_X_y=True)
    image = np.stack(X["image"]).reshape(len(X), -1) / 255.0
    text = CountVectorizer().fit_transform(X["text"]).toarray()
    spectrum = np.abs(np.fft.rfft(np.stack(X["audio"]), axis=1))[:, :2000]
    audio = np.log1p(spectrum.reshape(len(X), -1, 20).mean(axis=2))
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    single = [cross_val_score(model, f, y, cv=3).mean() for f in (image, text, audio)]
    fused = cross_val_score(model, np.hstack([image, text, audio]), y, cv=3).mean()
    assert fused > max(single) + 0.1, (single, fused)


def test_shortcut_modality_is_perfect_on_seen_groups_and_useless_on_new_ones():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_score

    data = make_multimodal_classification(n_samples=400, modalities=("image", "audio"),
                                          shortcut="audio", random_state=0)
    assert data.groups.shape == (400,) and set(data.groups) == {0, 1, 2, 3}
    # the shortcut's view names the (group, class) pair on every sample
    view = data.views[:, 1]
    np.testing.assert_array_equal(view // 4, data.groups)
    for g in range(4):
        rows = data.groups == g
        assert len(set(zip(view[rows], data.target[rows]))) == len(set(view[rows])) == 4
    # rendered tones: one spectral peak per view, read by a linear model
    spectra = np.abs(np.fft.rfft(np.stack(data.data["audio"])))[:, :2000]
    model = LogisticRegression(max_iter=2000)
    shuffled = cross_val_score(model, spectra, data.target,
                               cv=StratifiedKFold(4, shuffle=True, random_state=0)).mean()
    held_out = cross_val_score(model, spectra, data.target, groups=data.groups,
                               cv=GroupKFold(4)).mean()
    assert shuffled > 0.9 and held_out < 0.5
    without = make_multimodal_classification(n_samples=50, random_state=0)
    assert without.groups is None
    assert len(set(make_multimodal_classification(n_samples=80, n_groups=3,
                                                  random_state=0).groups)) == 3
    with pytest.raises(InvalidInputError, match="shortcut"):
        make_multimodal_classification(n_samples=10, modalities=("audio",), shortcut="audio")
    with pytest.raises(InvalidInputError, match="n_groups"):
        make_multimodal_classification(n_samples=10, n_groups=1)


def test_data_home_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("SKMM_DATA", str(tmp_path))
    assert get_data_home() == tmp_path
    assert get_data_home("/elsewhere") == __import__("pathlib").Path("/elsewhere")
    monkeypatch.delenv("SKMM_DATA")
    assert str(get_data_home()).endswith("skmm_data")


def test_loaders_without_data_and_without_download_say_how_to_fix(tmp_path):
    with pytest.raises(OSError, match="SKMM_DATA"):
        load_ag_news(data_home=tmp_path, download_if_missing=False)
    with pytest.raises(OSError, match="download_if_missing"):
        load_av_digits(data_home=tmp_path, download_if_missing=False)


def test_offline_download_fails_clearly(tmp_path, monkeypatch):
    import urllib.request

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(OSError, match="offline"):
        load_ag_news(data_home=tmp_path)
    assert not list((tmp_path / "ag_news").glob("*")), "no partial file left behind"


def test_checksum_mismatch_is_refused(tmp_path, monkeypatch):
    import io
    import urllib.request

    class FakeResponse(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: FakeResponse(b"tampered"))
    with pytest.raises(ValueError, match="Checksum mismatch"):
        load_ag_news(data_home=tmp_path)
    assert not (tmp_path / "ag_news" / "test.csv").exists()


@pytest.mark.realdata
def test_load_av_digits(fsdd_home):
    bunch = load_av_digits(data_home=fsdd_home)
    X, y = bunch.data, bunch.target
    assert X.shape == (3000, 2) and list(X.columns) == ["image", "audio"]
    assert np.bincount(y).tolist() == [300] * 10
    assert len(set(bunch.mnist_index)) == 3000, "no image is used twice"
    assert len(set(X["audio"])) == 3000, "no recording is used twice"
    assert X["image"][0].shape == (28, 28) and X["image"][0].dtype == np.uint8
    assert sorted(set(bunch.groups)) == [
        "george", "jackson", "lucas", "nicolas", "theo", "yweweler"
    ]
    # the digit of the image and of the recording agree
    from skmm.datasets._real import _mnist

    _, labels = _mnist(fsdd_home, False)
    np.testing.assert_array_equal(labels[bunch.mnist_index], y)
    assert all(f"/{d}_" in p for d, p in zip(y[:50], X["audio"][:50]))
    again = load_av_digits(data_home=fsdd_home)
    np.testing.assert_array_equal(again.mnist_index, bunch.mnist_index)


@pytest.mark.slow
@pytest.mark.realdata
def test_load_av_digits_hard_is_deterministic_and_harder(fsdd_home):
    clean = load_av_digits(data_home=fsdd_home)
    hard = load_av_digits(data_home=fsdd_home, variant="hard")
    again = load_av_digits(data_home=fsdd_home, variant="hard")
    np.testing.assert_array_equal(np.stack(hard.data["image"]), np.stack(again.data["image"]))
    wave, sr = hard.data["audio"][0]
    assert sr == 8000 and wave.dtype == np.float32
    np.testing.assert_array_equal(wave, again.data["audio"][0][0])
    assert not np.array_equal(np.stack(hard.data["image"]), np.stack(clean.data["image"]))
    assert "75%" in hard.DESCR and "dB SNR" in hard.DESCR
    with pytest.raises(ValueError, match="variant"):
        load_av_digits(data_home=fsdd_home, variant="medium")


@pytest.mark.realdata
def test_load_ag_news(ag_news_home):
    X, y = load_ag_news(data_home=ag_news_home, return_X_y=True)
    assert X.shape == (7600, 2) and list(X.columns) == ["title", "description"]
    assert np.bincount(y).tolist() == [1900] * 4
    assert all(isinstance(t, str) and t for t in X["title"][:100])
