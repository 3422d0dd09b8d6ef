"""Input checks of the nets: refuse bad X and y before training, saying how to fix them."""

import warnings

import numpy as np
from scipy import sparse
from sklearn.utils import check_array, column_or_1d
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ..exceptions import InvalidInputError
from ..store import FeatureStore

_MAX_LISTED = 10


class NonNumericInputError(InvalidInputError, TypeError):
    """X holds values that are not numbers (a TypeError too, as numpy raises for them)."""


def _listed(items):
    items = [i.item() if isinstance(i, np.generic) else i for i in items]
    more = f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return f"{items[:_MAX_LISTED]}{more}"


_NUMERIC_FIX = (
    "The net needs numbers: turn each image, text or audio column into features with an "
    "extractor (e.g. skmm.make_modality_union({'image': ImagePixels(), ...}) or a "
    "ColumnTransformer) before the net."
)

_TARGET_FIX = (
    "A regressor needs numeric targets: convert y to numbers (y.astype(float)), or, for "
    "class labels, use FusionNetClassifier."
)


def _non_numeric_columns(X):
    """Names of the DataFrame columns whose dtype is not numeric or boolean."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(X, "columns"):
        return []
    return [str(c) for c, dt in zip(X.columns, dtypes) if getattr(dt, "kind", "O") not in "biufc"]


def _unconvertible_columns(X):
    """Positions of the columns of a 2-D array that do not convert to float."""
    X = np.asarray(X, dtype=object)
    if X.ndim != 2:
        return []
    bad = []
    for j in range(X.shape[1]):
        try:
            X[:, j].astype(np.float32)
        except (TypeError, ValueError):
            bad.append(j)
    return bad


def _as_array(X):
    """X as an ndarray when numpy makes one of it (not a DataFrame, not sparse), else None:
    validate_data then says what is wrong with it (a ragged list, ...)."""
    if isinstance(X, np.ndarray):
        return X
    if X is None or isinstance(X, str) or hasattr(X, "columns") or sparse.issparse(X):
        return None
    try:
        return np.asarray(X)
    except (TypeError, ValueError):
        return None


def _as_numbers(name, what, values, fix, columns=True):
    """``values`` (an ndarray of objects, str or bytes) as float32, or an error.

    The error is a :class:`NonNumericInputError` (a TypeError) when numpy's conversion
    raises a TypeError (a dict, a complex number in an object array), as numpy does, and
    an :class:`InvalidInputError` otherwise (a word, a list in a cell); its message names
    the columns that do not convert (when ``columns``) and quotes numpy's.
    """
    try:
        return values.astype(np.float32)
    except (TypeError, ValueError) as exc:
        cols = _unconvertible_columns(values) if columns else []
        where = f" in columns {_listed(cols)}" if cols else ""
        error = NonNumericInputError if isinstance(exc, TypeError) else InvalidInputError
        raise error(f"{name} received {what} that are not numbers{where} ({exc}). {fix}") from exc


def _has_string_names(X):
    """Whether validate_data reads feature names from X (every column name a str)."""
    columns = getattr(X, "columns", None)
    return columns is not None and len(columns) > 0 and all(isinstance(c, str) for c in columns)


def _check_n_features(estimator, X, shape):
    """Refuse a number of features other than the one seen at fit, with the fix.

    Left to validate_data where it speaks first: an empty X, or named columns against a
    net fitted on named columns (its message lists the names that differ).
    """
    expected = getattr(estimator, "n_features_in_", None)
    if expected is None or shape is None or len(shape) != 2 or min(shape) == 0:
        return
    if shape[1] != expected and not (
        getattr(estimator, "feature_names_in_", None) is not None and _has_string_names(X)
    ):
        raise InvalidInputError(
            f"X has {shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{expected} features as input. Fix: transform X with the same pipeline (the "
            "same extractors, in the same order) as at fit, or refit the net."
        )


def _non_finite_message(X, feature_names):
    nan, inf = np.isnan(X), np.isinf(X)
    bad = nan | inf
    return _non_finite_text(nan.any(), int(bad.sum()), np.flatnonzero(bad.any(axis=1)),
                            np.flatnonzero(bad.any(axis=0)), feature_names)


def _non_finite_text(has_nan, count, rows, cols, feature_names):
    kind = "NaN" if has_nan else "inf (infinite values)"
    names = [feature_names[j] for j in cols] if feature_names is not None else list(cols)
    return (
        f"X contains {kind}: {count} value(s) in rows {_listed(rows)} and columns "
        f"{_listed(names)}. The net cannot train on missing values. Fix: impute them "
        "(sklearn.impute.SimpleImputer), or ask the skmm extractors for a presence indicator "
        "(add_indicator=True) so that a missing modality becomes a fill value plus a flag. "
        "Beside other modalities, a block of numbers (a modality prefix such as "
        "'price__price', from make_modality_union) may hold NaN: the layer-level net reads "
        "it as missing."
    )


def validate_X(estimator, X, y="no_validation", reset=True, y_kwargs=None):
    """Validate X (and y) once, cast X to float32 and check that it is finite.

    Sets ``n_features_in_`` and ``feature_names_in_`` when ``reset``, as
    :func:`sklearn.utils.validation.validate_data` does, and refuses a changed number of
    features otherwise.

    What skmm says more than scikit-learn (non-numeric columns or cells, sparse input, a
    changed number of features, targets of a regressor that are not numbers) is decided
    here from types, dtypes and shapes, before ``validate_data``, never from the wording
    of its errors; the rest (ndim, empty X, complex numbers, changed feature names, y
    checks) is scikit-learn's to say, in its words.

    Returns
    -------
    X : ndarray of float32 (n_samples, n_features) (a CSR matrix of float32 when X was
        sparse), or ``(X, y)`` when y is given.
    """
    name = type(estimator).__name__
    if isinstance(X, FeatureStore):
        return _validate_store(estimator, X, y, reset, y_kwargs)
    bad = _non_numeric_columns(X)
    if bad:
        raise InvalidInputError(
            f"{name} received non-numeric columns {_listed(bad)}. {_NUMERIC_FIX}"
        )
    if sparse.issparse(X):
        return _validate_sparse(estimator, X, y, reset, y_kwargs)
    values = _as_array(X)
    if values is not None and values.dtype.kind in "OUS":  # objects, str, bytes
        X = values = _as_numbers(name, "values", values, _NUMERIC_FIX)  # no names to keep
    if (y_kwargs or {}).get("y_numeric"):
        y_values = _as_array(y)
        if y_values is not None and y_values.dtype.kind in "OUS":
            _as_numbers(name, "target values y", y_values, _TARGET_FIX, columns=False)
    if not reset:
        _check_n_features(estimator, X, getattr(values if values is not None else X,
                                                "shape", None))
    out = validate_data(
        estimator, X, y, reset=reset, dtype=np.float32, ensure_all_finite=False,
        **(y_kwargs or {}),
    )
    Xv = out[0] if isinstance(out, tuple) else out
    estimator._check_values(Xv)
    return out


def _validate_sparse(estimator, X, y, reset, y_kwargs):
    """A sparse X as a float32 CSR matrix, never densified; its column names (the union's
    ``feature_names``) become ``feature_names_in_`` at fit and are checked at predict."""
    names = getattr(X, "feature_names", None)
    if not reset:
        _check_n_features(estimator, X, X.shape)
    with warnings.catch_warnings():
        # scikit-learn reads names from DataFrames only; a named CSR's are checked below
        warnings.filterwarnings("ignore", "X does not have valid feature names", UserWarning)
        out = validate_data(estimator, X, y, reset=reset, dtype=np.float32,
                            accept_sparse="csr", ensure_all_finite=False, **(y_kwargs or {}))
    Xv = out[0] if isinstance(out, tuple) else out
    if names is not None and len(names) == Xv.shape[1]:
        _set_or_check_names(estimator, names, reset)
    estimator._check_values(Xv)
    return out


def _set_or_check_names(estimator, names, reset):
    """Keep ``names`` as ``feature_names_in_`` (fit) or refuse names that differ (predict)."""
    names = np.asarray(names, dtype=object)
    if reset:
        estimator.feature_names_in_ = names
        return
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is not None and not np.array_equal(fitted, names):
        differ = np.flatnonzero(fitted != names)
        raise InvalidInputError(
            f"X's column names differ from those seen at fit, first at column "
            f"{differ[0]} ({names[differ[0]]!r}, at fit {fitted[differ[0]]!r}). Fix: "
            "transform X with the same pipeline as at fit, or refit the net."
        )


def _validate_store(estimator, store, y, reset, y_kwargs):
    """A :class:`~skmm.store.FeatureStore` X, never read whole: its column names become
    ``feature_names_in_``; y is checked as scikit-learn checks it, one label per row."""
    if reset:
        estimator.n_features_in_ = store.n_features
    elif store.n_features != estimator.n_features_in_:
        raise InvalidInputError(
            f"the feature store X ({store.path}) has {store.n_features} features, but "
            f"{type(estimator).__name__} is expecting {estimator.n_features_in_}. Fix: write "
            "the store with the same pipeline as the net was fitted on, or refit the net."
        )
    _set_or_check_names(estimator, store.columns, reset)
    estimator._check_values(store)
    if isinstance(y, str) and y == "no_validation" or y is None:
        return store
    y_kwargs = y_kwargs or {}
    y = check_array(y, ensure_2d=False, dtype="numeric" if y_kwargs.get("y_numeric") else None,
                    input_name="y")
    if not y_kwargs.get("multi_output"):
        y = column_or_1d(y, warn=True)
    if len(y) != store.n_rows:
        raise InvalidInputError(
            f"y holds {len(y)} rows, the feature store X ({store.path}) {store.n_rows}: "
            "give one target per row of the store, in its order."
        )
    return store, y


def check_finite(X, feature_names=None):
    """Raise InvalidInputError (naming rows, columns and fixes) if X has NaN or inf."""
    if sparse.issparse(X):
        X = sparse.csr_matrix(X)
        bad = ~np.isfinite(X.data)
        if bad.any():
            rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))[bad]
            raise InvalidInputError(_non_finite_text(
                np.isnan(X.data[bad]).any(), int(bad.sum()), np.unique(rows),
                np.unique(X.indices[bad]), feature_names))
        return
    if not np.isfinite(X).all():
        raise InvalidInputError(_non_finite_message(X, feature_names))


def encode_labels(y, classes=None):
    """Encode class labels as 0..k-1. Returns ``(classes, codes)``.

    ``classes`` fixes the label set (and order); else it is ``np.unique(y)``, which must
    hold at least two classes.
    """
    check_classification_targets(y)
    if classes is None:
        classes = np.unique(y)
        if len(classes) < 2:
            raise InvalidInputError(
                f"y has one class ({classes[0]!r}) but a classifier needs at least 2 "
                "classes. Fix: check the labels, or with cross-validation use a stratified "
                "splitter (StratifiedKFold) so that each training fold sees every class."
            )
    classes = np.asarray(classes)
    codes = np.searchsorted(classes, y) if _is_sorted(classes) else _lookup(classes, y)
    codes = np.clip(codes, 0, len(classes) - 1)
    unknown = classes[codes] != y
    if unknown.any():
        raise InvalidInputError(
            f"y holds labels {_listed(np.unique(y[unknown]))} that are not among the classes "
            f"{_listed(classes)} given to the net. Fix: pass every label in `classes`."
        )
    return classes, codes.astype(np.int64)


def _is_sorted(a):
    try:
        return bool(np.all(a[:-1] <= a[1:]))
    except TypeError:
        return False


def _lookup(classes, y):
    index = {c: i for i, c in enumerate(classes.tolist())}
    return np.array([index.get(v, 0) for v in y.tolist()], dtype=np.int64)
