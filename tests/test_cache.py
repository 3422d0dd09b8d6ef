"""The feature cache: keys, hits and misses across clones, folds and processes, corruption."""

import collections
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

import skmm
from skmm._base import BaseExtractor
from skmm._column import CellError
from skmm.cache import FeatureCache, _packs, as_feature_cache
from skmm.cache._fingerprint import cell_key, cell_keys, extractor_fingerprint
from skmm.exceptions import InvalidInputError

# cell content -> times extracted, shared by every clone
COMPUTED = collections.Counter()


class CountingExtractor(BaseExtractor):
    """Row [scale * mean, scale * max, length] of a 1-D numeric array; counts extractions."""

    def __init__(self, scale=1.0, batch_size=4, n_jobs=1, on_error="raise",
                 add_indicator=False, verbose=False, cache=None):
        self.scale = scale
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.on_error = on_error
        self.add_indicator = add_indicator
        self.verbose = verbose
        self.cache = cache

    def _decode_cell(self, cell):
        arr = np.asarray(cell, dtype=np.float64)
        if arr.ndim != 1 or not np.all(np.isfinite(arr)):
            raise CellError("expected a finite 1-D array")
        return arr

    def _extract_batch(self, decoded):
        for arr in decoded:
            COMPUTED[arr.tobytes()] += 1
        return np.array(
            [[self.scale * a.mean(), self.scale * a.max(), len(a)] for a in decoded],
            dtype=np.float32,
        )

    def _feature_names(self):
        return ["mean", "max", "length"]


class CenteredExtractor(CountingExtractor):
    """Learns the training mean in fit: its fitted state changes the output."""

    def _fit_decoded(self, decoded, y=None):
        self.center_ = float(np.mean([a.mean() for a in decoded]))

    def _extract_batch(self, decoded):
        return super()._extract_batch(decoded) - np.float32(self.center_)


class FileSizeExtractor(CountingExtractor):
    """Row [n_bytes, byte sum] of a file path cell."""

    def _decode_cell(self, cell):
        with open(cell, "rb") as fh:
            return np.frombuffer(fh.read(), dtype=np.uint8).astype(np.float64)


@pytest.fixture(autouse=True)
def _reset_counter():
    COMPUTED.clear()
    yield
    COMPUTED.clear()


def make_cells(n, seed=0, length=5):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=length) for _ in range(n)]


def expected_rows(cells, scale=1.0):
    return np.array([[scale * c.mean(), scale * c.max(), len(c)] for c in cells], dtype=np.float32)


def entries(cache):
    return cache.stats()["entries"]


def test_grid_search_extracts_each_unique_sample_once_per_cache(tmp_path):
    cells = make_cells(38)
    cells += [cells[0].copy(), cells[1].copy()]  # duplicates by content, other objects
    X = pd.Series(cells, name="signal")
    y = np.array([int(c.mean() > 0) for c in cells])
    grid = {"ridgeclassifier__alpha": np.logspace(-3, 3, 8)}

    def search(cache):
        pipe = make_pipeline(CountingExtractor(cache=cache), RidgeClassifier())
        return GridSearchCV(pipe, grid, cv=5).fit(X, y)

    cached = search(FeatureCache(tmp_path / "cache"))
    assert len(COMPUTED) == 38
    assert set(COMPUTED.values()) == {1}
    assert entries(FeatureCache(tmp_path / "cache")) == 38

    COMPUTED.clear()
    uncached = search(None)
    assert sum(COMPUTED.values()) > 8 * 38  # every fold and candidate extracts again
    assert cached.best_params_ == uncached.best_params_
    np.testing.assert_array_equal(
        cached.cv_results_["mean_test_score"], uncached.cv_results_["mean_test_score"]
    )

    COMPUTED.clear()
    search(str(tmp_path / "cache"))  # a plain path string names the same store
    assert sum(COMPUTED.values()) == 0


