"""The nets' logging callbacks: quiet at ``verbose=0``, printing through :func:`print_line`.

skorch's callbacks default to the ``print`` they saw at import, which pickles by
reference; a library that replaces ``builtins.print`` (Ray's ``shutdown`` does) would make
every fitted net unpicklable. :func:`print_line` pickles by its own name.
"""

import builtins

from skorch.callbacks import PrintLog


def print_line(*args, **kwargs):
    """``print``, looked up at each call: the sink of the nets' logging callbacks."""
    builtins.print(*args, **kwargs)


class QuietPrintLog(PrintLog):
    """skorch's PrintLog, which formats its table only when the net is verbose, and prints
    through :func:`print_line`."""

    def __init__(self, keys_ignored=None, sink=print_line, tablefmt="simple", floatfmt=".4f",
                 stralign="right"):
        super().__init__(keys_ignored=keys_ignored, sink=sink, tablefmt=tablefmt,
                         floatfmt=floatfmt, stralign=stralign)

    def on_epoch_end(self, net, **kwargs):
        if net.verbose:
            super().on_epoch_end(net, **kwargs)
