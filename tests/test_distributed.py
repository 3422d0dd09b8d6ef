"""Scale-out through joblib's Dask and Ray backends: the same search, the same results.

The first two tests run a toy extractor in the threads of an in-process Dask cluster (the
cache is shared). The others run skmm's own extractors and FusionNetClassifier in worker
*processes* -- a Dask LocalCluster and a local Ray -- and check that the search finds what
the local one finds, with the same fold scores.
"""

import collections
import os
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import RidgeClassifier
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline

import skmm
from skmm import AudioMFCC, FusionNetClassifier, ImagePixels, make_modality_union
from skmm._base import BaseExtractor
from skmm.datasets import make_multimodal_classification

from _ray import local_ray

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


# --- skmm's extractors and net, in worker processes -------------------------------------


def _scores(estimator, X, y):
    """A fold's log loss (continuous: any drift in training shows), and where it ran."""
    import torch

    proba = estimator.predict_proba(X)
    return {
        "neg_log_loss": -log_loss(y, proba, labels=estimator.classes_),
        "pid": os.getpid(),
        "torch_threads": torch.get_num_threads(),
    }


def _fusion_search(n_jobs=None):
    model = make_pipeline(
        make_modality_union({"image": ImagePixels(size=8), "audio": AudioMFCC(n_mfcc=13)}),
        FusionNetClassifier(max_epochs=10, random_state=0),
    )
    grid = {"fusionnetclassifier__fusion": ["concat", "gated", "attention"]}
    return GridSearchCV(model, grid, cv=KFold(3, shuffle=True, random_state=0),
                        scoring=_scores, refit="neg_log_loss", n_jobs=n_jobs)


def _fusion_data():
    return make_multimodal_classification(
        n_samples=90, modalities=("image", "audio"), image_size=8, random_state=0,
        return_X_y=True,
    )


def _skmm_file():
    """Where this process finds skmm (located, not imported: no torch start-up)."""
    import importlib.util

    return importlib.util.find_spec("skmm").origin


@pytest.fixture(scope="module")
def local_fusion_search(one_torch_thread):
    # one torch thread, as in the workers: Dask and Ray set OMP_NUM_THREADS=1 in them
    return _fusion_search().fit(*_fusion_data())


def _per_fold(search, metric):
    results = search.cv_results_
    return np.stack([results[f"split{i}_test_{metric}"] for i in range(search.n_splits_)])


def _assert_same_search(remote, local, worker_pids):
    pids = set(_per_fold(remote, "pid").astype(int).ravel())
    assert os.getpid() not in pids  # the folds ran in other processes...
    assert worker_pids is None or pids <= worker_pids  # ...the cluster's workers
    # Same code, data and seeds: the nets are bitwise the same when torch runs one thread on
    # both sides (a different thread count moves the probabilities by ~1e-7).
    assert set(_per_fold(local, "torch_threads").ravel()) == {1}
    assert set(_per_fold(remote, "torch_threads").ravel()) == {1}, "set OMP_NUM_THREADS=1"
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(
        _per_fold(remote, "neg_log_loss"), _per_fold(local, "neg_log_loss")
    )
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_neg_log_loss"], local.cv_results_["mean_test_neg_log_loss"]
    )


@pytest.fixture(scope="module")
def process_client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.mark.slow
# the in-process cluster above holds port 8787 for its (dashboard-less) HTTP server
@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")
def test_dask_processes_search_over_skmm_net_matches_local(process_client, local_fusion_search):
    # the workers run this skmm, not another copy on their path
    assert set(process_client.run(_skmm_file).values()) == {_skmm_file()}
    with joblib.parallel_config(backend="dask"):  # as in the README: the search's n_jobs=None
        remote = _fusion_search().fit(*_fusion_data())
    worker_pids = set(process_client.run(os.getpid).values())
    _assert_same_search(remote, local_fusion_search, worker_pids)


@pytest.fixture(scope="module")
def ray_local():
    with local_ray(sys.modules[__name__]) as ray:
        from ray.util.joblib import register_ray

        register_ray()
        yield ray


@pytest.mark.slow
def test_ray_search_over_skmm_net_matches_local(ray_local, local_fusion_search):
    assert ray_local.get(ray_local.remote(_skmm_file).remote()) == _skmm_file()
    with joblib.parallel_config(backend="ray"):
        # as the README says: Ray's backend runs n_jobs=None in this process...
        assert joblib.effective_n_jobs(None) == 1
        # ...so the search asks for -1 (the refit's extractors then stay here)
        remote = _fusion_search(n_jobs=-1).fit(*_fusion_data())
    _assert_same_search(remote, local_fusion_search, worker_pids=None)
