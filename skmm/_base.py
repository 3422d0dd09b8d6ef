"""BaseExtractor: one column of cells in, one float32 row per cell out.

An extractor subclasses :class:`BaseExtractor` and provides

* ``_parameter_constraints``: a class attribute ``{parameter: [constraint, ...]}`` (see
  :mod:`skmm._validation`), checked by ``fit``; ``_validate_rules()`` for what one
  constraint per parameter cannot say (relations between parameters). Both only check;
* ``_prepare_fit()``: the fitted state that does not depend on the data (a resolved
  device, a loaded model, filter banks), built by ``fit`` after validation;
* ``_decode_cell(cell)``: one cell -> a decoded object (raise
  :class:`~skmm._column.CellError` for a bad cell); runs in a thread pool;
* ``_fit_decoded(decoded, y)`` (optional): learn from the decoded training cells;
* ``_extract_batch(decoded)``: a list of decoded cells -> float32 array (b, n_out);
* ``_feature_names()``: the names of the n_out columns, written with :mod:`skmm._naming`.

:meth:`BaseExtractor.transform` streams the column in batches (decode a batch in
threads, extract it, write its rows into the output), so peak memory is the output
plus one batch. Missing cells become a fill row (and a ``present`` column when
``add_indicator=True``); bad cells are collected over the whole column and reported
once, and no expensive extraction runs after the first bad cell in ``"raise"`` mode.

Before extracting, the cells go through the feature cache (:mod:`skmm.cache`), reached
through one hook, :meth:`BaseExtractor._cache_plan`: rows already stored are read back,
identical cells are extracted once per call, and new rows of good cells are stored. The
cache learns what it needs about the extractor from one method,
``__skmm_cache_identity__()``; subclasses tune it with ``_cache_enabled``,
``_cache_version``, ``_cache_ignored_params`` and ``_cache_fitted_state()``.
"""

from abc import ABCMeta, abstractmethod

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._column import (
    BATCH_SIZE,
    N_JOBS,
    ON_ERROR,
    batch_slices,
    column_cells,
    decode_many,
    effective_threads,
    missing_mask,
    progress,
    report_cell_errors,
)
from ._config import CACHE_SETTING_WORDS, is_cache_setting
from ._naming import PRESENT
from ._validation import Satisfies, parameter_constraints, validate_params
from ._validation import resolve_device, resolve_precision  # noqa: F401 (nets import them here)

#: Parameters that never change an extractor's values (``device`` changes them only
#: within float tolerance; ``fill_value`` only touches missing rows, which are never
#: cached).
IGNORED_PARAMS = frozenset(
    {"batch_size", "verbose", "n_jobs", "on_error", "cache", "device", "add_indicator",
     "fill_value"}
)
#: Fitted attributes that never change the values.
IGNORED_FITTED = frozenset({"n_features_in_", "feature_names_in_", "n_features_out_", "device_"})


def _public_module(cls):
    """``skmm.audio`` for a class defined in ``skmm.audio._extractors``: the import path
    users see, so that moving a class between private modules keeps its cache."""
    parts = cls.__module__.split(".")
    while len(parts) > 1 and parts[-1].startswith("_"):
        parts.pop()
    return ".".join(parts)


