"""How one fit runs: validate the inputs, seed, build the module, run skorch's training loop.

:func:`prepare` validates X, y, ``sample_weight`` and ``groups`` once and returns an
:class:`~skmm.nets._data.ArrayDataset`; :func:`train` seeds torch, initialises the net
(a fresh fit) and runs skorch's own loop (``NeuralNet.partial_fit``: epochs of
``train_step``/``validation_step`` with the callbacks); :func:`fit_data` is what ``fit``
and ``partial_fit`` run on the prepared data: one :func:`train`, or a balance scheme's
orchestration of several (:mod:`._balance`).

skorch's ``initialize()`` takes no data, but the default module reads the training X
(its layout, its statistics); :func:`training_input` hands it over for the duration of
the call, in a context variable, never as state on the estimator.
"""

import contextlib
import contextvars
import warnings

import numpy as np
import torch
from scipy import sparse as sp
from skorch import NeuralNet
from skorch.dataset import Dataset as SkorchDataset

from .._validation import draw_seed, resolve_device, resolve_precision
from ..exceptions import InvalidInputError
from ._data import ArrayDataset, check_groups, check_sample_weight, resolve_schedule
from ._inputs import validate_X
from ._sparse import SparseDataset
from ._stored import StoreDataset, is_store

#: The training X of the fit being initialised (read by ``initialize_module``).
_TRAINING_X = contextvars.ContextVar("skmm_training_X", default=None)


def training_input():
    """The training X (float32 ndarray) while a fit initialises its net, else None."""
    return _TRAINING_X.get()


def prepare(net, X, y, reset, classes=None, sample_weight=None, groups=None):
    """Validate X, y, the weights and the groups; return an :class:`ArrayDataset` on
    ``net.device_``.

    The rows of weight 0 are left out (they would have no effect on the loss, but
    would change the batches); weights that are all equal are dropped (the loss is
    normalised by the batch's weight sum, so they are the unweighted fit); the others
    are scaled to mean 1, in float32. With ``reset`` (a fresh fit), the device, the
    precision, the seed, the batch size and the patience are resolved into ``device_``,
    ``amp_dtype_``, ``seed_``, ``batch_size_`` and ``early_stopping_``, and the rows
    counted in ``n_fit_rows_``.
    """
    net._check_params()
    X, y = validate_X(net, X, y, reset=reset, y_kwargs=net._y_kwargs(y))
    groups = check_groups(groups, X.shape[0])
    sample_weight = check_sample_weight(sample_weight, X.shape[0])
    y = net._encode_targets(y, reset, classes)
    if reset:
        net.sparse_input_ = sp.issparse(X)
        net.device_ = resolve_device(net.device)
        net.amp_dtype_ = resolve_precision(net.precision, net.device_)
        net.seed_ = draw_seed(net.random_state)
        net.batch_size_, net.early_stopping_ = resolve_schedule(
            net.batch_size, net.early_stopping, X.shape[0])
        net.n_fit_rows_ = int(X.shape[0])
    sample_weight = net._weigh_rows(y, sample_weight, reset)
    y = net._transform_targets(y, sample_weight, reset)
    if sample_weight is not None:
        keep = sample_weight > 0
        if not keep.all():
            if is_store(X):
                raise InvalidInputError(
                    f"sample_weight holds {int((~keep).sum())} zero weight(s); rows of a "
                    f"feature store ({X.path}) cannot be left out of it. Give every row a "
                    "positive weight, or write a store without those rows."
                )
            X, y, sample_weight = X[keep], y[keep], sample_weight[keep]
            groups = None if groups is None else groups[keep]
        if np.all(sample_weight == sample_weight[0]):
            sample_weight = None
        else:
            sample_weight = (sample_weight / sample_weight.mean()).astype(np.float32)
    return make_dataset(X, y, device=net.device_, sample_weight=sample_weight, groups=groups)


def make_dataset(X, y=None, **kwargs):
    """The dataset of validated rows: an :class:`ArrayDataset`, a
    :class:`~skmm.nets._sparse.SparseDataset` for a sparse X (never densified), or a
    :class:`~skmm.nets._stored.StoreDataset` for a feature store (read a batch at a time)."""
    if is_store(X):
        return StoreDataset(X, y, **kwargs)
    if sp.issparse(X):
        return SparseDataset(X, y, **kwargs)
    return ArrayDataset(X, y, **kwargs)


def fit_data(net, data, initialize, **fit_params):
    """Train ``net`` on prepared ``data``: once, or as its balance scheme orchestrates.

    A continued fit (``partial_fit``, ``warm_start``) goes on with the scheme's loss
    weights; a fresh one with ``balance`` builds the scheme (``balance_``) and lets it run.
    """
    if not initialize:
        return train(net, data, initialize, **fit_params)
    net.loss_weights_ = net.balance_weights_ = None
    net.balance_in_use_ = net._resolve_balance(data.groups)
    if net.balance_in_use_ is None:
        return train(net, data, initialize, **fit_params)
    if net.module is not None:
        raise InvalidInputError(
            f"balance={net.balance!r} trains the per-branch heads of skmm's multimodal "
            "module; it does not apply to a custom module. Leave module=None (or balance "
            "None or 'auto')."
        )
    net.balance_ = net._make_balance()
    return net.balance_.fit(net, data, **fit_params)


def train(net, data, initialize, **fit_params):
    """Run skorch's training loop on ``data`` (an :class:`ArrayDataset`); return ``net``.

    ``initialize`` builds the net afresh (module, criterion, optimizer, callbacks, history)
    first. A fresh fit always starts from ``seed_``; a continued one from where its
    history is. ``epochs=0`` only builds (a balance scheme's first step).
    """
    seed = net.seed_ if initialize else net.seed_ + len(net.history)
    if data.w_t is not None and net.dataset is not SkorchDataset:
        raise InvalidInputError(
            f"sample_weight reaches the loss through skmm's own batches; a custom "
            f"dataset={net.dataset!r} does not carry them. Leave the dataset parameter "
            "as it is, or fit without sample_weight (and class_weight)."
        )
    with seeded(seed, net.device_):
        if initialize:
            token = _TRAINING_X.set(data.X)
            try:
                net.initialize()
            finally:
                _TRAINING_X.reset(token)
        if fit_params.get("epochs") == 0:
            # skorch's callbacks, e.g. EarlyStopping's on_train_end, expect at least one
            # epoch in the history: only build
            return net
        # A custom ``dataset`` class gets the validated arrays, as skorch would give it.
        X = data if net.dataset is SkorchDataset else data.X
        with warnings.catch_warnings():
            # scoring callbacks predict on the validated array of a DataFrame fit
            warnings.filterwarnings("ignore", "X does not have valid feature names",
                                    UserWarning)
            NeuralNet.partial_fit(net, X, data.y, **fit_params)
    return net


@contextlib.contextmanager
def seeded(seed, device):
    """Run the block with torch's global generators seeded, restoring them afterwards.

    Module initialisation and dropout draw from the global generators; forking them keeps
    a fit deterministic for a given seed without changing the caller's random stream.
    """
    device = torch.device(device)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield
