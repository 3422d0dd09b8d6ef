"""Turning a column of cells into decoded batches, with no knowledge of any modality.

Every extractor goes through this module, so the data contract of DESIGN.md section 1
is implemented (and tested) once: which inputs a column may be (:func:`column_cells`),
what counts as a missing cell (:func:`is_missing`), how a decoder reports a bad cell
(:class:`CellError`), how bad cells are reported (all of them at once, with row, path
and cause: :func:`report_cell_errors`), and how a column is cut into batches and
decoded in threads (:func:`batch_slices`, :func:`decode_many`). The decoders of each
modality live in its package (``skmm.image._decode``, ``skmm.audio._decode``,
``skmm.text._decode``).
"""

import math
import os
import warnings

import numpy as np

from ._validation import Integer, Options, Satisfies, check_param
from .exceptions import InvalidInputError

#: Constraints of the column parameters that extractors share (see BaseExtractor).
ON_ERROR = Options("raise", "warn", "ignore")
BATCH_SIZE = Integer(1)
N_JOBS = Satisfies(lambda n: Integer().is_satisfied_by(n) and n != 0, "a non-zero integer")
_MAX_LISTED_ROWS = 20


class CellError(Exception):
    """Raised by a decoder for one bad cell; turned into a row of an InvalidInputError."""


# --------------------------------------------------------------------------- intake


def column_cells(X, what="column"):
    """Return the cells of a single column as a list, plus the row labels.

    Parameters
    ----------
    X : pandas.Series, (n, 1) pandas.DataFrame, list, tuple, 1-D array, (n, 1) array,
        or an array of shape (n, ...) whose rows are the cells (a stack of images
        or of equal-length waveforms).
    what : str
        How the caller names the column, used in error messages.

    Returns
    -------
    cells : list, length n
    labels : list or None
        The pandas index labels when X carries a non-default index, else None.
    """
    labels = None
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a hard dependency
        pd = None
    if pd is not None and isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise InvalidInputError(
                f"Expected one {what} (a DataFrame with exactly 1 column), got "
                f"{X.shape[1]} columns {list(X.columns)[:10]}. Select one column, e.g. "
                "ColumnTransformer([('audio', AudioLogMel(), 'audio')]) with the column "
                "name as a string, not a list."
            )
        X = X.iloc[:, 0]
    if pd is not None and isinstance(X, pd.Series):
        if not isinstance(X.index, pd.RangeIndex) or X.index.start != 0 or X.index.step != 1:
            labels = list(X.index)
        return list(X.array), labels
    if isinstance(X, (str, bytes, os.PathLike)):
        raise InvalidInputError(
            f"Expected a {what} of cells (a list, Series or 1-D array), got a single "
            f"{type(X).__name__}. Wrap it in a list: [x]."
        )
    if isinstance(X, np.ndarray):
        if X.ndim == 0:
            raise InvalidInputError(f"Expected a {what} of cells, got a 0-d array.")
        if X.ndim == 2 and X.shape[1] == 1:
            return list(X[:, 0]), None
        if X.ndim == 2 and X.dtype == object:
            raise InvalidInputError(
                f"Expected one {what} (shape (n,) or (n, 1)), got an object array of shape "
                f"{X.shape}. Select a single column."
            )
        return list(X), None
    if isinstance(X, (list, tuple)):
        return list(X), None
    if hasattr(X, "__array__") or hasattr(X, "__iter__"):
        return list(X), None
    raise InvalidInputError(
        f"Expected a {what} of cells (list, pandas Series, 1-D array), got {type(X).__name__}."
    )


def is_missing(cell):
    """True for ``None``, float NaN, ``pandas.NA`` and ``pandas.NaT``: an absent modality."""
    if cell is None:
        return True
    if isinstance(cell, float):
        return math.isnan(cell)
    if isinstance(cell, (np.floating,)):
        return bool(np.isnan(cell))
    try:
        import pandas as pd

        return cell is pd.NA or cell is pd.NaT
    except ImportError:  # pragma: no cover
        return False


def missing_mask(cells):
    """Boolean array, True where a cell is missing."""
    return np.fromiter((is_missing(c) for c in cells), dtype=bool, count=len(cells))


def describe_cell(cell):
    """Short description of a cell for error messages: its path, or its type and size."""
    if isinstance(cell, (str, os.PathLike)):
        return f"path '{os.fspath(cell)}'"
    if isinstance(cell, (bytes, bytearray, memoryview)):
        return f"{len(cell)} bytes"
    if isinstance(cell, np.ndarray):
        return f"array shape {cell.shape} dtype {cell.dtype}"
    if isinstance(cell, tuple):
        return f"tuple of {len(cell)}"
    return type(cell).__name__


def row_reference(position, labels=None):
    """'row 3' or "row 3 (index 'a')" when the caller's index differs from positions."""
    if labels is not None:
        return f"row {position} (index {labels[position]!r})"
    return f"row {position}"


def report_cell_errors(errors, on_error, what, labels=None):
    """Raise, warn about or ignore the bad cells collected by a decoder.

    Parameters
    ----------
    errors : list of (position, cell, cause)
    on_error : {"raise", "warn", "ignore"}
    what : str
        The extractor or modality, for the message (e.g. ``"AudioLogMel"``).
    labels : list or None
        Row labels of the input (see :func:`column_cells`).
    """
    if not errors:
        return
    errors = sorted(errors, key=lambda e: e[0])
    lines = [
        f"  {row_reference(pos, labels)}, {describe_cell(cell)}: {cause}"
        for pos, cell, cause in errors[:_MAX_LISTED_ROWS]
    ]
    if len(errors) > _MAX_LISTED_ROWS:
        lines.append(f"  ... and {len(errors) - _MAX_LISTED_ROWS} more")
    rows = [int(e[0]) for e in errors]
    if on_error == "raise":
        raise InvalidInputError(
            f"{what}: {len(errors)} bad cell(s) could not be decoded:\n"
            + "\n".join(lines)
            + "\nFix or remove these cells, or pass on_error='warn' (or 'ignore') to treat "
            "them as missing (filled and flagged; no row is dropped).",
            rows=rows,
        )
    if on_error == "warn":
        warnings.warn(
            f"{what}: {len(errors)} bad cell(s) treated as missing (rows {rows[:50]}):\n"
            + "\n".join(lines),
            UserWarning,
            stacklevel=3,
        )


def read_file_path(cell, kind):
    """The path of a cell naming a file: a :class:`CellError` when it is absent, a folder
    or empty (``kind`` names the expected file, e.g. "image")."""
    path = os.fspath(cell)
    if not os.path.exists(path):
        raise CellError(f"file not found; check the path (working directory is '{os.getcwd()}')")
    if os.path.isdir(path):
        raise CellError(f"is a directory, expected a {kind} file")
    if os.path.getsize(path) == 0:
        raise CellError(f"file is empty (0 bytes), expected a {kind} file")
    return path


# --------------------------------------------------------------------------- batches


def batch_slices(n, batch_size):
    """Yield slices covering ``range(n)`` in chunks of ``batch_size``.

    Examples
    --------
    >>> [(s.start, s.stop) for s in batch_slices(5, 2)]
    [(0, 2), (2, 4), (4, 5)]
    """
    check_param("batch_size", batch_size, [BATCH_SIZE])
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
    check_param("n_jobs", n_jobs, [None, N_JOBS])
    cores = os.cpu_count() or 1
    if n_jobs is None:
        return min(4, cores)
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
