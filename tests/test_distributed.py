"""Scale-out through joblib's Dask backend: the same search on a LocalCluster, sharing the cache."""

import collections

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

import skmm
from skmm._base import BaseExtractor

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

COMPUTED = collections.Counter()


class Moments(BaseExtractor):
    """Row [mean, std, max] of a 1-D array cell; counts extractions."""

    def __init__(self, batch_size=8, cache=None):
        self.batch_size = batch_size
        self.cache = cache

    def _decode_cell(self, cell):
        return np.asarray(cell, dtype=np.float64)

    def _extract_batch(self, decoded):
        for arr in decoded:
            COMPUTED[arr.tobytes()] += 1
        return np.array([[a.mean(), a.std(), a.max()] for a in decoded], dtype=np.float32)

    def _feature_names(self):
        return ["mean", "std", "max"]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _data():
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    cells = [rng.normal(loc=0.4 * label, scale=1.0 + label, size=30) for label in y]
    return pd.Series(cells, name="signal"), y


def _search(n_jobs):
    pipe = make_pipeline(Moments(), RidgeClassifier())
    grid = {"ridgeclassifier__alpha": np.logspace(-2, 4, 8)}
    return GridSearchCV(pipe, grid, cv=5, n_jobs=n_jobs)


def test_dask_search_finds_the_local_best_and_reads_the_shared_cache(client, tmp_path):
    X, y = _data()
    COMPUTED.clear()
    with skmm.config_context(cache=str(tmp_path)):
        local = _search(n_jobs=1).fit(X, y)
        assert len(COMPUTED) == 60 and set(COMPUTED.values()) == {1}
        COMPUTED.clear()
        with distributed.get_task_stream(client) as tasks:
            with joblib.parallel_config(backend="dask"):
                remote = _search(n_jobs=-1).fit(X, y)
    assert len(tasks.data) > 0  # the folds ran on the cluster
    assert sum(COMPUTED.values()) == 0  # its worker threads read what the local search stored
    assert remote.best_params_ == local.best_params_
    np.testing.assert_allclose(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )


def test_dask_search_without_a_cache_matches_too(client):
    X, y = _data()
    local = _search(n_jobs=1).fit(X, y)
    COMPUTED.clear()
    with joblib.parallel_config(backend="dask"):
        remote = _search(n_jobs=-1).fit(X, y)
    assert sum(COMPUTED.values()) > 60  # no cache: every fit extracts again
    assert remote.best_params_ == local.best_params_
