"""The bad-input battery, run over every extractor of skmm, on cells of its declared modality.

Each bad cell gives either the documented result (a missing row with its indicator) or one
InvalidInputError that lists the bad row with its index and path; ``on_error="warn"`` and
``"ignore"`` turn bad cells into flagged missing rows; no mode ever drops a row.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from skmm.datasets import make_multimodal_classification
from skmm.exceptions import InvalidInputError

from _estimators import extractors, make_estimator, modality_of
from _media import png_bytes, write_wav

EXTRACTORS = [pytest.param(cls, id=name) for name, cls in extractors()]


@pytest.fixture(scope="module")
def good_columns():
    data = make_multimodal_classification(n_samples=12, random_state=0).data
    return {m: list(data[m]) for m in ("image", "text", "audio")}


@pytest.fixture(scope="module")
def bad_cells(tmp_path_factory):
    """{modality: [(label, cell, expected message fragment or None if valid)]}."""
    tmp = tmp_path_factory.mktemp("bad")
    png = png_bytes(np.full((8, 8, 3), 90, dtype=np.uint8))
    (tmp / "truncated.png").write_bytes(png[: len(png) // 2])
    from PIL import Image
    import io

    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 90, dtype=np.uint8)).save(buf, format="JPEG")
    (tmp / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    (tmp / "zero.png").write_bytes(b"")
    (tmp / "notes.png").write_text("not an image")
    Image.new("L", (10_000, 10_000)).save(tmp / "huge.png")
    Image.fromarray(np.full((1, 1, 3), 7, dtype=np.uint8)).save(tmp / "tiny.png")
    Image.fromarray(np.full((6, 6), 40, dtype=np.uint8)).save(tmp / "grey.png")
    Image.fromarray(np.full((6, 6, 4), 40, dtype=np.uint8)).save(tmp / "rgba.png")
    t = np.arange(4000) / 16000
    wav = write_wav(tmp / "tone.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 16000)
    raw = open(wav, "rb").read()
    (tmp / "truncated.wav").write_bytes(raw[:40])
    (tmp / "zero.wav").write_bytes(b"")
    (tmp / "notes.wav").write_text("this is text, not audio")
    common = [
        ("missing file", str(tmp / "nope.bin"), "not found"),
        ("directory", str(tmp), "directory"),
        ("dict", {"a": 1}, "dict"),
    ]
    return {
        "image": common + [
            ("zero-byte file", str(tmp / "zero.png"), "empty"),
            ("truncated PNG", str(tmp / "truncated.png"), "decoded|readable"),
            ("truncated JPEG", str(tmp / "truncated.jpg"), "decoded|readable"),
            ("text named .png", str(tmp / "notes.png"), "readable"),
            ("10000x10000", str(tmp / "huge.png"), "max_pixels"),
            ("NaN array", np.full((4, 4), np.nan), "NaN"),
            ("1x1 pixel", str(tmp / "tiny.png"), None),
            ("greyscale", str(tmp / "grey.png"), None),
            ("4 channels", str(tmp / "rgba.png"), None),
        ],
        "audio": common + [
            ("zero-byte file", str(tmp / "zero.wav"), "empty"),
            ("truncated WAV", str(tmp / "truncated.wav"), "readable"),
            ("text named .wav", str(tmp / "notes.wav"), "readable"),
            ("zero-length", np.zeros(0, dtype=np.float32), "zero-length"),
            ("NaN audio", np.array([0.1, np.nan] * 100, dtype=np.float32), "NaN"),
            ("inf audio", np.array([0.1, np.inf] * 100, dtype=np.float32), "inf"),
            ("silence", np.zeros(4000, dtype=np.float32), None),
        ],
        "text": [
            ("non-UTF-8 bytes", b"\xff\xfe\xfa", "UTF-8"),
            ("int", 42, "int"),
            ("dict", {"a": 1}, "dict"),
            ("empty string", "", None),
            ("non-ASCII", "naïve café ünïcödé 東京", None),
        ],
    }


@pytest.mark.parametrize("cls", EXTRACTORS)
def test_each_bad_cell_is_reported_with_its_row_or_handled(cls, good_columns, bad_cells):
    good = good_columns[modality_of(cls)]
    fitted = make_estimator(cls).fit(pd.Series(good))
    for label, cell, expected in bad_cells[modality_of(cls)]:
        column = pd.Series([good[0], cell, good[1]], dtype=object)
        if expected is None:
            out = fitted.transform(column)
            assert out.shape[0] == 3 and np.isfinite(out).all(), label
            continue
        with pytest.raises(InvalidInputError) as info:
            fitted.transform(column)
        message = str(info.value)
        assert "row 1" in message, (label, message)
        assert info.value.rows == [1], label
        assert pytest.importorskip("re").search(expected, message), (label, message)
        if isinstance(cell, str):
            assert cell in message, (label, message)


@pytest.mark.parametrize("cls", EXTRACTORS)
def test_warn_and_ignore_keep_every_row_and_flag_bad_ones(cls, good_columns, bad_cells):
    good = good_columns[modality_of(cls)]
    bad = [cell for _, cell, expected in bad_cells[modality_of(cls)] if expected is not None]
    column = pd.Series([good[0]] + bad + [None, good[1]], dtype=object)
    params = {"on_error": "warn"}
    if "add_indicator" in cls().get_params():
        params["add_indicator"] = True
    fitted = make_estimator(cls).set_params(**params).fit(pd.Series(good))
    with pytest.warns(UserWarning, match="treated as missing"):
        out = fitted.transform(column)
    assert out.shape[0] == len(column)
    assert np.isfinite(out).all()
    if params.get("add_indicator"):
        expected_present = [1.0] + [0.0] * (len(bad) + 1) + [1.0]
        np.testing.assert_array_equal(out[:, -1], expected_present)
    fitted.set_params(on_error="ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        quiet = fitted.transform(column)
    np.testing.assert_array_equal(quiet, out)


@pytest.mark.parametrize("cls", EXTRACTORS)
def test_a_whole_missing_column_gives_fill_rows(cls, good_columns):
    good = good_columns[modality_of(cls)]
    fitted = make_estimator(cls).fit(pd.Series(good))
    out = fitted.transform(pd.Series([None] * 4, dtype=object))
    assert out.shape == (4, len(fitted.get_feature_names_out()))
    assert np.isfinite(out).all()
    assert (out == out[0]).all(), "every missing row gets the same fill"
