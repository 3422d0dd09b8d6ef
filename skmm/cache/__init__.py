"""Content-addressed, per-sample feature cache that survives cloning and cross-validation.

A frozen feature extractor inside ``GridSearchCV`` sees the same cells in every fold
and every candidate. With a :class:`FeatureCache`, each unique cell is extracted once
per cache; every later transform reads its row back from disk::

    cache = FeatureCache("~/skmm-cache")      # or just the path string
    extract = ColumnTransformer([
        ("image", ImageEmbedder(cache=cache), "image"),
        ("audio", AudioLogMel(cache=cache), "audio"),
    ])
    GridSearchCV(make_pipeline(extract, FusionNetClassifier()), grid, cv=5).fit(X, y)

or, for every extractor at once, ``skmm.set_config(cache="~/skmm-cache")`` (or
``with skmm.config_context(cache=...):``). ``cache=False`` on an extractor turns
the cache off for it even when a global one is set.

How it works
------------
* The key of a row is a hash of the cell's content (see :mod:`skmm.cache._fingerprint`:
  array bytes with dtype and shape, raw bytes, text, a file's resolved path, size
  and mtime or, with ``hash_files="content"``, its bytes, ...) under a namespace
  that hashes the extractor's class, its output-affecting parameters (not
  ``batch_size``, ``verbose``, ``n_jobs``, ``on_error``, ``cache``, ``device``,
  ``add_indicator``, ``fill_value``), its fitted state when it learns one in
  ``fit``, and the versions of skmm and the feature libraries. ``device`` is left
  out on purpose: CPU and GPU results agree within float tolerance, and one cache
  serves both.
* Missing cells (fill rows) and bad cells (decoding errors) are never stored.
  Within one transform call identical cells are extracted once.
* Rows are stored in *packs* (see :mod:`skmm.cache._packs`): each extraction batch writes
  one ``.npy`` file ``<path>/<namespace>/<time>-<pid>-...npy`` of records (key,
  CRC-32, float32 row), to a temporary file then ``os.replace``, so concurrent
  readers and writers (threads, processes, machines on a shared file system) never
  see half a pack, and a search writes a few files per extractor rather than one
  per sample. Reads memory-map the pack and check dtype, key and checksum of every
  row: a truncated, corrupted or wrong-shaped pack or row is recomputed, never
  returned. Nothing is ever unpickled (``np.load(allow_pickle=False)``).
  ``max_bytes`` bounds the size (the oldest packs are evicted, checked after every
  tenth of ``max_bytes`` written); ``clear()`` empties it.
* Each process keeps an index of the packs it has seen (about 100 bytes per stored
  row) and the most recently used rows in memory (``skmm.cache._packs.MEMORY_BYTES``,
  64 MiB over all caches), so the folds and candidates after the first do not
  even read the disk. Peak memory of a transform stays the output matrix plus
  these bounded structures.
* The cache sees an extractor only through ``__skmm_cache_identity__()`` (see
  :class:`~skmm._base.BaseExtractor`, whose ``transform`` reaches this package through one
  hook). A subclass controls caching with class attributes: ``_cache_enabled = False``
  (outputs are not a pure function of the cell), ``_cache_version`` (bump when the
  computation changes), and the method ``_cache_fitted_state()`` (the learned arrays
  that change the output; by default the public fitted attributes when the class
  overrides ``fit`` or ``_fit_decoded``, else nothing).

Scale-out
---------
skmm uses existing engines rather than its own: ``GridSearchCV(n_jobs=...)`` and
``cross_validate`` run under joblib, so a joblib backend moves the whole search
onto a cluster, and the cache (a plain path in the parameters) travels with every
cloned estimator::

    from dask.distributed import Client, LocalCluster
    import joblib

    client = Client(LocalCluster(n_workers=4))          # or Client("scheduler:8786")
    with joblib.parallel_config(backend="dask"):
        search.fit(X, y)

Ray works the same way (``from ray.util.joblib import register_ray;
register_ray()``, then ``backend="ray"``). Use an absolute cache path on a file
system every worker can see. The global ``skmm.set_config(cache=...)`` is per
process: on worker processes pass ``cache=`` to the extractors, or run
``client.run(skmm.set_config, cache=path)`` first.

Several GPUs: run one worker process per GPU, each seeing a single device, and keep
``device="auto"`` (it resolves to that worker's ``cuda``)::

    from dask_cuda import LocalCUDACluster              # pip install dask-cuda
    client = Client(LocalCUDACluster())                 # one worker per visible GPU

or start the workers yourself, ``CUDA_VISIBLE_DEVICES=0 dask worker
scheduler:8786 --nthreads 1`` and likewise for 1, 2, .... Fill the cache first
(one ``transform`` over all the data, or the first candidate), and every other
fit reads it; because ``device`` is not part of the key, all GPUs and CPUs share
one cache.
"""

from ._feature_cache import ColumnPlan, FeatureCache, as_feature_cache, plan_column

__all__ = ["ColumnPlan", "FeatureCache", "as_feature_cache", "plan_column"]
