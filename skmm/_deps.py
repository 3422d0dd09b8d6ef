"""Lazy import of optional dependencies with an actionable error."""

import importlib

from .exceptions import MissingDependencyError


def import_optional(module, extra, purpose=None):
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``skmm[extra]``.

    Parameters
    ----------
    module : str
        The importable module name, e.g. ``"torchvision"``.
    extra : str
        The skmm extra that installs it, e.g. ``"vision"``.
    purpose : str, optional
        What the module is needed for, to make the message clearer.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        why = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"{module!r} is required{why} but could not be imported ({exc}). "
            f"Install it with: pip install 'skmm[{extra}]'"
        ) from exc
