"""FeatureStore: the nets train and predict from features on disk as from the same rows in
memory (bit for bit), with memory bounded by the batch; interrupted writers and fits, and a
full disk, leave nothing corrupt behind."""

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from skmm import ImagePixels, TabularEncoder, make_modality_union
from skmm.datasets import make_multimodal_classification
from skmm.exceptions import InvalidInputError
from skmm.nets import FusionNetClassifier, FusionNetRegressor
from skmm.store import META_FILE, FeatureStore, natural_key


@pytest.fixture(scope="module")
def features():
    X, y = make_multimodal_classification(
        n_samples=240, modalities=("image", "price", "category"), random_state=0,
        return_X_y=True)
    union = make_modality_union({"image": ImagePixels(size=(8, 8)),
                                 "shop": (TabularEncoder(), ["price", "category"])})
    return union.set_output(transform="pandas").fit_transform(X, y), y


def test_a_store_round_trips_rows_names_and_missing_values(tmp_path):
    frame = pd.DataFrame(np.arange(40, dtype=np.float32).reshape(10, 4), columns=list("abcd"))
    frame.iloc[3, 1] = np.nan
    store = FeatureStore.from_frame(frame, tmp_path / "s", chunk_rows=3)
    assert store.shape == (10, 4) and store.columns == list("abcd")
    assert store.nonfinite_columns == [1]
    np.testing.assert_array_equal(store.to_numpy(), frame.to_numpy())
    np.testing.assert_array_equal(store.rows([9, 0, 9]), frame.to_numpy()[[9, 0, 9]])
    assert [start for start, _ in store.iter_chunks(4)] == [0, 4, 8]
    store.verify()
    import pickle

    assert pickle.loads(pickle.dumps(store)) == store
    with pytest.raises(IndexError, match="out of range"):
        store.rows([10])


def test_parquet_files_are_read_in_natural_order(tmp_path):
    pytest.importorskip("pyarrow")
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in (10, 2, 1):
        pd.DataFrame({"x": [float(i)]}).to_parquet(folder / f"part.{i}.parquet", index=False)
    store = FeatureStore.from_parquet(folder, tmp_path / "s")
    assert store.to_numpy().ravel().tolist() == [1.0, 2.0, 10.0]
    assert sorted(["b10", "b9", "a"], key=natural_key) == ["a", "b9", "b10"]


@pytest.mark.parametrize("early_stopping", [None, 3])
def test_a_fit_from_a_store_equals_the_fit_in_memory(features, tmp_path, early_stopping):
    F, y = features
    store = FeatureStore.from_frame(F, tmp_path / "s", chunk_rows=50)
    params = dict(max_epochs=3, random_state=0, early_stopping=early_stopping, batch_size=32)
    in_memory = FusionNetClassifier(**params).fit(F, y)
    streamed = FusionNetClassifier(**params).fit(store, y)
    np.testing.assert_array_equal(streamed.predict_proba(store), in_memory.predict_proba(F))
    np.testing.assert_array_equal(streamed.predict(F), in_memory.predict(F))
    assert list(streamed.feature_names_in_) == list(F.columns)
    assert streamed.score(store, y) == in_memory.score(F, y)


def test_a_regressor_with_weights_and_groups_streams_too(features, tmp_path):
    F, y = features
    store = FeatureStore.from_frame(F, tmp_path / "s")
    target = y.astype(float) + F.iloc[:, 0].to_numpy()
    weights = 1.0 + (np.arange(len(y)) % 3)
    groups = np.arange(len(y)) % 6
    params = dict(max_epochs=2, random_state=0, early_stopping=2)
    a = FusionNetRegressor(**params).fit(F, target, sample_weight=weights, groups=groups)
    b = FusionNetRegressor(**params).fit(store, target, sample_weight=weights, groups=groups)
    np.testing.assert_array_equal(b.predict(store), a.predict(F))


def test_a_balanced_fit_with_groups_streams_too(features, tmp_path):
    F, y = features
    store = FeatureStore.from_frame(F, tmp_path / "s")
    groups = np.arange(len(y)) % 5
    a = FusionNetClassifier(max_epochs=2, random_state=0).fit(F, y, groups=groups)
    b = FusionNetClassifier(max_epochs=2, random_state=0).fit(store, y, groups=groups)
    assert b.balance_in_use_ == "ume"  # "auto" with groups
    np.testing.assert_array_equal(b.predict_proba(store), a.predict_proba(F))