def test_output_affecting_parameters_miss_and_the_others_hit(tmp_path):
    cache = FeatureCache(tmp_path)
    cells = make_cells(10)
    first = CountingExtractor(cache=cache).fit(cells).transform(cells)
    np.testing.assert_allclose(first, expected_rows(cells), rtol=1e-6)
    assert sum(COMPUTED.values()) == 10

    for changes in [{"batch_size": 3}, {"verbose": True}, {"n_jobs": 2},
                    {"on_error": "ignore"}, {"add_indicator": True}]:
        COMPUTED.clear()
        out = CountingExtractor(cache=cache, **changes).fit(cells).transform(cells)
        assert sum(COMPUTED.values()) == 0, changes
        np.testing.assert_array_equal(out[:, :3], first)

    COMPUTED.clear()
    doubled = CountingExtractor(cache=cache, scale=2.0).fit(cells).transform(cells)
    assert sum(COMPUTED.values()) == 10
    np.testing.assert_allclose(doubled, expected_rows(cells, 2.0), rtol=1e-6)
    assert extractor_fingerprint(CountingExtractor().fit(cells)) != extractor_fingerprint(
        CountingExtractor(scale=2.0).fit(cells)
    )


def test_fitted_state_is_part_of_the_key(tmp_path):
    cache = FeatureCache(tmp_path)
    cells = make_cells(12)
    a = CenteredExtractor(cache=cache).fit(cells[:6])
    out_a = a.transform(cells)
    assert sum(COMPUTED.values()) == 12
    COMPUTED.clear()
    b = CenteredExtractor(cache=cache).fit(cells[6:])  # another training fold
    out_b = b.transform(cells)
    assert sum(COMPUTED.values()) == 12
    np.testing.assert_allclose(out_a - out_b, b.center_ - a.center_, rtol=1e-4, atol=1e-5)
    COMPUTED.clear()
    again = CenteredExtractor(cache=cache).fit(cells[:6]).transform(cells)  # same fold: hits
    assert sum(COMPUTED.values()) == 0
    np.testing.assert_array_equal(again, out_a)


def test_global_config_and_cache_false(tmp_path, monkeypatch):
    monkeypatch.setattr("skmm._config._config", {"cache": None})  # whatever $SKMM_CACHE says
    cells = make_cells(6)
    with skmm.config_context(cache=str(tmp_path)):
        CountingExtractor().fit(cells).transform(cells)
        assert sum(COMPUTED.values()) == 6
        CountingExtractor().fit(cells).transform(cells)
        assert sum(COMPUTED.values()) == 6
        CountingExtractor(cache=False).fit(cells).transform(cells)  # off for this one
        assert sum(COMPUTED.values()) == 12
    assert skmm.get_config()["cache"] is None
    CountingExtractor().fit(cells).transform(cells)
    assert sum(COMPUTED.values()) == 18
    with pytest.raises(InvalidInputError, match="cache must be"):
        skmm.set_config(cache=3)
    with pytest.raises(InvalidInputError, match="cache must be"):
        CountingExtractor(cache=[1]).fit(cells)


