"""Reliability across the package: persistence of whole pipelines, parallel determinism,
and concurrent use of one data home."""

import hashlib
import io
import pickle
import threading

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline

from skmm import AudioLogMel, FusionNetClassifier, ImagePixels, TextTokenIds, make_modality_union
from skmm.datasets import load_ag_news, make_multimodal_classification

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _pipeline(**net_params):
    features = make_modality_union({
        "image": ImagePixels(size=(8, 8), mode="L", add_indicator=True),
        "text": TextTokenIds(max_length=12, add_indicator=True),
        "audio": AudioLogMel(n_mels=16, add_indicator=True),
    })
    params = dict(max_epochs=4, hidden_sizes=(16,), branch_width=16, random_state=0)
    params.update(net_params)
    return make_pipeline(features, FusionNetClassifier(**params))


@pytest.fixture(scope="module")
def data():
    return make_multimodal_classification(n_samples=90, missing=0.15, random_state=0,
                                          return_X_y=True)


def test_a_fitted_multimodal_pipeline_round_trips_through_pickle_and_joblib(data, tmp_path):
    X, y = data
    model = _pipeline(fusion="attention").fit(X, y)
    expected = model.predict_proba(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict_proba(X), expected)
    joblib.dump(model, tmp_path / "model.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "model.joblib").predict_proba(X), expected)


def test_two_fits_of_a_multimodal_pipeline_agree(data):
    X, y = data
    first = _pipeline(fusion="gated").fit(X, y).predict_proba(X)
    second = _pipeline(fusion="gated").fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)


@pytest.mark.slow
def test_grid_search_with_two_jobs_gives_the_same_results_as_one(data):
    X, y = data
    grid = {"fusionnetclassifier__fusion": ["concat", "sum"]}
    cv = KFold(2, shuffle=True, random_state=0)
    serial = GridSearchCV(_pipeline(), grid, cv=cv, n_jobs=1).fit(X, y)
    parallel = GridSearchCV(_pipeline(), grid, cv=cv, n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(serial.cv_results_["mean_test_score"],
                                  parallel.cv_results_["mean_test_score"])
    assert serial.best_params_ == parallel.best_params_


@pytest.mark.realdata
def test_concurrent_downloads_into_one_data_home_lose_and_corrupt_nothing(
    ag_news_home, tmp_path, monkeypatch
):
    import urllib.request

    payload = (ag_news_home / "ag_news" / "test.csv").read_bytes()

    class SlowResponse(io.BytesIO):
        def read(self, *args):
            threading.Event().wait(0.001)
            return super().read(*args)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: SlowResponse(payload))
    results, errors = [], []

    def load():
        try:
            results.append(load_ag_news(data_home=tmp_path, return_X_y=True))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 4 and all(len(X) == 7600 for X, _ in results)
    stored = (tmp_path / "ag_news" / "test.csv").read_bytes()
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(payload).hexdigest()
    assert sorted(p.name for p in (tmp_path / "ag_news").iterdir()) == ["test.csv"]