def test_a_store_with_other_columns_or_rows_is_refused(features, tmp_path):
    F, y = features
    net = FusionNetClassifier(max_epochs=1, random_state=0).fit(F, y)
    other = FeatureStore.from_frame(F.iloc[:, :-1], tmp_path / "narrow")
    with pytest.raises(InvalidInputError, match="features, but FusionNetClassifier is expecting"):
        net.predict(other)
    renamed = FeatureStore.from_frame(F.rename(columns={F.columns[0]: "image__other"}),
                                      tmp_path / "renamed")
    with pytest.raises(InvalidInputError, match="column names differ"):
        net.predict(renamed)
    store = FeatureStore.from_frame(F, tmp_path / "s")
    with pytest.raises(InvalidInputError, match="y holds 10 rows"):
        FusionNetClassifier(max_epochs=1).fit(store, y[:10])


def test_infinite_values_in_a_store_name_its_rows(features, tmp_path):
    F, y = features
    bad = F.copy()
    bad.iloc[100, 0] = np.inf
    store = FeatureStore.from_frame(bad, tmp_path / "s", chunk_rows=64)
    with pytest.raises(InvalidInputError, match=r"feature store .* rows 0 to 239.*rows \[100\]"):
        FusionNetClassifier(max_epochs=1).fit(store, y)


def test_an_unfinished_store_is_refused_and_a_rewrite_replaces_it(features, tmp_path):
    F, _ = features
    folder = tmp_path / "s"
    FeatureStore.from_frame(F, folder)
    os.remove(folder / META_FILE)  # as a writer killed before its last step leaves it
    with pytest.raises(InvalidInputError, match="no complete feature store"):
        FeatureStore(folder)
    assert FeatureStore.from_frame(F.iloc[:10], folder).shape == (10, F.shape[1])
    with open(folder / "features.f32", "ab") as fh:  # a damaged data file
        fh.write(b"\0\0\0\0")
    with pytest.raises(InvalidInputError, match="damaged"):
        FeatureStore(folder)


def _run(code, *args, limit_fsize=None, timeout=120):
    """Run ``code`` in a fresh Python (optionally under a file-size limit, as a full disk
    or a quota would stop writes: EFBIG); return the CompletedProcess."""
    prelude = ""
    if limit_fsize is not None:
        prelude = textwrap.dedent(f"""
            import resource, signal
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_fsize}, {limit_fsize}))
        """)
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_full_disk_while_writing_a_store_is_a_clear_error_and_leaves_nothing(tmp_path):
    folder = tmp_path / "s"
    result = _run("""
        import sys, numpy as np, pandas as pd
        from skmm.store import FeatureStore
        frame = pd.DataFrame(np.ones((50_000, 8), np.float32), columns=[f"c{j}" for j in range(8)])
        try:
            FeatureStore.from_frame(frame, sys.argv[1], chunk_rows=1000)
        except OSError as exc:
            print("ERROR", exc)
    """, folder, limit_fsize=200_000)
    assert "ERROR" in result.stdout, result.stderr
    assert f"could not write the feature store '{folder}'" in result.stdout
    assert os.listdir(folder) == []  # no temporary file, no store.json
    with pytest.raises(InvalidInputError, match="no complete feature store"):
        FeatureStore(folder)


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_full_disk_while_filling_the_cache_warns_and_extraction_goes_on(tmp_path):
    cache = tmp_path / "cache"
    result = _run("""
        import sys, warnings, numpy as np
        from skmm import FeatureCache, ImagePixels
        images = [np.random.default_rng(i).integers(0, 255, (32, 32, 3), np.uint8) for i in range(300)]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = ImagePixels(size=(32, 32), cache=FeatureCache(sys.argv[1])).fit_transform(images)
        expected = ImagePixels(size=(32, 32)).fit_transform(images)
        print("EQUAL", np.array_equal(out, expected))
        print("WARNED", [str(w.message) for w in caught if "feature cache" in str(w.message)])
        print("CORRUPT-FREE", FeatureCache(sys.argv[1]).stats())
    """, cache, limit_fsize=100_000)
    assert "EQUAL True" in result.stdout, result.stderr
    assert f"could not write to the feature cache '{cache}'" in result.stdout
    # what was written is whole packs: a reread finds them intact
    reread = _run("""
        import sys, numpy as np
        from skmm import FeatureCache, ImagePixels
        from skmm.cache import _packs
        images = [np.random.default_rng(i).integers(0, 255, (32, 32, 3), np.uint8) for i in range(300)]
        out = ImagePixels(size=(32, 32), cache=FeatureCache(sys.argv[1])).fit_transform(images)
        print("EQUAL", np.array_equal(out, ImagePixels(size=(32, 32)).fit_transform(images)))
        print("CORRUPT", _packs.counters["corrupt"])
    """, cache)
    assert "EQUAL True" in reread.stdout and "CORRUPT 0" in reread.stdout, reread.stderr
    assert not [n for n in os.listdir(cache) if n.endswith(".tmp")]


