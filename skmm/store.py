"""A feature store: rows of named float32 features on disk, read a batch at a time.

The nets train from a :class:`FeatureStore` as they do from an array (same blocks, same
seeds, same predictions) without holding its rows in memory: each batch's rows are read
with positioned reads (``preadv``; consecutive rows in one read) through the system's file
cache. Nothing is memory-mapped (a map's pages count in the process's resident memory, and
the kernel maps whole large pages of the file cache around each row read), so the
process's memory is bounded by the batch and the model, not by the rows.

On disk, a store is one folder::

    features.f32   the rows, float32, row after row (C order)
    store.json     column names, number of rows, CRC-32 of the rows, columns with NaN/inf

``store.json`` is written last (to a temporary file renamed into place), after the rows
were flushed to disk: a folder whose writer was interrupted (killed, disk full) has no
``store.json`` and is refused with a clear error, never read as a shorter store. One writer
per folder; readers never modify it.
"""

import json
import os
import re
import zlib

import numpy as np
import pandas as pd

from ._deps import import_optional
from .exceptions import InvalidInputError

FORMAT = "skmm-feature-store"
VERSION = 1
DATA_FILE = "features.f32"
META_FILE = "store.json"
TMP_SUFFIX = ".tmp"
#: Rows per chunk when a store is read or written sequentially.
CHUNK_ROWS = 16_384


