"""Keep the libraries behind the model-backed extractors quiet while skmm uses them.

transformers, sentence-transformers and huggingface_hub write to the terminal on their
own: a "Loading weights" bar for every model load (transformers 5), download bars, and
warnings through their loggers. At ``verbose=0`` an extractor must write nothing, so
:func:`quiet_libraries` turns those off for the time skmm calls into the library, and
puts each setting back as it found it on the way out: a user who asked transformers for
its bars or its info messages elsewhere in the process keeps them.

The settings are process-wide, so nested and concurrent uses share one saved state:
the first to enter saves it and quietens, the last to leave restores it. Only libraries
already imported are touched (importing transformers takes seconds): a caller names the
ones it is about to use, and they are imported first.
"""

import contextlib
import importlib
import logging
import sys
import threading
import warnings

#: Loggers of libraries without a verbosity function of their own.
_LOGGERS = ("sentence_transformers",)

_lock = threading.Lock()
_depth = 0
_saved = None


def _hub_tqdm():
    """huggingface_hub's tqdm module (which keeps the per-group bar states), or None."""
    return sys.modules.get("huggingface_hub.utils.tqdm")


def _save_and_quieten():
    saved = {"loggers": {name: logging.getLogger(name).level for name in _LOGGERS}}
    hub = _hub_tqdm()
    if hub is not None:
        states = getattr(hub, "progress_bar_states", None)
        saved["hub"] = (dict(states) if isinstance(states, dict) else None,
                        hub.are_progress_bars_disabled())
    transformers = sys.modules.get("transformers")
    with warnings.catch_warnings():  # HF_HUB_DISABLE_PROGRESS_BARS=0 makes the switch warn
        warnings.simplefilter("ignore")
        if transformers is not None:
            tlog = transformers.utils.logging
            saved["transformers"] = (tlog.get_verbosity(), tlog.is_progress_bar_enabled())
            tlog.set_verbosity_error()
            if tlog.is_progress_bar_enabled():
                tlog.disable_progress_bar()  # huggingface_hub's bars too
        elif hub is not None and not hub.are_progress_bars_disabled():
            hub.disable_progress_bars()
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    return saved


def _restore(saved):
    for name, level in saved["loggers"].items():
        logging.getLogger(name).setLevel(level)
    if "transformers" in saved:
        tlog = sys.modules["transformers"].utils.logging
        verbosity, bars = saved["transformers"]
        tlog.set_verbosity(verbosity)
        if bars and not tlog.is_progress_bar_enabled():
            tlog.enable_progress_bar()
    if "hub" in saved:  # last: transformers' switch above resets huggingface_hub's bars
        hub = _hub_tqdm()
        states, disabled = saved["hub"]
        current = getattr(hub, "progress_bar_states", None)
        if states is not None and isinstance(current, dict):
            current.clear()
            current.update(states)
        elif disabled != hub.are_progress_bars_disabled():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                (hub.disable_progress_bars if disabled else hub.enable_progress_bars)()


def libraries_quiet():
    """Whether a :func:`quiet_libraries` block is open: a download call that takes its own
    ``progress=`` flag (torchvision's) reads it."""
    return _depth > 0


@contextlib.contextmanager
def quiet_libraries(quiet=True, imports=()):
    """Within the block, transformers, sentence-transformers and huggingface_hub show no
    progress bar and log errors only (when ``quiet``; else the block changes nothing).

    Parameters
    ----------
    quiet : bool, default=True
        Whether to quieten (an extractor passes ``not verbose``).
    imports : tuple of str, default=()
        The libraries the block is about to use, imported first so that their settings
        exist to be saved (one that is not installed is left for the block to report).

    Examples
    --------
    >>> import logging
    >>> from skmm._quiet import quiet_libraries
    >>> with quiet_libraries():
    ...     logging.getLogger("sentence_transformers").level == logging.ERROR
    True
    >>> logging.getLogger("sentence_transformers").level == logging.NOTSET
    True
    """
    global _depth, _saved
    if not quiet:
        yield
        return
    for name in imports:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    with _lock:
        if _depth == 0:
            _saved = _save_and_quieten()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                saved, _saved = _saved, None
                _restore(saved)