class BaseExtractor(TransformerMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class of skmm's single-column extractors (see the module docstring).

    Subclasses declare their parameters in ``__init__`` (stored unchanged) and may
    use these common ones: ``batch_size``, ``n_jobs`` (decoding threads),
    ``on_error``, ``add_indicator``, ``fill_value``, ``verbose``, ``cache``. Their
    constraints below apply to the ones a subclass has.

    Every concrete extractor declares the kind of cell it reads in the class attribute
    ``modality`` (``"image"``, ``"audio"`` or ``"text"``). It is a class attribute, not a
    parameter, so ``get_params`` and ``clone`` never see it; skmm's common tests read it to
    feed the extractor cells it accepts, and fail on an extractor that declares none.
    """

    #: The kind of cell the extractor reads: "image", "audio" or "text" (None: undeclared).
    modality = None

    _parameter_constraints = {
        "on_error": [ON_ERROR],
        "batch_size": [BATCH_SIZE],
        "n_jobs": [None, N_JOBS],
        "cache": (
            [Satisfies(is_cache_setting, CACHE_SETTING_WORDS)], "Example: cache='~/skmm-cache'."
        ),
    }
    #: Fill value of a missing row when the subclass has no ``fill_value`` parameter.
    _default_fill_value = 0.0
    #: False when the output is not a pure function of the cell (no cache, no dedup).
    _cache_enabled = True
    #: Bump when the computation changes without a parameter or library version change.
    _cache_version = 0
    #: Parameters besides IGNORED_PARAMS that never change the values.
    _cache_ignored_params = ()

    # ---- hooks -----------------------------------------------------------------------
    def _validate_rules(self):
        """Checks one constraint per parameter cannot say; raise InvalidInputError with a
        fix. Called by fit after the declared constraints hold. Never sets attributes."""

    def _prepare_fit(self):
        """Build the fitted state that does not depend on the data. Called by fit."""

    @abstractmethod
    def _decode_cell(self, cell):
        """One cell -> the decoded object ``_extract_batch`` takes; CellError if bad."""

    def _fit_decoded(self, decoded, y=None):
        """Learn from the decoded non-missing training cells (stateless by default)."""

    @abstractmethod
    def _extract_batch(self, decoded):
        """A list of decoded cells -> float32 array (len(decoded), n_features_out)."""

    @abstractmethod
    def _feature_names(self):
        """The names of the output columns (before ``present``), written by skmm._naming."""

    def _cache_fitted_state(self):
        """Fitted state that changes the output, for the cache key (None: nothing).

        By default: the public fitted attributes (``name_``) when the class learns in
        ``fit`` or ``_fit_decoded``, else None. Override to return only the learned
        arrays, or None when fit only loads fixed (e.g. pretrained) weights named by
        the parameters.
        """
        cls = type(self)
        if cls.fit is BaseExtractor.fit and cls._fit_decoded is BaseExtractor._fit_decoded:
            return None
        return {
            k: v for k, v in vars(self).items()
            if k.endswith("_") and not k.startswith("_") and k not in IGNORED_FITTED
        }

    # ---- what the feature cache sees of an extractor -----------------------------------
    def __skmm_cache_identity__(self):
        """Everything besides the cell that decides this extractor's rows, for the cache.

        Returns
        -------
        dict or None
            None when the rows must never be cached or deduplicated; else ``cache`` (the
            setting: the ``cache`` parameter, None for the global one), ``extractor``
            (public module and class name), ``version``, ``params`` (the parameters that
            change the rows), ``precision`` and ``fitted_state``.
        """
        if not self._cache_enabled:
            return None
        cls = type(self)
        ignored = IGNORED_PARAMS | frozenset(self._cache_ignored_params)
        return {
            "cache": self._param("cache", None),
            "extractor": (_public_module(cls), cls.__qualname__),
            "version": self._cache_version,
            "params": {
                k: v for k, v in self.get_params(deep=False).items() if k not in ignored
            },
            "precision": getattr(self, "precision_", None),  # e.g. bfloat16 autocast on a GPU
            "fitted_state": self._cache_fitted_state(),
        }

    def _cache_plan(self, cells, positions, out):
        """The one hook into the feature cache: :mod:`skmm.cache` is imported here, lazily.

        Fills ``out[positions]`` from the cache and returns a plan whose ``todo`` lists
        the positions left to extract (see :func:`skmm.cache.plan_column`).
        """
        from .cache import plan_column

        return plan_column(self, cells, positions, out)

    # ---- common parameters with defaults ---------------------------------------------
    def _param(self, name, default):
        return getattr(self, name, default)

    @property
    def _what(self):
        return type(self).__name__

    def _validate_params(self):
        """The declared constraints of the parameters this extractor has, then the rules."""
        params = self.get_params(deep=False)
        constraints = parameter_constraints(type(self))
        validate_params(self, {k: v for k, v in constraints.items() if k in params})
        self._validate_rules()

    # ---- public API --------------------------------------------------------------------
    def fit(self, X, y=None):
        """Validate parameters and learn what the extractor needs from the column X.

        Parameters
        ----------
        X : column of cells (Series, (n, 1) DataFrame, list or 1-D array)
        y : ignored by unsupervised extractors

        Returns
        -------
        self
        """
        self._validate_params()
        self._prepare_fit()
        cells, labels = self._intake(X, reset=True)
        if type(self)._fit_decoded is not BaseExtractor._fit_decoded:
            decoded, _ = self._decode_column(cells, labels)
            self._fit_decoded([d for d in decoded if d is not None], y)
        self.n_features_out_ = len(self._feature_names())
        return self

    def transform(self, X):
        """Extract one float32 row per cell.

        Parameters
        ----------
        X : column of cells (Series, (n, 1) DataFrame, list or 1-D array)

        Returns
        -------
        ndarray of float32, shape (n_samples, n_features_out)
        """
        check_is_fitted(self)
        cells, labels = self._intake(X, reset=False)
        return self._transform_cells(cells, labels)

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns (``ColumnTransformer`` prefixes them with its name)."""
        check_is_fitted(self)
        names = list(self._feature_names())
        if self._param("add_indicator", False):
            names.append(PRESENT)
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = True
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags

    # ---- internals ---------------------------------------------------------------------
    def _intake(self, X, reset):
        cells, labels = column_cells(X, what=f"column for {self._what}")
        if reset:
            self.n_features_in_ = 1
            columns = getattr(X, "columns", None)
            if columns is not None:
                self.feature_names_in_ = np.asarray([str(columns[0])], dtype=object)
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        return cells, labels

    def _decode_column(self, cells, labels):
        """Decode a whole column (used by fit). Returns (decoded, present)."""
        missing = missing_mask(cells)
        positions = np.flatnonzero(~missing)
        decoded_present, errors = decode_many(
            self._decode_cell, [cells[i] for i in positions], positions,
            effective_threads(self._param("n_jobs", None)),
        )
        report_cell_errors(errors, self._param("on_error", "raise"), self._what, labels)
        decoded = [None] * len(cells)
        for pos, value in zip(positions, decoded_present):
            decoded[pos] = value
        present = np.array([d is not None for d in decoded], dtype=bool)
        return decoded, present

    def _fill_value(self):
        return float(self._param("fill_value", self._default_fill_value))

    def _transform_cells(self, cells, labels):
        n = len(cells)
        names = self._feature_names()
        out = np.full((n, len(names)), self._fill_value(), dtype=np.float32)
        present = ~missing_mask(cells)
        plan = self._cache_plan(cells, np.flatnonzero(present), out)
        positions = plan.todo
        on_error = self._param("on_error", "raise")
        n_threads = effective_threads(self._param("n_jobs", None))
        errors = []
        slices = list(batch_slices(len(positions), self._param("batch_size", 64)))
        for sl in progress(slices, self._param("verbose", False), desc=self._what):
            batch_positions = positions[sl]
            decoded, batch_errors = decode_many(
                self._decode_cell, [cells[i] for i in batch_positions], batch_positions, n_threads
            )
            errors.extend(batch_errors)
            if errors and on_error == "raise":
                continue  # keep decoding to list every bad row, but extract nothing more
            good = [i for i, d in enumerate(decoded) if d is not None]
            if good:
                rows = self._extract_batch([decoded[i] for i in good])
                out[batch_positions[good]] = rows
                plan.save(batch_positions[good], out)
        plan.finish(out, cells, errors)
        report_cell_errors(errors, on_error, self._what, labels)
        if errors:
            present[[e[0] for e in errors]] = False
        if self._param("add_indicator", False):
            out = np.hstack([out, present[:, None].astype(np.float32)])
        return out
