"""BaseExtractor: streaming batches, missing cells, bad cells, indicator, device helpers."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer

from skmm._base import BaseExtractor
from skmm._column import CellError, batch_slices, effective_threads
from skmm._validation import resolve_device, resolve_precision
from skmm.exceptions import InvalidInputError


class LengthExtractor(BaseExtractor):
    """A toy extractor: length of a string cell and its number of vowels."""

    def __init__(
        self, batch_size=2, n_jobs=1, on_error="raise", add_indicator=False, verbose=False
    ):
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.on_error = on_error
        self.add_indicator = add_indicator
        self.verbose = verbose

    def _decode_cell(self, cell):
        if not isinstance(cell, str):
            raise CellError(f"expected str, got {type(cell).__name__}")
        return cell

    def _extract_batch(self, decoded):
        self.batches_seen_ = getattr(self, "batches_seen_", 0) + 1
        return np.array([[len(s), sum(c in "aeiou" for c in s)] for s in decoded], dtype=np.float32)

    def _feature_names(self):
        return ["length", "vowels"]


def test_transform_streams_batches_and_keeps_every_row():
    ext = LengthExtractor(add_indicator=True).fit(["a"])
    out = ext.transform(["abc", None, "hello", float("nan"), "x"])
    np.testing.assert_array_equal(
        out, [[3, 1, 1], [0, 0, 0], [5, 2, 1], [0, 0, 0], [1, 0, 1]]
    )
    assert out.dtype == np.float32
    assert ext.batches_seen_ == 2  # 3 present cells in batches of 2
    assert list(ext.get_feature_names_out()) == ["length", "vowels", "present"]


def test_bad_cells_are_all_listed_with_rows_and_no_extraction_after_the_first():
    ext = LengthExtractor().fit(["a"])
    with pytest.raises(InvalidInputError) as info:
        ext.transform(pd.Series(["ok", 3, "fine", "more", {"a": 1}]))
    assert info.value.rows == [1, 4]
    assert "row 1" in str(info.value) and "row 4" in str(info.value) and "dict" in str(info.value)
    assert getattr(ext, "batches_seen_", 0) == 0


def test_on_error_warn_and_ignore_turn_bad_cells_into_flagged_missing_rows():
    ext = LengthExtractor(on_error="warn", add_indicator=True).fit(["a"])
    with pytest.warns(UserWarning, match=r"rows \[1\]"):
        out = ext.transform(["ok", 3, "yes"])
    np.testing.assert_array_equal(out[:, -1], [1, 0, 1])
    assert out.shape[0] == 3
    quiet = clone(ext).set_params(on_error="ignore").fit(["a"])
    np.testing.assert_array_equal(quiet.transform(["ok", 3]), [[2, 1, 1], [0, 0, 0]])


def test_row_labels_of_a_series_appear_in_errors():
    ext = LengthExtractor().fit(["a"])
    with pytest.raises(InvalidInputError, match=r"row 0 \(index 'sample-7'\)"):
        ext.transform(pd.Series([5], index=["sample-7"]))


def test_parameters_are_validated_in_fit():
    with pytest.raises(InvalidInputError, match="on_error"):
        LengthExtractor(on_error="explode").fit(["a"])
    with pytest.raises(InvalidInputError, match="batch_size"):
        LengthExtractor(batch_size=0).fit(["a"])
    with pytest.raises(InvalidInputError, match="n_jobs"):
        LengthExtractor(n_jobs=0).fit(["a"])


def test_works_in_a_column_transformer_with_pandas_output():
    X = pd.DataFrame({"title": ["ab", "cde"], "body": ["x", None]})
    ct = ColumnTransformer(
        [
            ("title", LengthExtractor(), "title"),
            ("body", LengthExtractor(add_indicator=True), ["body"]),
        ]
    ).set_output(transform="pandas")
    out = ct.fit_transform(X)
    assert list(out.columns) == [
        "title__length", "title__vowels", "body__length", "body__vowels", "body__present"
    ]
    assert out["body__present"].tolist() == [1.0, 0.0]


def test_threaded_decoding_gives_the_same_result():
    cells = [f"word{i}" * (i % 5) for i in range(50)]
    serial = LengthExtractor(n_jobs=1, batch_size=7).fit(cells).transform(cells)
    threaded = LengthExtractor(n_jobs=4, batch_size=7).fit(cells).transform(cells)
    np.testing.assert_array_equal(serial, threaded)


def test_helpers():
    assert [(s.start, s.stop) for s in batch_slices(5, 2)] == [(0, 2), (2, 4), (4, 5)]
    assert effective_threads(1) == 1 and effective_threads(None) >= 1
    assert resolve_device("auto") in ("cpu", "cuda", "mps")
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(InvalidInputError, match="device"):
        resolve_device("tpu-9000")
    assert resolve_precision("float32", "cpu") is None
    assert resolve_precision("auto", "cpu") is None
    with pytest.raises(InvalidInputError, match="precision"):
        resolve_precision("int4", "cpu")
