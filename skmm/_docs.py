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


def fill_doc(**snippets):
    """Decorator: substitute the shared texts ``snippets`` into the object's docstring."""

    def decorate(obj):
        obj.__doc__ = substitute(obj.__doc__, snippets)
        return obj

    return decorate
