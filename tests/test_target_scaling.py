"""FusionNetRegressor(target_scaling=True): standardised targets in training, y's units out."""

import pickle

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402
from sklearn.metrics import mean_squared_error, r2_score  # noqa: E402
from skorch.callbacks import EpochScoring  # noqa: E402

from skmm.exceptions import InvalidInputError  # noqa: E402
from skmm.nets import FusionNetRegressor  # noqa: E402

FAST = dict(hidden_sizes=(16,), lr=0.02, batch_size=32, random_state=0)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def multimodal_regression(n=300, seed=0):
    """An image and an audio block of features, and a target read from both."""
    rng = np.random.RandomState(seed)
    image, audio = rng.normal(size=(n, 8)), rng.normal(size=(n, 4))
    columns = [f"image__f{i}" for i in range(8)] + [f"audio__f{i}" for i in range(4)]
    X = pd.DataFrame(np.hstack([image, audio]).astype(np.float32), columns=columns)
    signal = image[:, :3] @ [1.0, -0.5, 0.8] + 1.5 * np.tanh(audio[:, :2] @ [1.5, -1.0])
    return X, signal + 0.2 * rng.normal(size=n)


def test_scaling_wins_on_a_target_of_large_scale():
    X, y = multimodal_regression()
    y = y * 1000 + 500
    params = dict(max_epochs=30, random_state=0)  # the defaults otherwise
    scaled = FusionNetRegressor(**params).fit(X, y)
    raw = FusionNetRegressor(target_scaling=False, **params).fit(X, y)
    r2_scaled, r2_raw = scaled.score(X, y), raw.score(X, y)
    assert r2_scaled > 0.9 and r2_raw < 0.5, (r2_scaled, r2_raw)


def test_the_inverse_is_applied_in_predict():
    X, y = multimodal_regression(120)
    y = 50.0 * y - 20.0
    net = FusionNetRegressor(max_epochs=5, **FAST).fit(X, y)
    np.testing.assert_allclose(net.target_mean_, [y.mean()], rtol=1e-5)
    np.testing.assert_allclose(net.target_scale_, [y.std()], rtol=1e-5)
    out = net._forward_numpy(X).astype(np.float64)  # the module's output: standardised units
    assert abs(out.mean()) < 1.0 and out.std() < 3.0
    np.testing.assert_allclose(net.predict(X), (out * y.std() + y.mean()).ravel(), rtol=1e-6)
    assert net.predict(X).shape == (len(X),) and net.predict(X).dtype == np.float64
    raw = FusionNetRegressor(target_scaling=False, max_epochs=5, **FAST).fit(X, y)
    assert raw.target_mean_ is None and raw.target_scale_ is None


def test_the_statistics_are_weighted_and_a_constant_target_keeps_scale_1():
    X, y = multimodal_regression(120)
    w = np.where(np.arange(len(y)) % 3 == 0, 0.0, 1.0 + np.arange(len(y)) % 2)
    net = FusionNetRegressor(max_epochs=1, **FAST).fit(X, y, sample_weight=w)
    mean = np.average(y, weights=w)
    np.testing.assert_allclose(net.target_mean_, [mean], rtol=1e-5)
    np.testing.assert_allclose(net.target_scale_,
                               [np.sqrt(np.average((y - mean) ** 2, weights=w))], rtol=1e-5)
    constant = FusionNetRegressor(max_epochs=3, **FAST).fit(X, np.full(len(X), 7.0))
    np.testing.assert_array_equal(constant.target_scale_, [1.0])
    np.testing.assert_allclose(constant.predict(X), 7.0, atol=0.5)


def test_multi_output_targets_of_very_different_scales_are_both_learnt():
    X, y = multimodal_regression(300)
    Y = np.column_stack([1e4 * y, 1e-2 * (X["audio__f0"].to_numpy() - y)])
    net = FusionNetRegressor(max_epochs=25, **FAST).fit(X, Y)
    assert net.target_scale_.shape == (2,) and net.target_mean_.shape == (2,)
    pred = net.predict(X)
    assert pred.shape == Y.shape
    r2 = r2_score(Y, pred, multioutput="raw_values")
    assert (r2 > 0.8).all(), r2
    raw = FusionNetRegressor(target_scaling=False, max_epochs=25, **FAST).fit(X, Y)
    # unscaled, the small target is lost in the large one's loss
    assert r2_score(Y[:, 1], raw.predict(X)[:, 1]) < 0.5


def test_partial_fit_keeps_the_first_scaling():
    X, y = multimodal_regression(120)
    net = FusionNetRegressor(max_epochs=1, **FAST)
    net.partial_fit(X[:60], y[:60])
    mean, scale = net.target_mean_.copy(), net.target_scale_.copy()
    net.partial_fit(X[60:], 100 * y[60:] + 5)
    np.testing.assert_array_equal(net.target_mean_, mean)
    np.testing.assert_array_equal(net.target_scale_, scale)
    net.fit(X, 100 * y + 5)  # a new fit: a new scaling
    assert net.target_mean_[0] != mean[0]


@pytest.mark.parametrize("params", [
    {"balance": "ume", "hidden_sizes": "auto"},
    {"balance": "gblend", "hidden_sizes": "auto"},
    {"early_stopping": 3, "balance": None},  # early stopping alone (groups: "auto" is "ume")
], ids=["ume", "gblend", "early_stopping"])
def test_balance_and_early_stopping_work_on_the_scaled_target(params):
    X, y = multimodal_regression()
    y = 300.0 * y + 1000.0
    groups = np.arange(len(y)) % 6
    net = FusionNetRegressor(max_epochs=30, **{**FAST, **params}).fit(X, y, groups=groups)
    pred = net.predict(X)
    assert np.isfinite(pred).all() and r2_score(y, pred) > 0.7
    losses = net.history[:, "train_loss"]
    assert losses[-1] < 1.0  # in standardised units
    if "early_stopping" in params:
        assert net.history[-1, "valid_loss"] < 1.0


def test_scoring_callbacks_see_the_target_in_its_units():
    X, y = multimodal_regression(120)
    y = 1000.0 * y + 500.0
    scoring = EpochScoring("neg_mean_squared_error", name="train_mse", on_train=True,
                           use_caching=False)
    net = FusionNetRegressor(max_epochs=3, callbacks=[scoring], **FAST).fit(X, y)
    expected = -mean_squared_error(y, net.predict(X))
    assert net.history[-1, "train_mse"] == pytest.approx(expected, rel=1e-4)


def test_clone_pickle_and_bad_values():
    X, y = multimodal_regression(90)
    net = FusionNetRegressor(max_epochs=2, **FAST).fit(X, 10 * y)
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(restored.predict(X), net.predict(X))
    assert clone(net).get_params()["target_scaling"] is True
    assert not hasattr(clone(net), "target_mean_")
    with pytest.raises(InvalidInputError, match="target_scaling must be a bool"):
        FusionNetRegressor(target_scaling="yes", max_epochs=1).fit(X, y)
