"""Global configuration, in the manner of :func:`sklearn.set_config`.

The configuration is process-wide (not per thread), so that the worker threads of
``GridSearchCV(n_jobs=...)`` with joblib's threading backend, or of a Dask cluster
started with ``processes=False``, see the cache set by the main thread. Worker
*processes* start with the defaults: pass ``cache=`` to the extractors themselves
(it travels with them), or call ``skmm.set_config`` in each worker (with Dask:
``client.run(skmm.set_config, cache=path)``).
"""

import threading
from contextlib import contextmanager

_DEFAULTS = {"cache": None}
_config = dict(_DEFAULTS)
_lock = threading.RLock()


def get_config():
    """Return a copy of the current skmm configuration.

    Examples
    --------
    >>> import skmm
    >>> skmm.get_config()["cache"] is None
    True
    """
    with _lock:
        return dict(_config)


def _check(changes):
    unknown = set(changes) - set(_DEFAULTS)
    if unknown:
        raise TypeError(f"Unknown skmm config keys {sorted(unknown)}; known: {sorted(_DEFAULTS)}")
    if "cache" in changes:
        from .cache import as_feature_cache

        as_feature_cache(changes["cache"])  # validates


def set_config(cache=None):
    """Set skmm's global configuration.

    Parameters
    ----------
    cache : None, str, os.PathLike or FeatureCache
        Default feature cache for every extractor whose own ``cache`` is None
        (see :class:`skmm.cache.FeatureCache`). None: no cache.

    Examples
    --------
    >>> import skmm
    >>> skmm.set_config(cache=None)
    """
    _check({"cache": cache})
    with _lock:
        _config["cache"] = cache


@contextmanager
def config_context(**changes):
    """Temporarily change the configuration inside a ``with`` block.

    Examples
    --------
    >>> import skmm
    >>> with skmm.config_context(cache=None):
    ...     skmm.get_config()["cache"] is None
    True
    """
    _check(changes)
    with _lock:
        old = dict(_config)
        _config.update(changes)
    try:
        yield
    finally:
        with _lock:
            _config.clear()
            _config.update(old)
