"""Machinery shared by every extractor: column intake, streaming batches, devices, progress.

An extractor subclasses :class:`BaseExtractor` and provides

* ``_decode_cell(cell)``: one cell -> a decoded object (raise :class:`~skmm._io.CellError`
  for a bad cell); runs in a thread pool;
* ``_extract_batch(decoded)``: a list of decoded cells -> float32 array (b, n_out);
* ``_feature_names()``: the names of the n_out columns;
* optionally ``_check_params()`` (validate parameters, called by ``fit``) and
  ``_fit_decoded(decoded, y)`` (learn from the decoded training cells).

:meth:`BaseExtractor.transform` streams the column in batches (decode a batch in
threads, extract it, write its rows into the output), so peak memory is the output
plus one batch. Missing cells become a fill row (and a ``present`` column when
``add_indicator=True``); bad cells are collected over the whole column and reported
once, and no expensive extraction runs after the first bad cell in ``"raise"`` mode.

Before extracting, the cells go through the feature cache (:mod:`skmm.cache`): rows
already stored under the extractor's ``cache`` parameter (or ``skmm.get_config()``'s)
are read back, identical cells are extracted once per call, and new rows of good
cells are stored. Subclasses tune this with ``_cache_enabled``, ``_cache_version``,
``_cache_ignored_params`` and ``_cache_fitted_state()``.
"""

import os

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._config import get_config
from ._io import CellError, check_on_error, column_cells, missing_mask, report_cell_errors
from .cache import as_feature_cache, plan_column
from .exceptions import InvalidInputError


def resolve_device(device):
    """Resolve ``"auto"`` to ``"cuda"``, then ``"mps"``, then ``"cpu"``; validate others.

    Examples
    --------
    >>> resolve_device("cpu")
    'cpu'
    """
    import torch

    if device is None or device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInputError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}."
        ) from exc
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(
            f"device={device!r} was asked for but CUDA is not available on this machine; "
            "use device='auto' to fall back to the CPU."
        )
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise InvalidInputError(f"device={device!r} was asked for but MPS is not available.")
    return str(parsed)


def resolve_precision(precision, device):
    """Return the autocast dtype for ``precision`` on ``device`` (None: plain float32).

    ``"auto"`` is bfloat16 on CUDA devices that support it, float32 elsewhere.
    """
    import torch

    if precision in (None, "float32"):
        return None
    is_cuda = str(device).startswith("cuda")
    if precision == "auto":
        if is_cuda and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None
    if precision == "bfloat16":
        return torch.bfloat16
    if precision == "float16":
        if not is_cuda:
            raise InvalidInputError(
                "precision='float16' needs a CUDA device; use 'bfloat16' or 'float32'."
            )
        return torch.float16
    raise InvalidInputError(
        f"precision must be 'auto', 'float32', 'bfloat16' or 'float16', got {precision!r}."
    )


def batch_slices(n, batch_size):
    """Yield slices covering ``range(n)`` in chunks of ``batch_size``."""
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}.")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def progress(iterable, verbose=False, total=None, desc=None):
    """Wrap ``iterable`` in a tqdm progress bar when ``verbose``."""
    if not verbose:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False)


def effective_threads(n_jobs):
    """Thread count for decoding: None -> min(4, cores), -1 -> all cores."""
    cores = os.cpu_count() or 1
    if n_jobs is None:
        return min(4, cores)
    if not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise InvalidInputError(f"n_jobs must be None or a non-zero integer, got {n_jobs!r}.")
    return max(1, cores + 1 + n_jobs) if n_jobs < 0 else int(n_jobs)


#: Cells whose decoding reads files or runs a codec or resampler (worth a thread pool).
_CELLS_WORTH_THREADS = (str, os.PathLike, bytes, bytearray, memoryview, tuple)


def decode_many(decode, cells, positions, n_threads):
    """Decode ``cells`` (in threads when it pays). Returns (decoded, errors).

    ``decoded[i]`` is None where cell i failed; ``errors`` lists
    (position, cell, cause) for each failure.
    """

    def one(cell):
        try:
            return decode(cell), None
        except CellError as exc:
            return None, str(exc)
        except InvalidInputError as exc:
            return None, str(exc)
        except Exception as exc:  # never let a library's bare traceback escape
            return None, f"{type(exc).__name__}: {exc}"

    # in-memory arrays decode in microseconds: a thread pool would cost more than it saves
    needs_work = any(isinstance(c, _CELLS_WORTH_THREADS) for c in cells)
    if n_threads > 1 and len(cells) > 1 and needs_work:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(n_threads, len(cells))) as pool:
            results = list(pool.map(one, cells))
    else:
        results = [one(c) for c in cells]
    decoded, errors = [], []
    for pos, cell, (value, cause) in zip(positions, cells, results):
        decoded.append(value)
        if cause is not None:
            errors.append((pos, cell, cause))
    return decoded, errors


class BaseExtractor(TransformerMixin, BaseEstimator):
    """Base class of skmm's single-column extractors (see the module docstring).

    Subclasses declare their parameters in ``__init__`` (stored unchanged) and may
    use these common ones: ``batch_size``, ``n_jobs`` (decoding threads),
    ``on_error``, ``add_indicator``, ``fill_value``, ``verbose``.
    """

    #: Fill value of a missing row when the subclass has no ``fill_value`` parameter.
    _default_fill_value = 0.0
    #: False when the output is not a pure function of the cell (no cache, no dedup).
    _cache_enabled = True
    #: Bump when the computation changes without a parameter or library version change.
    _cache_version = 0
    #: Parameters besides skmm._fingerprint.IGNORED_PARAMS that never change the values.
    _cache_ignored_params = ()

    # ---- hooks -----------------------------------------------------------------------
    def _check_params(self):
        """Validate parameters; raise InvalidInputError with a fix. Called by fit."""

    def _decode_cell(self, cell):
        raise NotImplementedError

    def _fit_decoded(self, decoded, y=None):
        """Learn from the decoded non-missing training cells (stateless by default)."""

    def _extract_batch(self, decoded):
        raise NotImplementedError

    def _feature_names(self):
        raise NotImplementedError

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
        from ._fingerprint import IGNORED_FITTED

        return {
            k: v for k, v in vars(self).items()
            if k.endswith("_") and not k.startswith("_") and k not in IGNORED_FITTED
        }

    def _feature_cache(self):
        """The FeatureCache to use: the ``cache`` parameter, else the global config."""
        value = getattr(self, "cache", None)
        if value is None:
            value = get_config()["cache"]
        return as_feature_cache(value)

    # ---- common parameters with defaults ---------------------------------------------
    def _param(self, name, default):
        return getattr(self, name, default)

    @property
    def _what(self):
        return type(self).__name__

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
        check_on_error(self._param("on_error", "raise"))
        batch_size = self._param("batch_size", 64)
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}.")
        effective_threads(self._param("n_jobs", None))
        self._feature_cache()  # validates the cache parameter
        self._check_params()
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
            names.append("present")
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
        plan = plan_column(self, cells, np.flatnonzero(present), out)
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
