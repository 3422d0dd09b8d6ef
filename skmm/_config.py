"""Global configuration, in the manner of :func:`sklearn.set_config`."""

import threading
from contextlib import contextmanager

_DEFAULTS = {"cache": None}
_local = threading.local()


def _state():
    if not hasattr(_local, "config"):
        _local.config = dict(_DEFAULTS)
    return _local.config


def get_config():
    """Return a copy of the current skmm configuration.

    Examples
    --------
    >>> import skmm
    >>> skmm.get_config()["cache"] is None
    True
    """
    return dict(_state())


def set_config(cache=None):
    """Set skmm's global configuration.

    Parameters
    ----------
    cache : None, str, os.PathLike or FeatureCache
        Default feature cache for every extractor whose own ``cache`` is None.
    """
    _state()["cache"] = cache


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
    unknown = set(changes) - set(_DEFAULTS)
    if unknown:
        raise TypeError(f"Unknown skmm config keys {sorted(unknown)}; known: {sorted(_DEFAULTS)}")
    old = get_config()
    _state().update(changes)
    try:
        yield
    finally:
        _state().clear()
        _state().update(old)
