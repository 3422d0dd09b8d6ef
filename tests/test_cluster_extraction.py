"""Extraction on a cluster (skmm.distributed.extract_to_parquet): Dask and Ray worker
processes write the same features as a local transform, bit for bit, even when a worker
is killed in the middle; the workers share one feature cache."""

import os
import signal
import contextlib
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

from skmm import AudioLogMel, FeatureCache, ImagePixels, make_modality_union
from skmm.datasets import make_multimodal_classification
from skmm.distributed import extract_to_parquet
from skmm.exceptions import InvalidInputError
from skmm.store import FeatureStore

from _ray import local_ray

distributed = pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")
pytest.importorskip("pyarrow")
import dask  # noqa: E402 (after the skip)


def _table(n=120):
    X, y = make_multimodal_classification(n_samples=n, modalities=("image", "audio"),
                                          random_state=0, return_X_y=True)
    return X, y


def _union(cache=None):
    return make_modality_union({
        "image": ImagePixels(size=(8, 8), cache=cache),
        "audio": AudioLogMel(n_mels=16, stats=("mean", "std"), cache=cache),
    })


def _dask_frame(X, npartitions):
    # arrays in cells: keep them objects (Dask would turn object columns into strings)
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_pandas(X, npartitions=npartitions)


def _features(folder, tmp_path):
    return FeatureStore.from_parquet(folder, tmp_path / f"store-{os.path.basename(folder)}")


@contextlib.contextmanager
def deadline(seconds):
    """Fail the block (TimeoutError) if it runs longer than ``seconds``: a fault test that
    hangs must fail, not stall the suite."""
    def expire(*_):
        raise TimeoutError(f"the run did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class KillOnce(TransformerMixin, BaseEstimator):
    """A fitted transformer whose first call on the partition holding row ``victim``
    SIGKILLs its own worker process (marked by a file, so the rerun goes through)."""

    def __init__(self, inner, marker, victim):
        self.inner, self.marker, self.victim = inner, marker, victim

    def __sklearn_is_fitted__(self):
        return True

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        if self.victim in set(X["row"]) and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return self.inner.transform(X.drop(columns="row"))

    def get_feature_names_out(self, input_features=None):
        return self.inner.get_feature_names_out()


@pytest.fixture(scope="module")
def cluster():
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # KillOnce to the workers
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cl, distributed.Client(cl) as c:
        yield c
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")
def test_dask_workers_write_the_local_features_and_share_the_cache(cluster, tmp_path):
    X, y = _table()
    cache = FeatureCache(tmp_path / "cache")
    union = _union(cache).fit(X, y)
    local = np.asarray(_union().fit(X, y).transform(X), dtype=np.float32)

    first = tmp_path / "first"
    names = extract_to_parquet(union, _dask_frame(X, 5), first)
    assert sorted(os.listdir(first)) == [f"part.{i:06d}.parquet" for i in range(5)]
    store = _features(first, tmp_path)
    assert store.columns == names == list(union.get_feature_names_out())
    np.testing.assert_array_equal(store.to_numpy(), local)  # bit for bit

    # the workers filled the shared cache: a rerun on other workers reads every row
    pids = set(cluster.run(os.getpid).values())
    assert len(pids) == 2
    cached = cache.stats()["entries"]
    assert cached >= 2 * len(X)  # image and audio rows
    second = tmp_path / "second"
    extract_to_parquet(union, _dask_frame(X, 3), second)
    assert cache.stats()["entries"] == cached  # nothing recomputed
    np.testing.assert_array_equal(_features(second, tmp_path).to_numpy(), local)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")
def test_a_dask_worker_killed_in_the_middle_changes_nothing(cluster, tmp_path):
    X, y = _table()
    union = _union().fit(X, y)
    local = np.asarray(union.transform(X), dtype=np.float32)
    marker = tmp_path / "killed"
    killer = KillOnce(union, str(marker), victim=70)
    out = tmp_path / "out"
    frame = _dask_frame(X.assign(row=np.arange(len(X))), 6)
    with deadline(240):
        extract_to_parquet(killer, frame, out)
    assert marker.exists()  # a worker did die
    np.testing.assert_array_equal(_features(out, tmp_path).to_numpy(), local)


def test_refuses_other_inputs_and_a_folder_with_parquet(tmp_path):
    X, y = _table(20)
    union = _union().fit(X, y)
    with pytest.raises(InvalidInputError, match="dask.dataframe.DataFrame or a ray.data"):
        extract_to_parquet(union, X, tmp_path)
    (tmp_path / "old.parquet").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="already holds Parquet files"):
        extract_to_parquet(union, _dask_frame(X, 2), tmp_path)


@pytest.fixture(scope="module")
def ray_data():
    pytest.importorskip("ray.data")
    with local_ray(sys.modules[__name__], log_to_driver=False) as ray:
        yield ray


@pytest.mark.slow
def test_ray_workers_write_the_local_features_even_when_one_is_killed(ray_data, tmp_path):
    X, y = _table()
    union = _union().fit(X, y)
    local = np.asarray(union.transform(X), dtype=np.float32)

    plain = tmp_path / "plain"
    extract_to_parquet(union, ray_data.data.from_pandas(X).repartition(4), plain)
    np.testing.assert_array_equal(_features(plain, tmp_path).to_numpy(), local)

    marker = tmp_path / "killed"
    killer = KillOnce(union, str(marker), victim=70)
    out = tmp_path / "out"
    table = ray_data.data.from_pandas(X.assign(row=np.arange(len(X)))).repartition(4)
    with deadline(300):
        extract_to_parquet(killer, table, out, engine_options={"max_retries": 3})
    assert marker.exists()
    np.testing.assert_array_equal(_features(out, tmp_path).to_numpy(), local)


def test_transform_partition_refuses_sparse_output():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from skmm.distributed import transform_partition

    tfidf = TfidfVectorizer().fit(["apple pie", "pie crust"])
    with pytest.raises(InvalidInputError, match="sparse"):
        transform_partition(pd.Series(["apple pie"]), tfidf, list(tfidf.get_feature_names_out()))
