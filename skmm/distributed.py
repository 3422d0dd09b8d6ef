"""Extraction past one machine: a fitted extractor run over a Dask or Ray table, to Parquet.

The recipe for a table too large for one machine (README, "Past one machine"):

1. fit the extractors (or ``make_modality_union``) on a sample, locally;
2. :func:`extract_to_parquet` runs the fitted transformer over every partition of a
   ``dask.dataframe.DataFrame`` (``map_partitions``) or every batch of a Ray Dataset
   (``map_batches``) on the cluster's workers and writes the features, with their column
   names, as Parquet files in row order. Give the extractors one ``FeatureCache`` folder
   that every worker sees: a rerun, or a second extractor over the same cells, reads
   rows instead of recomputing them. A worker lost in the middle is the engine's to
   survive: Dask and Ray rerun its tasks, and each task's rows are a pure function of
   its cells, so the files equal those of an undisturbed run;
3. :meth:`skmm.store.FeatureStore.from_parquet` turns the folder into a store, and the
   nets train from it (one GPU), a batch at a time;
4. a search (``GridSearchCV``) runs on the cluster through joblib's Dask or Ray backend.

Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in its workers; the extractors, which
allocate and free large arrays all the time, ran about 1.2x slower with it (measured on
10,000-row partitions of images and audio clips): unset it with
``dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})``
before the cluster starts.

With GPUs, give each worker one: Dask with ``dask_cuda.LocalCUDACluster`` (one worker
per GPU, each seeing only its own), Ray with ``num_gpus=1`` in ``engine_options`` (passed
to ``map_batches``); the extractors' ``device="auto"`` then picks the worker's GPU.
"""

import os

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.utils.validation import check_is_fitted

from ._deps import import_optional
from .exceptions import InvalidInputError

#: Name of the n-th Parquet file a Dask extraction writes (zero-padded: names sort by row).
PART_NAME = "part.{:06d}.parquet"


def extract_to_parquet(transformer, data, path, *, engine_options=None):
    """Run a fitted ``transformer`` over a Dask DataFrame or a Ray Dataset; write the
    features to Parquet files under ``path``, in row order.

    Parameters
    ----------
    transformer : fitted transformer
        An extractor, ``make_modality_union(...)`` or any fitted scikit-learn transformer
        with dense output and ``get_feature_names_out``. It travels to the workers pickled.
    data : dask.dataframe.DataFrame or ray.data.Dataset
        The table, with the columns the transformer reads.
    path : str or path-like
        The output folder (one every worker can write to); it must not hold Parquet files.
    engine_options : dict, optional
        Passed to ``map_batches`` for a Ray Dataset (e.g. ``{"num_gpus": 1,
        "concurrency": 4, "batch_size": 1024}``); to ``map_partitions`` for Dask.

    Returns
    -------
    list of str
        The column names written (``transformer.get_feature_names_out()``).

    Examples
    --------
    Cells that are arrays or bytes must stay Python objects in Dask (by default it turns
    object columns into strings): build the frame under ``dataframe.convert-string=False``.

    >>> import tempfile, dask, dask.dataframe as dd, numpy as np, pandas as pd
    >>> from skmm import ImagePixels
    >>> from skmm.store import FeatureStore
    >>> images = pd.Series([np.full((4, 4), v, np.uint8) for v in range(6)], name="image")
    >>> pixels = ImagePixels(size=(2, 2), mode="L").fit(images)
    >>> with dask.config.set({"dataframe.convert-string": False}):
    ...     table = dd.from_pandas(images, npartitions=2)
    >>> folder = tempfile.mkdtemp()
    >>> names = extract_to_parquet(pixels, table, folder)
    >>> store = FeatureStore.from_parquet(folder, folder + "/store")
    >>> store.shape, bool((store.to_numpy() == pixels.transform(images)).all())
    ((6, 4), True)
    """
    check_is_fitted(transformer)
    names = [str(n) for n in transformer.get_feature_names_out()]
    path = os.fspath(path)
    os.makedirs(path, exist_ok=True)
    if any(n.endswith(".parquet") for n in os.listdir(path)):
        raise InvalidInputError(
            f"the folder '{path}' already holds Parquet files; extract into an empty folder "
            "(files of two runs would be read as one table)."
        )
    options = dict(engine_options or {})
    kind = type(data).__module__.split(".")[0]
    if kind == "dask" or hasattr(data, "map_partitions"):
        _with_dask(transformer, data, path, names, options)
    elif kind == "ray" or hasattr(data, "map_batches"):
        _with_ray(transformer, data, path, names, options)
    else:
        raise InvalidInputError(
            f"extract_to_parquet runs over a dask.dataframe.DataFrame or a ray.data.Dataset; "
            f"got {type(data).__name__}. For a pandas table, call transformer.transform "
            "and FeatureStore.from_frame."
        )
    return names


def transform_partition(part, transformer, names):
    """The features of one partition (a pandas DataFrame or Series) as a float32 DataFrame
    named ``names``, indexed as ``part``."""
    out = transformer.transform(part)
    if sparse.issparse(out):
        raise InvalidInputError(
            f"{type(transformer).__name__} returns a sparse matrix; extract_to_parquet writes "
            "dense features (a sparse TF-IDF block stays in memory, or in your own store)."
        )
    values = np.asarray(out, dtype=np.float32)
    if values.ndim != 2 or values.shape != (len(part), len(names)):
        raise InvalidInputError(
            f"{type(transformer).__name__} returned shape {values.shape} for {len(part)} rows; "
            f"expected ({len(part)}, {len(names)}) (its get_feature_names_out)."
        )
    return pd.DataFrame(values, columns=names, index=getattr(part, "index", None))


def _empty(names):
    return pd.DataFrame({n: pd.Series(dtype=np.float32) for n in names})


def _part_name(i):
    return PART_NAME.format(i)


def _with_dask(transformer, data, path, names, options):
    import_optional("dask.dataframe", "distributed", "extraction on a Dask cluster")
    features = data.map_partitions(transform_partition, transformer, names, meta=_empty(names),
                                   **options)
    features.to_parquet(path, write_index=False, name_function=_part_name)


def _with_ray(transformer, data, path, names, options):
    ray_data = import_optional("ray.data", "distributed", "extraction on a Ray cluster")
    context = ray_data.DataContext.get_current()
    keep = context.execution_options.preserve_order
    context.execution_options.preserve_order = True  # files in row order
    try:
        features = data.map_batches(
            transform_partition, fn_kwargs={"transformer": transformer, "names": names},
            batch_format="pandas", **options)
        features.write_parquet(path)  # names '<uuid>_<task:06d>-<block>': sorted by row
    finally:
        context.execution_options.preserve_order = keep
