"""TabularEncoder: a table's numeric and categorical columns as one block for the nets."""

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._naming import NUMBER_MARK, PRESENT, SEPARATOR, category_names
from .._validation import InstanceOf, Integer, Options, validate_params
from ..exceptions import InvalidInputError

_MAX_LISTED = 5


def _frame(X, what):
    """X as a DataFrame with string column names (a Series is one column)."""
    if isinstance(X, pd.Series):
        X = X.to_frame(name=X.name if X.name is not None else "x0")
    elif not isinstance(X, pd.DataFrame):
        values = np.asarray(X, dtype=object)
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2:
            raise InvalidInputError(
                f"{what} expects a DataFrame, a Series or a 2-D array of table columns; got "
                f"an array of shape {values.shape}."
            )
        X = pd.DataFrame(values, columns=[f"x{j}" for j in range(values.shape[1])])
    if X.shape[1] == 0:
        raise InvalidInputError(f"{what} received no columns; give it at least one.")
    return X.set_axis([str(c) for c in X.columns], axis=1)


def _missing(series):
    return series.isna().to_numpy()


#: What ``pandas.api.types.infer_dtype`` says of an object column holding only numbers.
_NUMERIC_INFERRED = ("integer", "floating", "mixed-integer-float", "decimal")


def _looks_categorical(series):
    """"auto": categories for string, category, bool and object columns of non-numbers."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return True
    if pd.api.types.is_object_dtype(dtype):
        # an object column of numbers (e.g. after a shuffle) is numeric
        return pd.api.types.infer_dtype(series, skipna=True) not in _NUMERIC_INFERRED
    return pd.api.types.is_string_dtype(dtype)


def _labels(series):
    """The cells of a categorical column as strings (the category names), None where missing."""
    labels = np.array(series.astype(str).to_numpy(dtype=object), dtype=object)  # a copy
    labels[_missing(series)] = None
    return labels


def _safe(column):
    # a column named "a__b" would read as prefix "a": keep "__" for ColumnTransformer's prefix
    return column.replace(SEPARATOR, "_")


class TabularEncoder(TransformerMixin, BaseEstimator):
    """A table's numeric and categorical columns as one float32 block for the fusion nets.

    Numeric columns (``num:column``) are standardised (training mean and standard
    deviation) with missing cells set to the training median. A categorical column is written as a single column
    of integer codes (``code:column``: 1 to k, 0 for missing or unseen), which the
    layer-level net embeds in a ``"tabular"`` branch, one embedding per column, as
    tabular deep-learning libraries do; with ``max_onehot=k``, a column with at most k
    categories is one-hot encoded instead (``column=category``), for a linear model. A
    ``present`` column says which rows have any cell at all, so that the net treats a row
    with none as missing that modality.

    Parameters
    ----------
    categorical : "auto", list of str or None, default="auto"
        The categorical columns. "auto": columns of string, object (unless they hold only
        numbers), category and bool dtype. None: every column is numeric.
    max_onehot : int >= 0, default=0
        A categorical column with at most this many categories (seen in fit) is one-hot
        encoded; one with more becomes a code column. 0 (the default) codes every
        categorical column: the nets embed each, and their numeric embedding then
        reaches the table's numbers only (on Adult, one-hot columns embedded with the
        numbers took 3.5x the fit time, ``benchmarks/results/real_ablation.md``).
        Give e.g. 16 for a linear model after the encoder.
    min_frequency : int >= 1, default=1
        Categories seen fewer times in fit are read as unseen (code 0, or no one-hot flag).
    scale : bool, default=True
        Standardise the numeric columns (the nets standardise each block themselves; a
        linear model needs it).
    add_indicator : bool, default=True
        Add the ``present`` column: 1 where the row has at least one cell, 0 where all of
        its cells are missing.

    Attributes
    ----------
    numeric_ : list of str
        The numeric columns, in order.
    categories_ : dict {str: ndarray}
        The categories of each categorical column kept in fit, in code order (code
        ``i + 1`` is ``categories_[column][i]``).
    onehot_ : list of str
        The categorical columns that are one-hot encoded; the others are coded.
    mean_, scale_, median_ : ndarray of shape (len(numeric_),)
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skmm.tabular import TabularEncoder
    >>> table = pd.DataFrame({"price": [9.5, np.nan, 12.0, 30.0],
    ...                       "colour": ["red", "blue", None, "red"],
    ...                       "brand": ["b1", "b2", "b3", "b1"]})
    >>> encoder = TabularEncoder(max_onehot=2).fit(table)
    >>> list(encoder.get_feature_names_out())
    ['num:price', 'colour=blue', 'colour=red', 'code:brand', 'present']
    >>> encoder.transform(table)[:, 3].tolist()
    [1.0, 2.0, 3.0, 1.0]
    """

    _parameter_constraints = {
        "categorical": [Options("auto"), None,
                        InstanceOf(list, tuple, description="a list of column names")],
        "max_onehot": [Integer(0)],
        "min_frequency": [Integer(1)],
        "scale": [InstanceOf(bool)],
        "add_indicator": [InstanceOf(bool)],
    }

    def __init__(self, categorical="auto", max_onehot=0, min_frequency=1, scale=True,
                 add_indicator=True):
        self.categorical = categorical
        self.max_onehot = max_onehot
        self.min_frequency = min_frequency
        self.scale = scale
        self.add_indicator = add_indicator

    def fit(self, X, y=None):
        """Learn which columns are categorical, their categories and the numeric statistics.

        Parameters
        ----------
        X : DataFrame, Series or 2-D array of table columns
        y : ignored

        Returns
        -------
        self
        """
        validate_params(self)
        X = _frame(X, type(self).__name__)
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        categorical = self._categorical_columns(X)
        self.numeric_ = [c for c in X.columns if c not in categorical]
        numbers = self._numbers(X)
        with np.errstate(all="ignore"):
            observed = ~np.isnan(numbers)
            counts = observed.sum(axis=0)
            self.mean_ = np.where(counts > 0, np.nansum(numbers, axis=0) / np.maximum(counts, 1),
                                  0.0)
            spread = np.sqrt(np.nansum((numbers - self.mean_) ** 2, axis=0)
                             / np.maximum(counts, 1))
        self.scale_ = np.where(spread > 1e-12, spread, 1.0)
        self.median_ = np.array([np.median(numbers[observed[:, j], j]) if counts[j] else 0.0
                                 for j in range(numbers.shape[1])])
        self.categories_, self.onehot_ = {}, []
        for column in categorical:
            labels = _labels(X[column])
            counts = pd.Series(labels[labels != None]).value_counts(sort=False)  # noqa: E711
            kept = counts[counts >= self.min_frequency].index
            self.categories_[column] = np.asarray(sorted(kept), dtype=object)
            if len(kept) <= self.max_onehot:
                self.onehot_.append(column)
        return self

    def transform(self, X):
        """The block: numeric columns, one-hot columns, code columns, then ``present``.

        Returns
        -------
        ndarray of float32, shape (n_samples, n_features_out)
        """
        check_is_fitted(self)
        X = _frame(X, type(self).__name__)
        self._check_columns(X)
        numbers = self._numbers(X)
        missing = np.isnan(numbers)
        numbers = np.where(missing, self.median_, numbers)
        if self.scale:
            numbers = (numbers - self.mean_) / self.scale_
        parts, absent = [numbers], missing.all(axis=1) if numbers.shape[1] else None
        onehot, codes = [], []
        for column, categories in self.categories_.items():
            empty = _missing(X[column])
            absent = empty if absent is None else absent & empty
            position = pd.Index(categories).get_indexer(_labels(X[column]))  # -1: missing or unseen
            if column in self.onehot_:
                flags = np.zeros((len(X), len(categories)))
                seen = position >= 0
                flags[np.flatnonzero(seen), position[seen]] = 1.0
                onehot.append(flags)
            else:
                codes.append((position + 1)[:, None])
        parts += onehot + codes
        if self.add_indicator:
            parts.append((~absent)[:, None])
        return np.hstack(parts).astype(np.float32)

    def get_feature_names_out(self, input_features=None):
        """``column`` (numeric), ``column=category`` (one-hot), ``code:column``, ``present``."""
        check_is_fitted(self)
        names = [f"{NUMBER_MARK}{_safe(c)}" for c in self.numeric_]
        for column in self.onehot_:
            names += category_names(_safe(column), [_safe(v) for v in self.categories_[column]])
        names += [category_names(_safe(c))[0] for c in self.categories_
                  if c not in self.onehot_]
        if self.add_indicator:
            names.append(PRESENT)
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.input_tags.allow_nan = True
        return tags

    # ---- internals ---------------------------------------------------------------------
    def _categorical_columns(self, X):
        if self.categorical == "auto":
            return [c for c in X.columns if _looks_categorical(X[c])]
        chosen = [str(c) for c in (self.categorical or [])]
        unknown = [c for c in chosen if c not in X.columns]
        if unknown:
            raise InvalidInputError(
                f"{type(self).__name__}: categorical names columns {unknown} that X does not "
                f"have; X has {list(X.columns)[:_MAX_LISTED]}."
            )
        return chosen

    def _check_columns(self, X):
        columns = np.asarray(X.columns, dtype=object)
        if len(columns) != self.n_features_in_ or (columns != self.feature_names_in_).any():
            raise InvalidInputError(
                f"{type(self).__name__} was fitted on columns {list(self.feature_names_in_)} "
                f"but received {list(columns)}. Fix: give it the same columns as at fit."
            )

    def _numbers(self, X):
        """The numeric columns as float64, NaN where missing; a clear error for a string."""
        out = np.empty((len(X), len(self.numeric_)))
        for j, column in enumerate(self.numeric_):
            values = pd.to_numeric(X[column], errors="coerce")
            wrong = values.isna().to_numpy() & ~_missing(X[column])
            if wrong.any():
                rows = np.flatnonzero(wrong)
                raise InvalidInputError(
                    f"{type(self).__name__}: column {column!r} is numeric, but the row at "
                    f"position {rows[0]} holds {X[column].iloc[rows[0]]!r}, which is not a "
                    f"number ({len(rows)} such row(s) in all). Fix: list it in "
                    "categorical=[...] if it holds categories, or clean the values."
                )
            out[:, j] = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return out