def test_a_modified_file_misses_and_content_hashing_survives_a_copy(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    path = data / "a.bin"
    path.write_bytes(b"\x01\x02\x03")
    ext = FileSizeExtractor(cache=FeatureCache(tmp_path / "cache")).fit([str(path)])
    np.testing.assert_array_equal(ext.transform([str(path)]), [[2, 3, 3]])
    np.testing.assert_array_equal(ext.transform([str(path)]), [[2, 3, 3]])
    assert sum(COMPUTED.values()) == 1
    path.write_bytes(b"\x05\x05\x05\x05")
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # coarse clocks
    np.testing.assert_array_equal(ext.transform([str(path)]), [[5, 5, 4]])
    assert sum(COMPUTED.values()) == 2

    COMPUTED.clear()
    by_content = FileSizeExtractor(cache=FeatureCache(tmp_path / "c2", hash_files="content"))
    by_content.fit([str(path)]).transform([path])  # an os.PathLike cell
    copy = tmp_path / "copy.bin"
    copy.write_bytes(path.read_bytes())
    np.testing.assert_array_equal(by_content.transform([str(copy)]), [[5, 5, 4]])
    assert sum(COMPUTED.values()) == 1


def test_cell_keys():
    a = np.arange(6, dtype=np.int16)
    assert cell_key(a) == cell_key(a.copy())
    assert cell_key(a) != cell_key(a.reshape(2, 3))  # shape
    assert cell_key(a) != cell_key(a.astype(np.int32))  # dtype
    assert cell_key(a) != cell_key(a.tobytes())
    assert cell_key(a[::2]) == cell_key(np.ascontiguousarray(a[::2]))
    wave = np.zeros(8, dtype=np.float32)
    assert cell_key((wave, 8000)) != cell_key((wave, 16000))
    assert cell_key("some text") != cell_key("some text ")
    assert cell_key(b"ab") != cell_key("ab")
    from PIL import Image

    img = Image.fromarray(np.zeros((4, 5, 3), dtype=np.uint8))
    assert cell_key(img) == cell_key(img.copy())
    assert cell_key(img) != cell_key(img.convert("L"))
    assert cell_key(np.array([None], dtype=object)) is None
    assert cell_key({"a": 1}) is None
    many = [a, a[::2], a.reshape(2, 3).T, np.zeros(0), np.array([None], dtype=object), "text",
            __file__, b"ab", (wave, 8000), img, {"a": 1}, np.zeros(3, dtype=[("x", "<f4")])]
    assert cell_keys(many) == [cell_key(c) for c in many]
    assert cell_keys(many) == cell_keys(many)  # the second time from the path memo


def test_missing_and_bad_cells_are_never_cached(tmp_path):
    cache = FeatureCache(tmp_path)
    good = make_cells(3)
    cells = [good[0], None, np.array([np.nan, 1.0]), good[1], float("nan"), good[2]]
    ext = CountingExtractor(cache=cache, on_error="ignore", add_indicator=True).fit(good)
    out = ext.transform(cells)
    np.testing.assert_array_equal(out[:, -1], [1, 0, 0, 1, 0, 1])
    np.testing.assert_array_equal(out[[1, 2, 4]], 0)
    assert entries(cache) == 3
    np.testing.assert_array_equal(ext.transform(cells), out)
    assert sum(COMPUTED.values()) == 3


def test_identical_cells_in_one_call_are_extracted_once_even_without_a_cache():
    base = make_cells(3)
    cells = [base[0], base[1], base[0].copy(), base[2], base[1].copy(), base[0].copy()]
    out = CountingExtractor().fit(base).transform(cells)
    assert sum(COMPUTED.values()) == 3
    np.testing.assert_allclose(out, expected_rows(cells), rtol=1e-6)

    bad = np.array([np.nan])
    ext = CountingExtractor(on_error="raise").fit(base)
    with pytest.raises(InvalidInputError) as info:
        ext.transform([base[0], bad, base[1], bad.copy()])
    assert info.value.rows == [1, 3]  # the duplicate of a bad cell is reported too

    texts = ["a", "b", "a", "a"]
    calls = []

    class Texts(CountingExtractor):
        def _decode_cell(self, cell):
            return cell

        def _extract_batch(self, decoded):
            calls.extend(decoded)
            return np.array([[len(s), 0, 0] for s in decoded], dtype=np.float32)

    assert Texts().fit(texts).transform(texts)[:, 0].tolist() == [1, 1, 1, 1]
    assert sorted(calls) == ["a", "b"]


def _pack_files(cache):
    return sorted(
        os.path.join(d, f) for d, _, fs in os.walk(cache.root) for f in fs if f.endswith(".npy")
    )


def test_packs_are_plain_npy_records_loaded_without_pickle(tmp_path):
    cache = FeatureCache(tmp_path)
    cells = make_cells(3)
    CountingExtractor(cache=cache, batch_size=4).fit(cells).transform(cells)
    files = _pack_files(cache)
    assert len(files) == 1  # one pack per extracted batch
    records = np.load(files[0], allow_pickle=False)
    np.testing.assert_allclose(records["row"], expected_rows(cells), rtol=1e-6)
    assert [r.tobytes().hex() for r in records["key"]] == [cell_key(c) for c in cells]
    assert os.path.exists(os.path.join(os.path.dirname(files[0]), "meta.json"))
    assert cache.stats() == {"entries": 3, "files": 1, "bytes": os.path.getsize(files[0])}


def test_corrupted_entries_are_detected_and_recomputed(tmp_path):
    cache = FeatureCache(tmp_path)
    cells = make_cells(8)
    ext = CountingExtractor(cache=cache, batch_size=1).fit(cells)
    expected = ext.transform(cells)
    files = _pack_files(cache)  # one row each, in cell order
    assert len(files) == 8

    # a pack this process has indexed is truncated: the row is recomputed
    raw = open(files[6], "rb").read()
    open(files[6], "wb").write(raw[:-5])
    _packs._memory.drop()
    COMPUTED.clear()
    before = _packs.counters["corrupt"]
    np.testing.assert_array_equal(ext.transform(cells), expected)
    assert sum(COMPUTED.values()) == 1 and _packs.counters["corrupt"] - before == 1

    # as seen by a fresh process
    open(files[0], "wb").write(open(files[0], "rb").read()[:-5])  # truncated
    flipped = bytearray(open(files[1], "rb").read())
    flipped[-2] ^= 0xFF  # a bad checksum
    open(files[1], "wb").write(bytes(flipped))
    record = np.zeros(1, dtype=[("key", "u1", (16,)), ("crc", "<u4"), ("row", "<f4", (4,))])
    np.save(files[2], record)  # a well-formed file of the wrong shape
    open(files[3], "wb").write(open(files[4], "rb").read())  # another key's pack
    open(files[5], "wb").write(b"")  # empty
    _packs.drop_process_state()
    COMPUTED.clear()
    before = _packs.counters["corrupt"]
    out = clone(ext).fit(cells).transform(cells)
    np.testing.assert_array_equal(out, expected)
    assert sum(COMPUTED.values()) == 5
    # packs 0, 1, 2, 5 and the truncated 6 (its row was stored again); pack 3 is a mere miss
    assert _packs.counters["corrupt"] - before == 5
    _packs.drop_process_state()
    COMPUTED.clear()
    np.testing.assert_array_equal(ext.transform(cells), expected)  # the new packs serve
    assert sum(COMPUTED.values()) == 0


def test_feature_cache_is_a_cheap_value(tmp_path):
    cache = FeatureCache(tmp_path / "c", max_bytes=10**6)
    assert repr(cache) == f"FeatureCache('{tmp_path / 'c'}', max_bytes=1000000)"
    assert len(pickle.dumps(cache)) < 300
    assert pickle.loads(pickle.dumps(cache)) == cache
    ext = CountingExtractor(cache=cache)
    assert clone(ext).cache == cache
    assert as_feature_cache(str(tmp_path / "c")) == FeatureCache(tmp_path / "c")
    assert as_feature_cache(False) is None
    with pytest.raises(InvalidInputError, match="max_bytes"):
        FeatureCache(tmp_path, max_bytes=0)
    with pytest.raises(InvalidInputError, match="hash_files"):
        FeatureCache(tmp_path, hash_files="mtime")
    with pytest.raises(InvalidInputError, match="folder path"):
        FeatureCache(None)


def test_max_bytes_evicts_the_oldest_and_clear_keeps_foreign_files(tmp_path, monkeypatch):
    cells = make_cells(10)
    big = FeatureCache(tmp_path)
    CountingExtractor(cache=big, batch_size=1).fit(cells).transform(cells)
    files = _pack_files(big)
    size = os.path.getsize(files[0])
    for age, f in enumerate(files):  # files[0] oldest
        os.utime(f, ns=(10**18 + age * 10**9, 10**18 + age * 10**9))
    small = FeatureCache(tmp_path, max_bytes=4 * size)
    assert small.evict() == 6
    assert _pack_files(small) == files[6:]
    assert small.stats() == {"entries": 4, "files": 4, "bytes": 4 * size}

    (tmp_path / "notes.txt").write_text("mine")
    small.clear()
    assert small.stats()["entries"] == 0
    assert (tmp_path / "notes.txt").read_text() == "mine"

    # the in-memory layer is bounded too
    monkeypatch.setattr(_packs, "MEMORY_BYTES", 3 * 12)
    CountingExtractor(cache=big).fit(cells).transform(make_cells(10, seed=2))
    assert 0 < _packs._memory._nbytes <= 3 * 12

    # writing through a bounded cache keeps it near the bound
    bounded = FeatureCache(tmp_path, max_bytes=5 * size)
    CountingExtractor(cache=bounded, batch_size=1).fit(cells).transform(make_cells(40, seed=1))
    assert bounded.stats()["bytes"] <= 5 * size


class FuncExtractor(CountingExtractor):
    def __init__(self, func=None, scale=1.0, cache=None):
        self.func = func
        self.scale = scale
        self.cache = cache


def test_unhashable_parameters_warn_and_compute(tmp_path):
    cells = make_cells(3)
    ext = FuncExtractor(func=lambda a: a, cache=FeatureCache(tmp_path)).fit(cells)
    with pytest.warns(UserWarning, match="not cached"):
        out = ext.transform(cells)
    np.testing.assert_allclose(out, expected_rows(cells), rtol=1e-6)
    assert FeatureCache(tmp_path).stats()["entries"] == 0


_WORKER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from skmm._base import BaseExtractor

    class Mean(BaseExtractor):
        def __init__(self, batch_size=3, cache=None):
            self.batch_size = batch_size
            self.cache = cache

        def _decode_cell(self, cell):
            return cell

        def _extract_batch(self, decoded):
            with open(sys.argv[3], "a") as fh:
                fh.write("x" * len(decoded))
            return np.stack([[c.mean(), c.std(), c[0]] for c in decoded]).astype(np.float32)

        def _feature_names(self):
            return ["mean", "std", "first"]

    rng = np.random.default_rng(0)
    cells = [rng.normal(size=50) for _ in range(120)]
    out = Mean(cache=sys.argv[1] or None).fit(cells).transform(cells)
    np.save(sys.argv[2], out)
    """
)


@pytest.mark.slow
def test_two_processes_filling_one_cache_agree(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    cache = tmp_path / "cache"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    env.pop("SKMM_CACHE", None)

    def start(i, via_environment=False):
        args = [sys.executable, str(script), "" if via_environment else str(cache),
                str(tmp_path / f"out{i}.npy"), str(tmp_path / f"count{i}.txt")]
        environ = dict(env, SKMM_CACHE=str(cache)) if via_environment else env
        return subprocess.Popen(args, env=environ, stderr=subprocess.PIPE)

    procs = [start(0), start(1)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    first, second = np.load(tmp_path / "out0.npy"), np.load(tmp_path / "out1.npy")
    np.testing.assert_array_equal(first, second)
    rng = np.random.default_rng(0)
    cells = [rng.normal(size=50) for _ in range(120)]
    np.testing.assert_allclose(first[:, 0], [c.mean() for c in cells], rtol=1e-5)
    assert 120 <= FeatureCache(cache).stats()["entries"] <= 240  # racing writers may both store

    third = start(2, via_environment=True)  # SKMM_CACHE: the default cache of a process
    assert third.wait(timeout=120) == 0, third.stderr.read().decode()
    np.testing.assert_array_equal(np.load(tmp_path / "out2.npy"), first)
    assert not (tmp_path / "count2.txt").exists()  # every row read back, none recomputed


@pytest.mark.realdata
def test_real_extractors_use_the_global_cache_unchanged(fsdd_home, tmp_path, monkeypatch):
    from skmm.audio import AudioEmbedder, AudioLogMel
    from skmm.datasets import load_av_digits
    from skmm.image import ImageEmbedder

    from _media import tiny_wav2vec2_folder

    X, _ = load_av_digits(data_home=fsdd_home, return_X_y=True)
    X = X.iloc[:24]
    rows = collections.Counter()
    for cls in (AudioLogMel, ImageEmbedder, AudioEmbedder):
        original = cls._extract_batch

        def counted(self, decoded, _original=original, _name=cls.__name__):
            rows[_name] += len(decoded)
            return _original(self, decoded)

        monkeypatch.setattr(cls, "_extract_batch", counted)
    audio = AudioLogMel(sr=8000, n_fft=256, hop_length=80, n_mels=20)
    image = ImageEmbedder(device="cpu")
    embedder = AudioEmbedder(tiny_wav2vec2_folder(), duration=1.0, device="cpu")

    def run():
        return (clone(audio).fit_transform(X["audio"]), clone(image).fit_transform(X["image"]),
                clone(embedder).fit_transform(X["audio"]))

    plain = run()
    with skmm.config_context(cache=str(tmp_path)):
        first = run()
        rows.clear()
        again = run()
        assert sum(rows.values()) == 0
        clone(audio).set_params(n_mels=16).fit_transform(X["audio"])  # another parameter: misses
        assert rows["AudioLogMel"] == 24
    for a, b, c in zip(plain, first, again):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(b, c)
