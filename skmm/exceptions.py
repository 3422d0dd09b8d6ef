"""Exceptions raised by skmm."""


class InvalidInputError(ValueError):
    """A cell, column or parameter that skmm cannot use.

    The message says what was expected, what was received, which rows (with
    their paths) are affected and how to fix it. ``rows`` holds the positional
    indices of the offending rows when the error is about cells.
    """

    def __init__(self, message, rows=None):
        super().__init__(message)
        self.rows = list(rows) if rows is not None else []


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message names the pip command."""
