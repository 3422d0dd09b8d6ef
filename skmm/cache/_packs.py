"""The feature cache's storage: append-only packs of rows on disk, indexed per process.

A *pack* is one ``.npy`` file ``<root>/<namespace>/<time>-<pid>-<n>-<random>.npy``, a 1-D
structured array of records ``(key: 16 bytes, crc: CRC-32 of the row, row: float32[n])``,
written by one ``store`` call (one extraction batch) to a temporary file and renamed into
place, so a pack is either absent or complete. Packs are never modified, only deleted
(eviction, ``clear``). Reading memory-maps a pack (``np.load(mmap_mode="r",
allow_pickle=False)``; nothing is unpickled) and checks the dtype, the key and the CRC
of every row it returns: whatever fails is counted as corrupt and recomputed by the
caller.

Each process keeps an index key -> (pack, position) per namespace, refreshed by listing
the namespace folder when a key is not in it (packs written by other processes appear
there), and an LRU of recently used rows (``MEMORY_BYTES``).
"""

import collections
import itertools
import os
import threading
import time
import zlib

import numpy as np

#: Rows each process keeps in memory (most recently used first), over every cache.
MEMORY_BYTES = 64 * 2**20
TMP_SUFFIX = ".tmp"
STALE_TMP_S = 3600
#: Counters of this process (for tests and diagnostics): rows found corrupt.
counters = {"corrupt": 0}
_sequence = itertools.count()


def record_dtype(n_features):
    return np.dtype([("key", "u1", (16,)), ("crc", "<u4"), ("row", "<f4", (n_features,))])


def is_namespace(name):
    return len(name) == 32 and all(c in "0123456789abcdef" for c in name)


class _MemoryLayer:
    """Process-wide LRU of recently used rows, keyed by (root, namespace, key).

    Keys are content addresses, so a remembered row is always right; the layer only
    saves the disk reads of the folds and candidates after the first.
    """

    def __init__(self):
        self._rows = collections.OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()

    def get_many(self, root, namespace, keys):
        rows = self._rows
        found = []
        with self._lock:
            for key in keys:
                row = rows.get((root, namespace, key))
                if row is not None:
                    rows.move_to_end((root, namespace, key))
                found.append(row)
        return found

    def put_many(self, root, namespace, keys, rows):
        limit = MEMORY_BYTES
        rows = np.array(rows, dtype=np.float32)  # one copy, detached from any pack
        rows.flags.writeable = False
        if rows.size == 0 or rows[0].nbytes > limit:
            return
        with self._lock:
            for key, row in zip(keys, rows):
                old = self._rows.pop((root, namespace, key), None)
                self._nbytes += row.nbytes - (0 if old is None else old.nbytes)
                self._rows[(root, namespace, key)] = row
            while self._nbytes > limit:
                _, dropped = self._rows.popitem(last=False)
                self._nbytes -= dropped.nbytes

    def drop(self, root=None):
        with self._lock:
            for key in [k for k in self._rows if root is None or k[0] == root]:
                self._nbytes -= self._rows.pop(key).nbytes


class _Index:
    """key -> (pack name, position) for one namespace folder, as seen by this process."""

    def __init__(self, folder):
        self.folder = folder
        self.where = {}
        self.seen = set()  # pack names indexed (or found unreadable)
        self.lock = threading.Lock()

    def add(self, name, keys):
        with self.lock:
            self.seen.add(name)
            for i, key in enumerate(keys):
                self.where[key] = (name, i)

    def refresh(self, dtype):
        try:
            names = [e.name for e in os.scandir(self.folder) if e.name.endswith(".npy")]
        except FileNotFoundError:
            return
        for name in sorted(set(names) - self.seen):  # oldest first: newer packs win
            try:
                packed = np.load(os.path.join(self.folder, name), mmap_mode="r", allow_pickle=False)
                ok = packed.dtype == dtype and packed.ndim == 1
                keys = [k.tobytes().hex() for k in packed["key"]] if ok else []
            except FileNotFoundError:
                keys = []
                ok = True
            except Exception:  # truncated, empty, not an .npy: numpy raises several types
                keys = []
                ok = False
            if not ok:
                counters["corrupt"] += 1  # not a pack of this namespace: never read
            self.add(name, keys)

    def forget(self, keys):
        with self.lock:
            for key in keys:
                self.where.pop(key, None)


_memory = _MemoryLayer()
_indexes = {}
_indexes_lock = threading.Lock()


def _index(root, namespace):
    with _indexes_lock:
        index = _indexes.get((root, namespace))
        if index is None:
            index = _indexes[(root, namespace)] = _Index(os.path.join(root, namespace))
        return index


