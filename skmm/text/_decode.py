"""Decoding one text cell: ``str`` or UTF-8 ``bytes`` to ``str``."""

import numpy as np

from .._column import CellError


def decode_text(cell):
    """Validate one text cell: ``str`` (or UTF-8 ``bytes``) -> ``str``.

    Examples
    --------
    >>> decode_text(b"caf\\xc3\\xa9")
    'café'
    """
    if isinstance(cell, str):
        return cell
    if isinstance(cell, (bytes, bytearray)):
        try:
            return bytes(cell).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CellError(f"bytes are not valid UTF-8 ({exc}); decode them to str first") from exc
    if isinstance(cell, np.str_):
        return str(cell)
    raise CellError(f"expected a str for text, got {type(cell).__name__}")
