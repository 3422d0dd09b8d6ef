"""Conformance: every public estimator of skmm, discovered automatically, follows the contract.

Each estimator is listed with small inputs it accepts (by modality), then run through
scikit-learn's data-free checks and skmm's own: fit returns self, the output is 2-D float32
with one row per sample, the feature names match, clone gives an unfitted copy, a pickle
round trip gives identical output, and ``set_output(transform="pandas")`` works.
"""

import inspect
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone, is_classifier, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as checks

import skmm
from skmm.datasets import make_multimodal_classification

from conftest import tiny_wav2vec2_folder

# Estimators that need constructor arguments to be runnable in a test (kept tiny); a
# callable value is called when the estimator is made (a model folder written on demand).
TEST_PARAMS = {
    "AudioEmbedder": {"model": tiny_wav2vec2_folder, "device": "cpu", "stats": ("mean", "std")},
    "FusionNetClassifier": {"hidden_sizes": (8,), "max_epochs": 2},
    "FusionNetRegressor": {"hidden_sizes": (8,), "max_epochs": 2},
}

# Modality of each single-column extractor, found from its name prefix.
_MODALITY_PREFIX = {"Audio": "audio", "Image": "image", "Text": "text"}


def public_estimators():
    """(name, class) for every estimator class exported by skmm."""
    found = []
    for name in skmm.__all__:
        obj = getattr(skmm, name)
        if inspect.isclass(obj) and issubclass(obj, BaseEstimator):
            found.append((name, obj))
    return found


def make_estimator(cls):
    params = {k: v() if callable(v) else v for k, v in TEST_PARAMS.get(cls.__name__, {}).items()}
    if "random_state" in inspect.signature(cls).parameters:
        params.setdefault("random_state", 0)
    return cls(**params)


def sample_input(cls, n=24):
    data = make_multimodal_classification(n_samples=n, random_state=0)
    for prefix, modality in _MODALITY_PREFIX.items():
        if cls.__name__.startswith(prefix):
            return data.data[[modality]], data.target
    X = np.random.RandomState(0).normal(size=(n, 5)).astype(np.float32)
    return X, data.target % 2


ESTIMATORS = public_estimators()
IDS = [name for name, _ in ESTIMATORS]

DATA_FREE_CHECKS = [
    checks.check_parameters_default_constructible,
    checks.check_no_attributes_set_in_init,
    checks.check_get_params_invariance,
    checks.check_set_params,
    checks.check_estimator_repr,
    checks.check_estimator_cloneable,
    checks.check_estimator_tags_renamed,
    checks.check_valid_tag_types,
    checks.check_mixin_order,
]


def test_every_public_class_is_an_estimator_or_an_error():
    for name in skmm.__all__:
        obj = getattr(skmm, name)
        if inspect.isclass(obj):
            assert issubclass(obj, (BaseEstimator, Exception)) or name in (
                "FeatureCache",
                "TextTokenizer",
            ), name


@pytest.mark.parametrize("name, cls", ESTIMATORS, ids=IDS)
@pytest.mark.parametrize("check", DATA_FREE_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_data_free_checks(name, cls, check):
    estimator = make_estimator(cls)
    params = inspect.signature(check).parameters
    if "tags" in params:
        check(name, estimator, estimator.__sklearn_tags__())
    else:
        check(name, estimator)


@pytest.mark.parametrize("name, cls", ESTIMATORS, ids=IDS)
def test_skmm_contract(name, cls):
    X, y = sample_input(cls)
    estimator = make_estimator(cls)
    assert estimator.fit(X, y) is estimator
    unfitted = clone(estimator)
    with pytest.raises(NotFittedError):
        (unfitted.transform if hasattr(unfitted, "transform") else unfitted.predict)(X)
    assert unfitted.get_params() == clone(unfitted).get_params()
    restored = pickle.loads(pickle.dumps(estimator))
    if hasattr(estimator, "transform"):
        out = estimator.transform(X)
        assert isinstance(out, np.ndarray) and out.dtype == np.float32
        assert out.ndim == 2 and out.shape[0] == len(X)
        assert np.isfinite(out).all()
        names = estimator.get_feature_names_out()
        assert len(names) == out.shape[1] and len(set(names)) == len(names)
        np.testing.assert_array_equal(restored.transform(X), out)
        frame = clone(estimator).set_output(transform="pandas").fit(X, y).transform(X)
        assert isinstance(frame, pd.DataFrame) and list(frame.columns) == list(names)
    else:
        assert is_classifier(estimator) or is_regressor(estimator)
        np.testing.assert_array_equal(restored.predict(X), estimator.predict(X))


def _output(estimator, X):
    return estimator.transform(X) if hasattr(estimator, "transform") else estimator.predict(X)


@pytest.mark.parametrize("name, cls", ESTIMATORS, ids=IDS)
def test_two_fits_with_a_fixed_random_state_are_identical(name, cls):
    X, y = sample_input(cls)
    first = _output(make_estimator(cls).fit(X, y), X)
    second = _output(make_estimator(cls).fit(X, y), X)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name, cls", ESTIMATORS, ids=IDS)
def test_joblib_round_trip_gives_identical_output(name, cls, tmp_path):
    import joblib

    X, y = sample_input(cls)
    estimator = make_estimator(cls).fit(X, y)
    joblib.dump(estimator, tmp_path / "model.joblib")
    np.testing.assert_array_equal(_output(joblib.load(tmp_path / "model.joblib"), X),
                                  _output(estimator, X))