def drop_process_state(root=None):
    """Forget this process's index and remembered rows (of ``root``, or of every cache)."""
    _memory.drop(root)
    with _indexes_lock:
        for key in [k for k in _indexes if root is None or k[0] == root]:
            del _indexes[key]


def lookup(root, namespace, keys, n_features):
    """(indices, rows): ``rows[j]`` is the stored row of ``keys[indices[j]]``."""
    remembered = _memory.get_many(root, namespace, keys)
    found = [i for i, row in enumerate(remembered) if row is not None]
    rows = [remembered[i] for i in found]
    missing = [i for i, row in enumerate(remembered) if row is None]
    if not missing:
        return found, rows
    dtype = record_dtype(n_features)
    index = _index(root, namespace)
    if any(keys[i] not in index.where for i in missing):
        index.refresh(dtype)
    by_pack = collections.defaultdict(list)
    for i in missing:
        place = index.where.get(keys[i])
        if place is not None:
            by_pack[place[0]].append((place[1], i))
    for name, wanted in by_pack.items():
        got = _read_pack(os.path.join(index.folder, name), dtype, [keys[i] for _, i in wanted],
                         [p for p, _ in wanted])
        bad = [keys[i] for (_, i), row in zip(wanted, got) if row is None]
        if bad:
            index.forget(bad)
        good = [(i, row) for (_, i), row in zip(wanted, got) if row is not None]
        if good:
            _memory.put_many(root, namespace, [keys[i] for i, _ in good], [r for _, r in good])
            found.extend(i for i, _ in good)
            rows.extend(r for _, r in good)
    return found, rows


def _read_pack(path, dtype, keys, positions):
    """The verified row at each position of a pack, or None where it is absent or corrupt."""
    try:
        packed = np.load(path, mmap_mode="r", allow_pickle=False)
        if packed.dtype != dtype or packed.ndim != 1:
            raise ValueError("foreign pack")
        records = packed[np.asarray(positions)]
    except FileNotFoundError:  # evicted or cleared meanwhile: a plain miss
        return [None] * len(keys)
    except Exception:  # truncated, empty, wrong shape, not an .npy
        counters["corrupt"] += len(keys)
        return [None] * len(keys)
    out = []
    for key, record in zip(keys, records):
        row = record["row"]
        if record["key"].tobytes().hex() != key or zlib.crc32(row.tobytes()) != int(record["crc"]):
            counters["corrupt"] += 1
            out.append(None)
        else:
            out.append(row)
    return out


def store(root, namespace, keys, rows):
    """Write the rows as one new pack; returns its size in bytes. Raises OSError."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    records = np.empty(len(keys), dtype=record_dtype(rows.shape[1]))
    records["key"] = np.frombuffer(bytes.fromhex("".join(keys)), dtype=np.uint8).reshape(-1, 16)
    records["row"] = rows
    records["crc"] = [zlib.crc32(row.tobytes()) for row in records["row"]]
    _memory.put_many(root, namespace, keys, rows)
    # time first (eviction and index order), then what keeps names unique across
    # threads, processes and machines sharing the folder
    name = f"{time.time_ns():020d}-{os.getpid()}-{next(_sequence)}-{os.urandom(4).hex()}.npy"
    path = os.path.join(root, namespace, name)
    write_atomic(path, lambda fh: np.save(fh, records, allow_pickle=False))
    _index(root, namespace).add(name, keys)
    return os.path.getsize(path)


def write_atomic(path, write):
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it into place."""
    tmp = f"{path}.{os.getpid()}-{next(_sequence)}{TMP_SUFFIX}"
    try:
        fh = open(tmp, "wb")
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fh = open(tmp, "wb")
    try:
        with fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def packs(root):
    """(mtime_ns, size, path) of every pack under ``root``; removes stale temporary files."""
    found = []
    try:
        namespaces = [e for e in os.scandir(root) if e.is_dir() and is_namespace(e.name)]
    except FileNotFoundError:
        return found
    now = time.time()
    for ns in namespaces:
        try:
            files = list(os.scandir(ns.path))
        except FileNotFoundError:
            continue
        for entry in files:
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            if entry.name.endswith(".npy"):
                found.append((st.st_mtime_ns, st.st_size, entry.path))
            elif entry.name.endswith(TMP_SUFFIX) and now - st.st_mtime > STALE_TMP_S:
                remove(entry.path)  # left by a killed writer
    return found


def count_rows(path):
    """Rows in a pack (0 when unreadable)."""
    try:
        return len(np.load(path, mmap_mode="r", allow_pickle=False))
    except Exception:
        return 0
