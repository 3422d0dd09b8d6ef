"""FeatureCache, and the plan of one transform call: cache hits, cells to extract, duplicates.

See :mod:`skmm.cache` for how the cache works. The cache knows an extractor only through
``extractor.__skmm_cache_identity__()`` (see :class:`skmm._base.BaseExtractor`).
"""

import json
import os
import shutil
import threading
import warnings

import numpy as np

from .._config import check_cache_setting, get_config
from ..exceptions import InvalidInputError
from . import _packs
from ._fingerprint import cell_keys, check_hash_files, fingerprint

_lock = threading.Lock()
_written = {}  # cache root -> bytes written by this process since its last eviction check
_warned = set()


def _warn_once(what, message):
    if what not in _warned:
        _warned.add(what)
        warnings.warn(message, UserWarning, stacklevel=4)


class FeatureCache:
    """On-disk, content-addressed store of extracted feature rows.

    Give it to an extractor's ``cache`` parameter or to ``skmm.set_config(cache=...)``.
    It holds only a path and options, so cloning and pickling it are cheap, and
    every clone of an extractor (each fold, each candidate, each worker) shares the
    same store. See the module docstring for the keys, the file format, safety
    under concurrency and the scale-out recipes.

    Parameters
    ----------
    path : str or os.PathLike
        Folder of the cache (created on first write; ``~`` is expanded). Use an
        absolute path on a shared file system when workers run elsewhere.
    max_bytes : int, optional
        Size limit of the stored entries; the oldest entries are evicted beyond it.
        None: unbounded.
    hash_files : {"stat", "content"}, default="stat"
        How a file path is keyed: by its resolved path, size and modification time
        (cheap), or by its bytes (survives copying the data to another folder or
        machine; reads every file once per transform).

    Examples
    --------
    >>> import tempfile
    >>> from skmm.cache import FeatureCache
    >>> cache = FeatureCache(tempfile.mkdtemp(), max_bytes=10**8)
    >>> cache                                              # doctest: +ELLIPSIS
    FeatureCache('...', max_bytes=100000000)
    >>> cache.stats()
    {'entries': 0, 'files': 0, 'bytes': 0}
    """

    def __init__(self, path, max_bytes=None, hash_files="stat"):
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise InvalidInputError(
                f"FeatureCache needs a folder path (str or os.PathLike), got {path!r}."
            )
        integer = isinstance(max_bytes, (int, np.integer)) and not isinstance(max_bytes, bool)
        if max_bytes is not None and (not integer or max_bytes < 1):
            raise InvalidInputError(
                f"max_bytes must be None or a positive integer (bytes), got {max_bytes!r}."
            )
        check_hash_files(hash_files)
        self.path = path
        self.max_bytes = max_bytes
        self.hash_files = hash_files

    # ---- value semantics: cheap to copy, pickle and compare ---------------------------
    def __repr__(self):
        extra = "" if self.max_bytes is None else f", max_bytes={self.max_bytes}"
        extra += "" if self.hash_files == "stat" else f", hash_files={self.hash_files!r}"
        return f"FeatureCache({os.fspath(self.path)!r}{extra})"

    def __reduce__(self):
        return (type(self), (self.path, self.max_bytes, self.hash_files))

    def __eq__(self, other):
        if not isinstance(other, FeatureCache):
            return NotImplemented
        return (self.root, self.max_bytes, self.hash_files) == (
            other.root, other.max_bytes, other.hash_files
        )

    def __hash__(self):
        return hash((self.root, self.max_bytes, self.hash_files))

    @property
    def root(self):
        """Absolute path of the cache folder."""
        return os.path.abspath(os.path.expanduser(os.fspath(self.path)))

    # ---- public maintenance ---------------------------------------------------------
    def stats(self):
        """Rows stored (a row stored twice by racing writers counts twice), files, bytes."""
        found = _packs.packs(self.root)
        return {
            "entries": sum(_packs.count_rows(path) for _, _, path in found),
            "files": len(found),
            "bytes": sum(size for _, size, _ in found),
        }

    def evict(self):
        """Delete the oldest packs until the store fits in ``max_bytes``.

        Runs automatically as rows are written; call it to enforce the limit now.
        Returns the number of files removed.
        """
        with _lock:
            _written[self.root] = 0
        if self.max_bytes is None:
            return 0
        found = _packs.packs(self.root)
        total = sum(size for _, size, _ in found)
        removed = 0
        for _, size, path in sorted(found):
            if total <= self.max_bytes:
                break
            _packs.remove(path)
            total -= size
            removed += 1
        return removed

    def clear(self):
        """Delete every stored row (only the cache's own folders, nothing else in ``path``)."""
        _packs.drop_process_state(self.root)
        try:
            children = list(os.scandir(self.root))
        except FileNotFoundError:
            return
        for child in children:
            if child.is_dir() and _packs.is_namespace(child.name):
                shutil.rmtree(child.path, ignore_errors=True)
        with _lock:
            _written[self.root] = 0

    # ---- rows -------------------------------------------------------------------------
    def _lookup(self, namespace, keys, n_features):
        """(indices, rows): ``rows[j]`` is the stored row of ``keys[indices[j]]``."""
        return _packs.lookup(self.root, namespace, keys, n_features)

    def _store(self, namespace, keys, rows, describe=None):
        """Write the rows (one pack); failures only warn: a cache is optional."""
        root = self.root
        try:
            written = _packs.store(root, namespace, keys, rows)
        except OSError as exc:
            _warn_once(
                ("write", root),
                f"skmm could not write to the feature cache '{root}' ({exc}); rows are "
                "computed but not cached.",
            )
            return
        if describe is not None:
            meta = os.path.join(root, namespace, "meta.json")
            if not os.path.exists(meta):
                text = json.dumps(describe(), indent=1, default=repr).encode()
                try:
                    _packs.write_atomic(meta, lambda fh: fh.write(text))
                except OSError:
                    pass
        if self.max_bytes is not None:
            with _lock:
                _written[root] = _written.get(root, 0) + written
                due = _written[root] >= max(self.max_bytes // 10, 1)
            if due:
                self.evict()


def as_feature_cache(value):
    """Turn a ``cache`` setting into a FeatureCache, or None for no cache.

    Parameters
    ----------
    value : None, False, str, os.PathLike or FeatureCache

    Examples
    --------
    >>> as_feature_cache("/tmp/features")
    FeatureCache('/tmp/features')
    >>> as_feature_cache(None) is None
    True
    """
    if value is None or value is False:
        return None
    if isinstance(value, FeatureCache):
        return value
    check_cache_setting(value)
    return FeatureCache(value)  # a folder path


class ColumnPlan:
    """How one transform call obtains its rows: cache hits, cells to extract, duplicates.

    Built by :func:`plan_column`; ``todo`` lists the positions still to extract. The
    caller calls :meth:`save` after writing extracted rows into ``out`` and
    :meth:`finish` once at the end.
    """

    def __init__(self, todo, store=None, namespace=None, keys=None, followers=(), describe=None):
        self.todo = todo
        self.hits = 0
        self._store = store
        self._namespace = namespace
        self._keys = keys or {}
        self._followers = list(followers)
        self._describe = describe

    def save(self, positions, out):
        """Store the rows ``out[positions]`` that have a key."""
        if self._store is None:
            return
        keyed = [p for p in positions if p in self._keys]
        if keyed:
            self._store._store(
                self._namespace, [self._keys[p] for p in keyed], out[keyed], self._describe
            )
            self._describe = None

    def finish(self, out, cells, errors):
        """Copy each duplicate's row from its first occurrence; duplicates of bad cells are bad."""
        if not self._followers:
            return
        followers = np.array([f for f, _ in self._followers])
        leaders = np.array([lead for _, lead in self._followers])
        out[followers] = out[leaders]
        causes = {pos: cause for pos, _, cause in errors}
        errors.extend(
            (f, cells[f], causes[lead]) for f, lead in self._followers if lead in causes
        )


def _describe(extractor, identity):
    module, qualname = identity["extractor"]
    return lambda: {
        "extractor": f"{module}.{qualname}",
        "params": {k: repr(v) for k, v in extractor.get_params(deep=False).items()},
    }


def plan_column(extractor, cells, positions, out):
    """Plan the extraction of ``cells[positions]``: fill ``out`` from the cache, dedup the rest.

    Parameters
    ----------
    extractor : BaseExtractor
        Seen only through ``extractor.__skmm_cache_identity__()`` (and its public
        ``get_params`` for the namespace's ``meta.json``). Its ``cache`` setting (or else
        ``skmm.get_config()["cache"]``) names the store.
    cells : list
    positions : ndarray of int
        Positions of the non-missing cells.
    out : ndarray of float32, shape (n_cells, n_features)
        Receives the cached rows.

    Returns
    -------
    ColumnPlan
    """
    identity = extractor.__skmm_cache_identity__()
    if identity is None:
        return ColumnPlan(positions)
    setting = identity["cache"]
    store = as_feature_cache(get_config()["cache"] if setting is None else setting)
    namespace = None
    if store is not None and out.shape[1] > 0:
        try:
            namespace = fingerprint(identity, out.shape[1], owner=extractor)
        except Exception as exc:  # an unhashable parameter or fitted state
            name = identity["extractor"][1].rsplit(".", 1)[-1]
            _warn_once(
                ("fingerprint", identity["extractor"]),
                f"{name} is not cached: its parameters or fitted state "
                f"could not be hashed ({type(exc).__name__}: {exc}).",
            )
    if namespace is None:
        store = None
    hash_files = store.hash_files if store is not None else "stat"
    present = [cells[pos] for pos in positions]
    if store is None:
        # within one call the same text or path is the same cell: no need to hash it
        dedups = [(type(c), c) if isinstance(c, (str, bytes)) else None for c in present]
        hashed = [i for i, d in enumerate(dedups) if d is None]
        for i, key in zip(hashed, cell_keys([present[i] for i in hashed], hash_files)):
            dedups[i] = key
    else:
        dedups = cell_keys(present, hash_files)
    first = {}  # dedup key -> first position
    followers, unique, unkeyed = [], [], []
    for pos, dedup in zip(positions, dedups):
        if dedup is None:
            unkeyed.append(pos)
            continue
        lead = first.get(dedup)
        if lead is not None:
            followers.append((pos, lead))
            continue
        first[dedup] = pos
        unique.append((pos, dedup))
    if store is None:
        todo = np.array(sorted(unkeyed + [p for p, _ in unique]), dtype=np.intp)
        return ColumnPlan(todo, followers=followers)
    found, rows = store._lookup(namespace, [k for _, k in unique], out.shape[1])
    hit = np.zeros(len(unique), dtype=bool)
    if found:
        hit[found] = True
        out[[unique[i][0] for i in found]] = np.stack(rows)
    keys = {p: k for (p, k), h in zip(unique, hit) if not h}
    todo = np.array(sorted(unkeyed + list(keys)), dtype=np.intp)
    plan = ColumnPlan(todo, store, namespace, keys, followers, _describe(extractor, identity))
    plan.hits = int(hit.sum())
    return plan
