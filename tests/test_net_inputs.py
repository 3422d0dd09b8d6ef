"""The nets' input checks (skmm/nets/_inputs.py) decide from types, dtypes and shapes.

Each bad input is refused with the same error whatever scikit-learn's own messages say:
the tests run once as they are and once with every message of ``validate_data`` reworded
(as a new scikit-learn release may), and expect the same class and the same message.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.base import BaseEstimator

pytest.importorskip("torch")

from skmm.exceptions import InvalidInputError  # noqa: E402
from skmm.nets import _inputs  # noqa: E402
from skmm.nets._inputs import NonNumericInputError, validate_X  # noqa: E402


class Probe(BaseEstimator):
    """The least a net offers validate_X: a hook for the values."""

    def _check_values(self, X):
        _inputs.check_finite(X, getattr(self, "feature_names_in_", None))


REGRESSION = {"multi_output": True, "y_numeric": True}


@pytest.fixture(params=["as is", "reworded"])
def wording(request, monkeypatch):
    """scikit-learn's messages as they are, or all reworded (the decisions must not change)."""
    if request.param == "reworded":
        original = _inputs.validate_data

        def reworded(*args, **kwargs):
            try:
                return original(*args, **kwargs)
            except (TypeError, ValueError) as exc:
                raise type(exc)("scikit-learn says it otherwise now") from exc

        monkeypatch.setattr(_inputs, "validate_data", reworded)
    return request.param


def frame(n=20):
    X = np.random.RandomState(0).normal(size=(n, 4)).astype(np.float32)
    return pd.DataFrame(X, columns=["a", "b", "c", "d"])


def with_cell(value, row=0, col=0):
    X = frame().to_numpy().astype(object)
    X[row, col] = value
    return X


Y = np.arange(20) % 2


@pytest.mark.parametrize("X, error, match", [
    (frame().assign(text="some words"), InvalidInputError, r"non-numeric columns \['text'\]"),
    (np.hstack([frame().to_numpy().astype(object), np.full((20, 1), "w", dtype=object)]),
     InvalidInputError, r"not numbers in columns \[4\] \(could not convert"),
    (with_cell({"foo": "bar"}), NonNumericInputError,
     r"not numbers in columns \[0\] \(.*argument must be .*string.* number"),
    (with_cell(1 + 2j, col=2), NonNumericInputError, r"not numbers in columns \[2\]"),
    (with_cell([1, 2], row=3, col=1), InvalidInputError, r"not numbers in columns \[1\]"),
    (np.full((20, 4), "w"), InvalidInputError, r"not numbers in columns \[0, 1, 2, 3\]"),
    (np.array(["a", "b"]), InvalidInputError, r"received values that are not numbers \("),
])
def test_non_numbers_are_refused_with_the_fix(X, error, match, wording):
    with pytest.raises(error, match=match) as info:
        validate_X(Probe(), X, Y)
    message = str(info.value)
    assert "extractor" in message and "ColumnTransformer" in message
    assert "scikit-learn says" not in message
    # a word is a ValueError, as numpy raises; a dict a TypeError too
    assert isinstance(info.value, TypeError) == (error is not InvalidInputError)


def test_numbers_held_as_objects_or_strings_are_accepted(wording):
    X = frame().to_numpy()
    for values in (X.astype(object), X.astype(str), with_cell("1.5"), X.tolist()):
        out, _ = validate_X(Probe(), values, Y)
        assert out.dtype == np.float32 and out.shape == (20, 4)
    np.testing.assert_allclose(validate_X(Probe(), X.astype(object), Y)[0], X, rtol=1e-6)


def test_another_number_of_features_is_refused_with_the_fix(wording):
    X = frame().to_numpy()
    probe = Probe()
    validate_X(probe, X, Y)
    for other in (X[:, :3], np.hstack([X, X]), frame().iloc[:, :3]):
        n = other.shape[1]
        with pytest.raises(InvalidInputError, match=f"X has {n} features, but Probe is "
                                                    "expecting 4 features as input.*same "
                                                    "pipeline"):
            validate_X(probe, other, reset=False)
    assert validate_X(probe, X, reset=False).shape == (20, 4)


def test_named_columns_against_named_columns_are_left_to_scikit_learn():
    # its message lists the names that differ, which says more than a count
    probe = Probe()
    validate_X(probe, frame(), Y)
    with pytest.raises(ValueError, match="feature names should match"):
        validate_X(probe, frame().iloc[:, :3], reset=False)


@pytest.mark.parametrize("y, error", [
    (np.array(["a"] * 20, dtype=object), InvalidInputError),
    (np.array(["a"] * 20), InvalidInputError),
    (pd.Series(["a"] * 20), InvalidInputError),
    (["a"] * 20, InvalidInputError),
    (np.array([{"a": 1}] * 20, dtype=object), NonNumericInputError),
])
def test_a_regressor_refuses_targets_that_are_not_numbers(y, error, wording):
    with pytest.raises(error, match="target values y that are not numbers.*FusionNetClassifier"):
        validate_X(Probe(), frame().to_numpy(), y, y_kwargs=REGRESSION)
    out = validate_X(Probe(), frame().to_numpy(), np.array(["1.5"] * 20, dtype=object),
                     y_kwargs=REGRESSION)
    assert out[1].dtype.kind == "f"


def test_a_classifier_takes_string_labels():
    _, y = validate_X(Probe(), frame().to_numpy(), np.array(["cat", "dog"] * 10))
    assert list(y[:2]) == ["cat", "dog"]


@pytest.mark.parametrize("kind", [sparse.csr_matrix, sparse.csr_array, sparse.coo_matrix])
def test_a_sparse_X_stays_sparse_as_float32_csr(kind, wording):
    out, _ = validate_X(Probe(), kind(frame().to_numpy()), Y)
    assert sparse.issparse(out) and out.format == "csr" and out.dtype == np.float32


def test_the_nets_refuse_nan_in_a_sparse_X_before_training():
    from skmm.nets import FusionNetClassifier

    values = frame().to_numpy().copy()
    values[3, 1] = np.nan
    net = FusionNetClassifier(max_epochs=1)
    with pytest.raises(InvalidInputError, match="row 3"):
        net.fit(sparse.csr_matrix(values), Y)
    assert not hasattr(net, "module_")