class FeatureStore:
    """Named float32 features on disk, for training and predicting from tables larger than
    memory.

    Open an existing store with ``FeatureStore(path)``; write one with
    :meth:`from_frame`, :meth:`from_parquet` (e.g. the folder that
    :func:`skmm.distributed.extract_to_parquet` wrote) or :meth:`write` (any iterable of
    chunks). Pass it as ``X`` to :class:`~skmm.nets.FusionNetClassifier` or
    :class:`~skmm.nets.FusionNetRegressor` (``fit``, ``predict``, ``score``) with ``y``
    in memory: the column names give the blocks, as a DataFrame's would.

    Parameters
    ----------
    path : str or path-like
        The store's folder.

    Attributes
    ----------
    columns : list of str
        The feature names, in order.
    shape : tuple (n_rows, n_features)
    nonfinite_columns : list of int
        Positions of the columns holding NaN or infinite values (recorded when written).

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> frame = pd.DataFrame({"a__x": [0.5, 1.5, 2.5], "b__y": [1.0, 0.0, 1.0]})
    >>> store = FeatureStore.from_frame(frame, tempfile.mkdtemp())
    >>> store.shape, store.columns
    ((3, 2), ['a__x', 'b__y'])
    >>> store.rows([2, 0])
    array([[2.5, 1. ],
           [0.5, 1. ]], dtype=float32)
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        meta_path = os.path.join(self.path, META_FILE)
        try:
            with open(meta_path, encoding="utf-8") as fh:
                meta = json.load(fh)
        except FileNotFoundError:
            raise InvalidInputError(
                f"'{self.path}' holds no complete feature store (no {META_FILE}): either it was "
                "never written, or its writer was interrupted before it finished. Write it "
                "again with FeatureStore.from_parquet / from_frame / write."
            ) from None
        except (OSError, ValueError) as exc:
            raise InvalidInputError(
                f"the feature store '{self.path}' cannot be opened: {META_FILE} is unreadable "
                f"({exc}). Write the store again."
            ) from exc
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise InvalidInputError(
                f"'{self.path}' is not a skmm feature store of version {VERSION} (its "
                f"{META_FILE} says format={meta.get('format')!r}, version={meta.get('version')!r})."
            )
        self.columns = [str(c) for c in meta["columns"]]
        self.n_rows = int(meta["n_rows"])
        self.crc32 = int(meta["crc32"])
        self.nonfinite_columns = [int(j) for j in meta.get("nonfinite_columns", [])]
        expected = self.n_rows * len(self.columns) * 4
        size = _size(os.path.join(self.path, DATA_FILE))
        if size != expected:
            raise InvalidInputError(
                f"the feature store '{self.path}' is damaged: {DATA_FILE} holds {size} bytes, "
                f"its {META_FILE} promises {expected} ({self.n_rows} rows x "
                f"{len(self.columns)} float32 columns). Write the store again."
            )
        self._fd = None

    # ---- what it holds ----------------------------------------------------------------
    @property
    def n_features(self):
        return len(self.columns)

    @property
    def shape(self):
        return (self.n_rows, self.n_features)

    @property
    def nbytes(self):
        return self.n_rows * self.n_features * 4

    def __len__(self):
        return self.n_rows

    def __repr__(self):
        return f"FeatureStore('{self.path}', {self.n_rows} rows x {self.n_features} features)"

    def __reduce__(self):  # a path travels to workers and pickles, never the rows
        return (type(self), (self.path,))

    def __eq__(self, other):
        return (isinstance(other, FeatureStore) and os.path.abspath(other.path)
                == os.path.abspath(self.path))

    def __hash__(self):
        return hash(os.path.abspath(self.path))

    # ---- reading ----------------------------------------------------------------------
    def _file(self):
        if self._fd is None:  # opened once per process (a pickle carries the path only)
            self._fd = os.open(os.path.join(self.path, DATA_FILE), os.O_RDONLY)
        return self._fd

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)

    def _read_runs(self, starts, lengths, out):
        """Read runs of consecutive rows (``starts[i]``, ``lengths[i]`` rows) into ``out``."""
        fd, row_bytes = self._file(), self.n_features * 4
        view, position = memoryview(out).cast("B"), 0
        for start, length in zip(starts.tolist(), lengths.tolist()):
            size = length * row_bytes
            done = os.preadv(fd, [view[position:position + size]], start * row_bytes)
            if done != size:
                raise InvalidInputError(
                    f"the feature store '{self.path}' ended early: {done} of {size} bytes read "
                    f"at row {start}. It was changed or truncated after it was opened; write "
                    "it again.")
            position += size

    def rows(self, indices):
        """The rows ``indices`` (any order, repeats allowed) as a float32 array.

        Read with positioned reads through the system's file cache (consecutive rows in one
        read), never mapped into the process: its memory holds the rows returned, nothing
        more, however large the store.
        """
        indices = np.asarray(indices, dtype=np.int64).ravel()
        if indices.size and (indices.min() < -self.n_rows or indices.max() >= self.n_rows):
            raise IndexError(
                f"row index out of range for the feature store '{self.path}' "
                f"({self.n_rows} rows): {int(indices.min())}..{int(indices.max())}."
            )
        indices = np.where(indices < 0, indices + self.n_rows, indices)
        wanted, inverse = np.unique(indices, return_inverse=True)
        out = np.empty((len(wanted), self.n_features), dtype=np.float32)
        if len(wanted) and self.n_features:
            breaks = np.flatnonzero(np.diff(wanted) != 1) + 1
            starts = wanted[np.r_[0, breaks]]
            lengths = np.diff(np.r_[0, breaks, len(wanted)])
            self._read_runs(starts, lengths, out)
        return out if len(wanted) == len(indices) and (wanted == indices).all() else out[inverse]

    def iter_chunks(self, chunk_rows=CHUNK_ROWS):
        """Yield ``(start, rows)`` over the store in order, ``chunk_rows`` rows at a time."""
        for start in range(0, self.n_rows, int(chunk_rows)):
            length = min(int(chunk_rows), self.n_rows - start)
            chunk = np.empty((length, self.n_features), dtype=np.float32)
            if chunk.size:
                self._read_runs(np.array([start]), np.array([length]), chunk)
            yield start, chunk

    def to_numpy(self):
        """All the rows in memory (for a store that fits)."""
        return self.rows(np.arange(self.n_rows))

    def verify(self):
        """Recompute the CRC-32 of the rows; raise :class:`InvalidInputError` if it differs
        from the one recorded when the store was written. Returns ``self``."""
        crc = 0
        for _, chunk in self.iter_chunks():
            crc = zlib.crc32(chunk.tobytes(), crc)
        if crc != self.crc32:
            raise InvalidInputError(
                f"the feature store '{self.path}' is corrupt: its rows' CRC-32 is {crc:#010x}, "
                f"{self.crc32:#010x} was recorded. Write the store again."
            )
        return self

    # ---- writing ----------------------------------------------------------------------
    @classmethod
    def write(cls, path, chunks, columns=None):
        """Write the rows of ``chunks`` (DataFrames or 2-D arrays, in order) as a store.

        Parameters
        ----------
        path : str or path-like
            The store's folder (created; a store already there is replaced).
        chunks : iterable of DataFrame or ndarray
            The rows, a chunk at a time (never all in memory). DataFrames give the column
            names; arrays need ``columns``.
        columns : list of str, optional
            The feature names (default: the first DataFrame's columns).

        Returns
        -------
        FeatureStore

        Raises
        ------
        OSError
            When the folder cannot be written (a full disk, a quota): the message names
            the folder, and nothing is left there but an incomplete store that opening
            refuses.
        """
        path = os.fspath(path)
        os.makedirs(path, exist_ok=True)
        _remove(os.path.join(path, META_FILE))  # the old store is gone from here on
        for name in os.listdir(path):
            if name.startswith(DATA_FILE + ".") and name.endswith(TMP_SUFFIX):
                _remove(os.path.join(path, name))  # an interrupted writer's leftovers
        data_tmp = os.path.join(path, f"{DATA_FILE}.{os.getpid()}{TMP_SUFFIX}")
        names, n_rows, crc, nonfinite = None if columns is None else list(columns), 0, 0, None
        try:
            with open(data_tmp, "wb") as fh:
                for chunk in chunks:
                    values, names = _chunk_values(chunk, names, n_rows, path)
                    crc = zlib.crc32(values.tobytes(), crc)
                    bad = ~np.isfinite(values).all(axis=0)
                    nonfinite = bad if nonfinite is None else nonfinite | bad
                    values.tofile(fh)
                    n_rows += len(values)
                fh.flush()
                os.fsync(fh.fileno())
            if names is None:
                raise InvalidInputError(
                    f"no rows and no column names were given for the feature store '{path}'; "
                    "pass columns= or at least one DataFrame chunk.")
            os.replace(data_tmp, os.path.join(path, DATA_FILE))
            meta = {"format": FORMAT, "version": VERSION, "n_rows": n_rows, "columns": names,
                    "crc32": crc, "nonfinite_columns": (
                        [] if nonfinite is None else np.flatnonzero(nonfinite).tolist())}
            meta_tmp = os.path.join(path, f"{META_FILE}.{os.getpid()}{TMP_SUFFIX}")
            try:
                with open(meta_tmp, "w", encoding="utf-8") as fh:
                    json.dump(meta, fh)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(meta_tmp, os.path.join(path, META_FILE))
            finally:
                _remove(meta_tmp)
        except OSError as exc:
            _remove(data_tmp)
            raise OSError(
                exc.errno,
                f"skmm could not write the feature store '{path}' ({exc.strerror or exc}); "
                f"it is left incomplete (no {META_FILE}: opening it is refused). Free space "
                "there or choose another folder, then write it again.",
            ) from exc
        except BaseException:
            _remove(data_tmp)
            raise
        return cls(path)

    @classmethod
    def from_frame(cls, X, path, chunk_rows=CHUNK_ROWS):
        """Write a DataFrame (or a 2-D array with ``X.columns``-less default names
        ``x0, x1, ...``) as a store at ``path``."""
        columns = None
        if not hasattr(X, "columns"):
            X = np.asarray(X)
            columns = [f"x{j}" for j in range(X.shape[1])] if X.ndim == 2 else None
        chunks = (X.iloc[s:s + chunk_rows] if hasattr(X, "iloc") else X[s:s + chunk_rows]
                  for s in range(0, len(X), chunk_rows))
        return cls.write(path, chunks, columns=columns)

    @classmethod
    def from_parquet(cls, source, path, chunk_rows=CHUNK_ROWS):
        """Write the rows of a Parquet folder (its files in natural order of their names:
        ``part.2`` before ``part.10``) or file as a store at ``path``, streaming
        ``chunk_rows`` rows at a time. Needs pyarrow (``pip install 'skmm[distributed]'``)."""
        parquet = import_optional("pyarrow.parquet", "distributed", "reading Parquet")
        files = parquet_files(source)
        return cls.write(path, _parquet_chunks(parquet, files, int(chunk_rows)))


def parquet_files(source):
    """The Parquet files of ``source`` (a file, or a folder's ``*.parquet`` files in natural
    order of their names); a clear error when there are none."""
    source = os.fspath(source)
    if os.path.isfile(source):
        return [source]
    try:
        names = [n for n in os.listdir(source) if n.endswith(".parquet")]
    except OSError as exc:
        raise InvalidInputError(f"cannot read the Parquet folder '{source}': {exc}") from exc
    if not names:
        raise InvalidInputError(f"the folder '{source}' holds no .parquet file.")
    return [os.path.join(source, n) for n in sorted(names, key=natural_key)]


def natural_key(name):
    """Sort key that orders the numbers in a name by value (``part.2`` < ``part.10``)."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", name)]


