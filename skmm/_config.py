"""Global configuration, in the manner of :func:`sklearn.set_config`.

The configuration is process-wide (not per thread), so that the worker threads of
``GridSearchCV(n_jobs=...)`` with joblib's threading backend, or of a Dask cluster
started with ``processes=False``, see the cache set by the main thread. Worker
*processes* start with the defaults: pass ``cache=`` to the extractors themselves
(it travels with them), call ``skmm.set_config`` in each worker (with Dask:
``client.run(skmm.set_config, cache=path)``), or set the environment variable
``SKMM_CACHE`` to a folder: it is the default cache of every process that inherits it
(loky workers, ``dask worker`` processes started from that environment).
"""

import os
import sys
import threading
from contextlib import contextmanager

from .exceptions import InvalidInputError

_DEFAULTS = {"cache": os.environ.get("SKMM_CACHE") or None}
_config = dict(_DEFAULTS)
_lock = threading.RLock()


def get_config():
    """Return a copy of the current skmm configuration.

    Examples
    --------
    >>> import skmm
    >>> with skmm.config_context(cache=None):
    ...     skmm.get_config()
    {'cache': None}
    """
    with _lock:
        return dict(_config)


#: What a cache setting may be, in words.
CACHE_SETTING_WORDS = "None, False, a folder path or a skmm.cache.FeatureCache"


def is_cache_setting(value):
    """Whether ``value`` may be a ``cache`` setting (see :data:`CACHE_SETTING_WORDS`)."""
    if value is None or value is False or isinstance(value, (str, os.PathLike)):
        return True
    # a FeatureCache exists only once skmm.cache is imported: look it up, never import it
    cache = sys.modules.get("skmm.cache")
    return cache is not None and isinstance(value, cache.FeatureCache)


def check_cache_setting(value):
    """Raise :class:`~skmm.exceptions.InvalidInputError` unless ``value`` is a cache setting."""
    if not is_cache_setting(value):
        raise InvalidInputError(
            f"cache must be {CACHE_SETTING_WORDS}, got {type(value).__name__} {value!r}. "
            "Example: cache='~/skmm-cache'."
        )


def _check(changes):
    unknown = set(changes) - set(_DEFAULTS)
    if unknown:
        raise TypeError(f"Unknown skmm config keys {sorted(unknown)}; known: {sorted(_DEFAULTS)}")
    if "cache" in changes:
        check_cache_setting(changes["cache"])


def set_config(cache=None):
    """Set skmm's global configuration.

    Parameters
    ----------
    cache : None, str, os.PathLike or FeatureCache
        Default feature cache for every extractor whose own ``cache`` is None
        (see :class:`skmm.cache.FeatureCache`). None: no cache. At import it is
        ``$SKMM_CACHE`` when that environment variable is set.

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
