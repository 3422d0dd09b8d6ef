"""The nets' logging callbacks: quiet at ``verbose=0``, printing through :func:`print_line`.

skorch's callbacks default to the ``print`` they saw at import, which pickles by
reference; a library that replaces ``builtins.print`` (Ray's ``shutdown`` does) would make
every fitted net unpicklable. :func:`print_line` pickles by its own name.

skorch's :class:`~skorch.callbacks.EarlyStopping` says "Restoring best model from epoch N."
through its ``sink`` whatever the net's verbosity once the sink is not ``print`` itself
(a logger is meant to get every line). :class:`QuietEarlyStopping` hands its lines to the
sink only when the net is verbose, through skorch's public surface alone: the ``sink``
parameter and the ``on_epoch_end`` / ``on_train_end`` hooks.

:func:`default_callbacks` is the nets' set: skorch's, quiet, with the learning-rate schedule
and early stopping their parameters ask for.
"""

import builtins
import contextlib

import torch
from skorch.callbacks import EarlyStopping, LRScheduler, PrintLog
from skorch.utils import noop


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


class QuietEarlyStopping(EarlyStopping):
    """skorch's EarlyStopping, silent when the net is not verbose.

    The same parameters as :class:`skorch.callbacks.EarlyStopping`, with ``sink``
    defaulting to :func:`print_line`. At ``net.verbose == 0`` its
    lines ("Stopping since ...", "Restoring best model from epoch N.") are dropped; the
    best model is restored all the same.

    Examples
    --------
    >>> from skmm.nets._callbacks import QuietEarlyStopping
    >>> QuietEarlyStopping(patience=3, load_best=True).patience
    3
    """

    def __init__(self, monitor="valid_loss", patience=5, threshold=1e-4, threshold_mode="rel",
                 lower_is_better=True, sink=print_line, load_best=False):
        super().__init__(monitor=monitor, patience=patience, threshold=threshold,
                         threshold_mode=threshold_mode, lower_is_better=lower_is_better,
                         sink=sink, load_best=load_best)

    def on_epoch_end(self, net, **kwargs):
        with _sink_following(self, net):
            super().on_epoch_end(net, **kwargs)

    def on_train_end(self, net, **kwargs):
        with _sink_following(self, net):
            super().on_train_end(net, **kwargs)


@contextlib.contextmanager
def _sink_following(callback, net):
    """Within the block, ``callback.sink`` is :func:`skorch.utils.noop` unless the net is
    verbose; the parameter is put back on the way out (on an exception too: skorch stops
    training by raising KeyboardInterrupt from ``on_epoch_end``)."""
    if getattr(net, "verbose", 0):
        yield
        return
    sink = callback.sink
    callback.sink = noop
    try:
        yield
    finally:
        callback.sink = sink


class EpochSchedule(LRScheduler):
    """skorch's LRScheduler, which lets go of its torch scheduler when training ends.

    skorch builds the torch scheduler afresh at each ``on_train_begin`` (from the
    history's epoch count), so nothing is lost; a fitted net then pickles without a
    second copy of its optimizer inside the callback (skorch pickles ``optimizer_``
    itself, mapping CUDA tensors to the CPU on a machine without CUDA; the copy inside
    the callback would not be mapped).
    """

    def on_train_end(self, net, **kwargs):
        self.lr_scheduler_ = None


def default_callbacks(skorch_defaults, lr_schedule, max_epochs, patience):
    """The nets' default callbacks: ``skorch_defaults`` (``NeuralNet.get_default_callbacks``)
    with :class:`QuietPrintLog` for skorch's log, then a cosine schedule of the learning
    rate over ``max_epochs`` (``lr_schedule="cosine"``) and :class:`QuietEarlyStopping`
    restoring the best epoch (``patience`` not None)."""
    callbacks = [(name, QuietPrintLog()) if name == "print_log" else (name, callback)
                 for name, callback in skorch_defaults]
    if lr_schedule == "cosine":
        callbacks.append(("lr_schedule", EpochSchedule(
            policy=torch.optim.lr_scheduler.CosineAnnealingLR, T_max=max_epochs)))
    if patience is not None:
        callbacks.append(("early_stopping", QuietEarlyStopping(patience=patience,
                                                               load_best=True)))
    return callbacks