def _parquet_chunks(parquet, files, chunk_rows):
    names = None
    for file in files:
        handle = parquet.ParquetFile(file)
        columns = [c for c in handle.schema_arrow.names if not c.startswith("__index_level_")]
        if names is not None and columns != names:
            raise InvalidInputError(
                f"the Parquet file '{file}' has columns {columns[:5]}... where the files before "
                f"it have {names[:5]}...: a store needs the same columns in every file."
            )
        names = columns
        for batch in handle.iter_batches(batch_size=chunk_rows, columns=columns):
            values = np.column_stack([
                batch.column(j).to_numpy(zero_copy_only=False) for j in range(len(columns))
            ]) if columns else np.empty((batch.num_rows, 0))
            yield pd.DataFrame(values.astype(np.float32, copy=False), columns=columns)


def _chunk_values(chunk, names, start, path):
    """``(float32 C-order rows, column names)`` of one chunk, checked against the names."""
    if hasattr(chunk, "columns"):
        columns = [str(c) for c in chunk.columns]
        if names is not None and columns != names:
            raise InvalidInputError(
                f"the rows from row {start} on, written to the feature store '{path}', have "
                f"columns {columns[:5]}... where the earlier rows have {names[:5]}...: every "
                "chunk needs the same columns in the same order."
            )
        names = columns
    try:
        values = np.ascontiguousarray(np.asarray(chunk, dtype=np.float32))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"the rows from row {start} on, written to the feature store '{path}', are not all "
            f"numbers ({exc}). A store holds extracted features: transform the cells first."
        ) from exc
    if values.ndim != 2 or (names is not None and values.shape[1] != len(names)):
        raise InvalidInputError(
            f"the rows from row {start} on, written to the feature store '{path}', have shape "
            f"{values.shape}; expected 2-D rows of {len(names) if names else '?'} columns."
        )
    return values, names


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return -1


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass
