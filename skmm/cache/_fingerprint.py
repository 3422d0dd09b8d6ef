"""Content keys of cells and fingerprints of extractors, for the feature cache.

A cell's key is a 128-bit BLAKE2b digest of what the extractor will see:

* ndarray: dtype, shape and bytes; ``bytes``: the bytes; ``str`` text: the text;
* a path (an ``os.PathLike``, or a ``str`` naming an existing regular file): its
  resolved path, size and modification time in ns, or with ``hash_files="content"``
  the file's bytes (then a copied or moved file keeps its key);
* a ``(waveform, sample_rate)`` tuple (or list): its items, in order;
* a ``PIL.Image``: mode, size, palette, transparency and pixel bytes;
* a number: its type and value.

Any other cell (a dict, an object array, a file that cannot be read) has no key and is
never cached. An extractor's fingerprint hashes its class, its output-affecting
parameters (a parameter naming a file, such as a weights file, with the file's size and
mtime), its resolved ``precision_``, its fitted state (when it learns one) and the
versions of the libraries that compute features.
"""

import functools
import hashlib
import os
import stat
import sys
import weakref
from importlib import metadata

import numpy as np

_LIBRARIES = (
    "numpy", "scipy", "scikit-learn", "torch", "torchvision", "torchaudio", "librosa", "soxr",
    "soundfile", "Pillow", "gensim", "sentence-transformers", "transformers", "timm",
)
_HASH_FILES = ("stat", "content")
_TEXT_MAX_PATH = 4096


def check_hash_files(hash_files):
    if hash_files not in _HASH_FILES:
        from ..exceptions import InvalidInputError

        raise InvalidInputError(
            f"hash_files must be one of {_HASH_FILES}, got {hash_files!r}: 'stat' keys a file by "
            "its resolved path, size and modification time, 'content' by its bytes."
        )


def _new():
    return hashlib.blake2b(digest_size=16)


def _tag(h, tag, size):
    h.update(tag + size.to_bytes(8, "little"))


def _file_stat(text):
    """(stat after symlinks, is_symlink) of the regular file named by ``text``, else None."""
    if not text or len(text) > _TEXT_MAX_PATH or "\n" in text:
        return None
    try:
        st = os.lstat(text)
        link = stat.S_ISLNK(st.st_mode)
        if link:
            st = os.stat(text)
    except (OSError, ValueError):
        return None
    return (st, link) if stat.S_ISREG(st.st_mode) else None


@functools.lru_cache(maxsize=4096)
def _resolved_dir(folder):
    return os.path.realpath(folder)


@functools.lru_cache(maxsize=2**16)
def _resolved_file(path):
    folder, name = os.path.split(path)
    if name in ("", ".", ".."):
        return os.path.realpath(path)
    return os.path.join(_resolved_dir(folder), name)


def resolve_path(path, is_link=True):
    """``os.path.realpath(path)``, memoised per process for files that are not symlinks.

    Only a file that is itself a symlink pays a full resolution each time; the folders
    above a file are resolved once per process (a folder symlink retargeted while the
    process runs is not seen; the file's size and mtime are still checked).
    """
    if is_link:
        return os.path.realpath(path)
    if not os.path.isabs(path):
        path = os.path.join(os.getcwd(), path)
    return _resolved_file(path)


def _feed_file(h, path, found, hash_files):
    st, link = found
    if hash_files == "content":
        with open(path, "rb") as fh:
            digest = hashlib.file_digest(fh, "blake2b").digest()
        _tag(h, b"F", len(digest))
        h.update(digest)
    else:
        resolved = resolve_path(path, link).encode("utf-8", "surrogatepass")
        h.update(
            b"P" + len(resolved).to_bytes(8, "little") + resolved
            + st.st_size.to_bytes(8, "little") + st.st_mtime_ns.to_bytes(16, "little", signed=True)
        )


def _feed(h, cell, hash_files, depth=0):
    """Feed the cell's content into ``h``; return False when it cannot be keyed."""
    if isinstance(cell, np.ndarray):
        head = _array_head(cell)
        if head is False:
            return False
        h.update(head)
        if cell.size:  # hashlib reads a C-contiguous array's buffer, whatever its dtype
            h.update(cell if cell.flags.c_contiguous else np.ascontiguousarray(cell))
        return True
    if isinstance(cell, (bytes, bytearray, memoryview)):
        _tag(h, b"B", len(cell))
        h.update(cell)
        return True
    if isinstance(cell, str):
        found = _file_stat(cell)
        if found is not None:
            try:
                _feed_file(h, cell, found, hash_files)
                return True
            except OSError:
                return False
        text = cell.encode("utf-8", "surrogatepass")
        _tag(h, b"S", len(text))
        h.update(text)
        return True
    if isinstance(cell, os.PathLike):
        path = os.fspath(cell)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        found = _file_stat(path)
        if found is None:
            return False
        try:
            _feed_file(h, path, found, hash_files)
        except OSError:
            return False
        return True
    if isinstance(cell, (bool, int, float, complex, np.generic)):
        text = f"{type(cell).__name__}:{cell!r}".encode()
        _tag(h, b"N", len(text))
        h.update(text)
        return True
    if isinstance(cell, (tuple, list)) and depth < 4:
        _tag(h, b"T" if isinstance(cell, tuple) else b"L", len(cell))
        return all(_feed(h, item, hash_files, depth + 1) for item in cell)
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(cell, pil.Image):
        try:
            pixels = cell.tobytes()
        except Exception:  # a lazily opened image that cannot be decoded: a bad cell
            return False
        palette = cell.getpalette() if cell.mode in ("P", "PA") else None
        meta = repr((cell.mode, cell.size, palette, cell.info.get("transparency"))).encode()
        _tag(h, b"I", len(meta))
        h.update(meta)
        h.update(pixels)
        return True
    return False


def cell_key(cell, hash_files="stat"):
    """Hex content key of one (non-missing) cell, or None when it cannot be keyed.

    Examples
    --------
    >>> import numpy as np
    >>> a = cell_key(np.zeros((2, 2), dtype=np.uint8))
    >>> a == cell_key(np.zeros((2, 2), dtype=np.uint8)), a == cell_key(np.zeros((2, 2)))
    (True, False)
    >>> cell_key({"not": "a cell"}) is None
    True
    """
    h = _new()
    return h.hexdigest() if _feed(h, cell, hash_files) else None


# path text -> (hash_files, cwd for a relative path, size, mtime_ns, inode, device, key)
_PATH_KEYS = {}
_PATH_KEYS_MAX = 2**17


def _path_key(path, hash_files):
    """Key of a str cell, memoised for regular files whose stat has not changed.

    With ``hash_files="content"`` too, a file is read again only when its size, mtime,
    inode or device change.
    """
    if not path or len(path) > _TEXT_MAX_PATH or "\n" in path:
        return cell_key(path, hash_files)
    try:
        st = os.lstat(path)
    except (OSError, ValueError):
        return cell_key(path, hash_files)  # text, or a missing file
    if not stat.S_ISREG(st.st_mode):
        return cell_key(path, hash_files)
    cwd = None if os.path.isabs(path) else os.getcwd()
    signature = (hash_files, cwd, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
    memo = _PATH_KEYS.get(path)
    if memo is not None and memo[0] == signature:
        return memo[1]
    key = cell_key(path, hash_files)
    if len(_PATH_KEYS) >= _PATH_KEYS_MAX:
        _PATH_KEYS.clear()
    _PATH_KEYS[path] = (signature, key)
    return key


def cell_keys(cells, hash_files="stat"):
    """``[cell_key(c, hash_files) for c in cells]``, with the common cases made cheap.

    Arrays of a dtype and shape seen before reuse their header; a path whose stat
    (size, mtime, inode, device) is unchanged reuses its key.
    """
    heads = {}
    keys = []
    for cell in cells:
        if type(cell) is np.ndarray:
            signature = (cell.dtype, cell.shape)
            head = heads.get(signature)
            if head is None:
                head = heads[signature] = _array_head(cell)
            if head is not False and cell.size:
                h = hashlib.blake2b(head, digest_size=16)
                h.update(cell if cell.flags.c_contiguous else np.ascontiguousarray(cell))
                keys.append(h.hexdigest())
                continue
        elif type(cell) is str:
            keys.append(_path_key(cell, hash_files))
            continue
        keys.append(cell_key(cell, hash_files))
    return keys


def _array_head(cell):
    """The bytes ``_feed`` writes before an array's data, or False for object arrays."""
    dtype = cell.dtype
    if dtype.hasobject:
        return False
    head = f"{dtype.str if dtype.fields is None else dtype.descr}{cell.shape}".encode()
    return b"A" + len(head).to_bytes(8, "little") + head


@functools.lru_cache(maxsize=1)
def library_versions():
    """Versions of skmm and of the libraries that compute features (None: not installed)."""
    from .. import __version__

    versions = {"skmm": __version__}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _portable(value):
    """A torch module or tensor as CPU numpy arrays, so the hash is the same on every device."""
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(value, torch.nn.Module):
            state = value.state_dict()
            return (type(value).__qualname__, {k: _portable(v) for k, v in state.items()})
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy()
    return value


# owner (the extractor) -> (names, fitted objects, digest): a refitted extractor rebinds its
# attributes, so identity tells whether the digest still holds (fitted state is not
# mutated in place after fit, per scikit-learn's contract).
_STATE_DIGESTS = weakref.WeakKeyDictionary()


def _state_digest(owner, state):
    import joblib

    if state is None:
        return None
    if not isinstance(state, dict):
        state = {"state": state}
    names = tuple(sorted(state))
    values = tuple(state[k] for k in names)
    memo = _STATE_DIGESTS.get(owner)
    if memo is not None and memo[0] == names and all(a is b for a, b in zip(memo[1], values)):
        return memo[2]
    digest = joblib.hash([(k, _portable(v)) for k, v in zip(names, values)])
    try:
        _STATE_DIGESTS[owner] = (names, values, digest)
    except TypeError:  # not weak-referenceable: hash again next time
        pass
    return digest


def _param_value(value):
    """A parameter as hashed: a file (weights, vocabulary) with its size and mtime."""
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        found = _file_stat(path) if isinstance(path, str) else None
        if found is not None:
            st = found[0]
            return (path, os.path.realpath(path), st.st_size, st.st_mtime_ns)
        return value
    return _portable(value)


_SIMPLE = (type(None), bool, int, float, str, bytes)


def _canonical(value):
    """Plain builtins as a deterministic structure (dicts sorted); None if not plain."""
    if type(value) in _SIMPLE:
        return value
    if type(value) in (tuple, list):
        items = [_canonical(v) for v in value]
        return None if any(i is None and v is not None for i, v in zip(items, value)) else (
            type(value).__name__, tuple(items)
        )
    if type(value) is dict and all(type(k) is str for k in value):
        items = _canonical(sorted(value.items()))
        return None if items is None else ("dict", items)
    return None


def _digest(payload):
    """Hex digest of ``payload``: repr-based for plain builtins (fast), else joblib.hash."""
    canonical = _canonical(payload)
    if canonical is not None:
        return hashlib.blake2b(repr(canonical).encode(), digest_size=16).hexdigest()
    import joblib

    return joblib.hash(payload)


def fingerprint(identity, n_features, owner):
    """Hex digest of an extractor's identity (see ``BaseExtractor.__skmm_cache_identity__``)
    and its number of output features: everything besides the cell that decides its rows.

    ``owner``, the extractor, only keys the memo of its fitted state's digest. Raises
    whatever hashing raises (e.g. an unpicklable parameter); the caller then does not cache.
    """
    module, qualname = identity["extractor"]
    params = {k: _param_value(v) for k, v in identity["params"].items()}
    payload = (
        module,
        qualname,
        identity["version"],
        sorted(params.items()),
        int(n_features),
        identity["precision"],
        sorted(library_versions().items(), key=lambda kv: kv[0]),
        _state_digest(owner, identity["fitted_state"]),
    )
    return _digest(payload)


def extractor_fingerprint(extractor):
    """:func:`fingerprint` of a fitted extractor."""
    identity = extractor.__skmm_cache_identity__()
    return fingerprint(identity, extractor.n_features_out_, owner=extractor)
