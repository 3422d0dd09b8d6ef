"""Shared parameter text for docstrings, substituted by a small decorator.

A docstring is written as a plain docstring; a line holding only ``{{name}}`` is
replaced by the shared text ``name``, re-indented to that line's indentation:

>>> @fill_doc(verbose="verbose : bool, default=False\\n    Show a progress bar.")
... def f():
...     '''Do it.
...
...     Parameters
...     ----------
...     {{verbose}}
...     '''
>>> print(f.__doc__.splitlines()[4].strip(), f.__doc__.splitlines()[5].strip())
verbose : bool, default=False Show a progress bar.
"""

import re
import textwrap

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)\{\{(?P<name>\w+)\}\}[ \t]*$", re.MULTILINE)


def substitute(doc, snippets):
    """Replace each ``{{name}}`` line of ``doc`` by ``snippets[name]``, indented alike."""
    if not doc:
        return doc

    def replace(match):
        name = match.group("name")
        if name not in snippets:
            raise KeyError(f"no shared docstring text named {name!r}; known: {sorted(snippets)}")
        text = textwrap.dedent(snippets[name]).strip("\n")
        return textwrap.indent(text, match.group("indent"), lambda line: True)

    return _PLACEHOLDER.sub(replace, doc)


def join_docs(*texts):
    """One shared text made of several (each dedented), to fill one ``{{name}}`` line.

    Examples
    --------
    >>> print(join_docs("a : int", "    b : str\\n        The b."))
    a : int
    b : str
        The b.
    """
    return "\n".join(textwrap.dedent(text).strip("\n") for text in texts)


def fill_doc(**snippets):
    """Decorator: substitute the shared texts ``snippets`` into the object's docstring."""

    def decorate(obj):
        obj.__doc__ = substitute(obj.__doc__, snippets)
        return obj

    return decorate


#: Parameters that many extractors share, with the same meaning and default.
EXTRACTOR_PARAMS = {
    "n_jobs": """\
n_jobs : int or None, default=None
    Decoding threads (None: up to 4; -1: all cores).""",
    "on_error": """\
on_error : {"raise", "warn", "ignore"}, default="raise"
    What a bad cell (one that cannot be decoded: an unreadable file, bytes that are not
    UTF-8 text, a cell of the wrong type) does: raise an InvalidInputError listing every
    bad row with its cause, or become a missing row (filled and flagged; no row is
    dropped) with ("warn") or without a warning.""",
    "add_indicator": """\
add_indicator : bool, default=False
    Append a ``present`` column: 1.0 for decoded cells, 0.0 for missing or bad ones.""",
    "fill_value": """\
fill_value : float, default=0.0
    Value of every feature of a missing row.""",
    "cache": """\
cache : None, False, str, os.PathLike or skmm.FeatureCache, default=None
    Feature cache (see :mod:`skmm.cache`): rows of cells seen before are read back
    instead of recomputed. None uses ``skmm.get_config()["cache"]``; False turns it off.""",
    "verbose": """\
verbose : bool, default=False
    Show a progress bar over the batches.""",
}