def test_a_writer_killed_in_the_middle_leaves_a_store_that_is_refused(tmp_path):
    folder = tmp_path / "s"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time, numpy as np
        from skmm.store import FeatureStore
        def chunks():
            for i in range(10_000):
                if i == 3:
                    print("WRITING", flush=True)
                time.sleep(0.01)
                yield np.full((100, 4), i, np.float32)
        FeatureStore.write(sys.argv[1], chunks(), columns=list("abcd"))
    """), str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "WRITING"
    proc.kill()
    proc.wait(timeout=30)
    with pytest.raises(InvalidInputError, match="no complete feature store"):
        FeatureStore(folder)
    store = FeatureStore.write(folder, [np.ones((5, 4), np.float32)], columns=list("abcd"))
    assert store.shape == (5, 4)
    assert sorted(os.listdir(folder)) == sorted([META_FILE, "features.f32"])  # leftovers removed


def test_a_streamed_fit_killed_in_the_middle_leaves_the_store_intact(features, tmp_path):
    F, y = features
    big = pd.concat([F] * 20, ignore_index=True)
    store = FeatureStore.from_frame(big, tmp_path / "s")
    np.save(tmp_path / "y.npy", np.tile(y, 20))
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, numpy as np
        from skmm.nets import FusionNetClassifier
        from skmm.store import FeatureStore
        store, y = FeatureStore(sys.argv[1]), np.load(sys.argv[2])
        net = FusionNetClassifier(max_epochs=1000, random_state=0, batch_size=64)
        print("FITTING", flush=True)
        net.fit(store, y)
    """), str(store.path), str(tmp_path / "y.npy")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "FITTING"
    time.sleep(3)  # in the middle of the epochs
    assert proc.poll() is None
    proc.kill()
    proc.wait(timeout=30)
    reopened = FeatureStore(store.path).verify()  # CRC of every row as written
    np.testing.assert_array_equal(reopened.to_numpy(), big.to_numpy())
    net = FusionNetClassifier(max_epochs=1, random_state=0).fit(reopened, np.tile(y, 20))
    assert net.score(reopened, np.tile(y, 20)) > 0.3


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="Linux peak-RSS reset")
def test_a_streamed_fit_holds_the_batch_and_the_model_not_the_rows(tmp_path):
    # 60,000 rows x 256 features = 61 MB on disk; the fit from the store must add far less
    # than that to the process's peak memory
    result = _run("""
        import sys, numpy as np
        from skmm.nets import FusionNetClassifier
        from skmm.store import FeatureStore
        rng = np.random.default_rng(0)
        chunks = (rng.standard_normal((5_000, 256), dtype=np.float32) for _ in range(12))
        store = FeatureStore.write(sys.argv[1], chunks, columns=[f"x{j}" for j in range(256)])
        y = (np.arange(len(store)) % 2)
        def net():
            return FusionNetClassifier(max_epochs=1, batch_size=512, early_stopping=None,
                                       hidden_sizes=(32,), random_state=0)
        net().fit(store.rows(np.arange(1024)), y[:1024])  # one-time allocations first
        def status(field):
            return int(next(l for l in open("/proc/self/status") if l.startswith(field)).split()[1])
        open("/proc/self/clear_refs", "w").write("5")
        start = status("VmRSS")
        net().fit(store, y)
        print("ADDED_MB", (status("VmHWM") - start) / 1024, store.nbytes / 2**20)
    """, tmp_path / "s", timeout=300)
    assert "ADDED_MB" in result.stdout, result.stderr
    added, size = map(float, result.stdout.split("ADDED_MB")[1].split())
    assert size > 55
    assert added < size / 2, (added, size)
