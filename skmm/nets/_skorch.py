"""The fusion nets on skorch: :class:`FusionNetBase`, placed before skorch's net class.

Only skorch's public extension points are overridden (``initialize``,
``initialize_module``, ``get_params_for_optimizer``, ``get_default_callbacks``,
``get_params``/``set_params``, ``get_dataset``, ``get_iterator``, ``get_split_datasets``,
``infer``, ``get_loss``, ``on_grad_computed``, ``check_data``, ``load_params``, pickling);
per-call state travels in arguments (a weighted batch's X is a dict holding its
``sample_weight``; the groups travel with the dataset). Around them:

* ``fit``/``partial_fit`` validate once and train (:mod:`._fit`); the loss is
  :func:`~skmm.nets._loss.net_loss`; the module is built in one overridable place,
  :meth:`FusionNetBase._build_module` (:mod:`._build`);
* modules and batches live on ``device_`` (``device="auto"`` resolved at fit): skorch,
  which reads the ``device`` parameter, sees ``device_`` while it initialises;
* ``__init__`` stores parameters only; ``get_params`` compares equal across clones.
"""

import contextlib
import types
from collections.abc import Mapping

import numpy as np
import torch
from scipy import sparse as sp
from skorch import NeuralNet
from skorch.dataset import Dataset as SkorchDataset
from skorch.utils import get_map_location, is_dataset, to_numpy, to_tensor
from torch.utils.data import DataLoader, Subset

from .._docs import fill_doc
from .._validation import resolve_device, resolve_precision
from ..exceptions import InvalidInputError
from ._build import (
    ALIASES, NET_CONSTRAINTS, ROUTED, allow_missing, balance_of, build_module, check_params,
    resolve_balance, use_fused,
)
from ._balance import make_balance
from ._callbacks import default_callbacks
from ._data import (
    ArrayDataset, SliceLoader, resolved_setting, split_batch_X, validation_indices,
)
from ._fit import fit_data, make_dataset, prepare, training_input
from ._netdocs import NET_DOCS
from ._inputs import validate_X
from ._loss import net_loss
from ._targets import auto_nonlinearity, identity

#: Rows held out when ``early_stopping`` needs a validation split: a tenth, as HGB's
#: ``validation_fraction`` (against a fifth: ``benchmarks/results/real_ablation.md``).
_EARLY_STOPPING_FRACTION = 0.1
#: DataLoader arguments the slicing iterator honours; others fall back to a real DataLoader.
_SLICE_LOADER_ARGS = {"batch_size", "shuffle", "drop_last"}
#: State skorch's ``__init__`` sets; an unfitted net reads the class defaults below instead
#: (scikit-learn's contract: ``__init__`` stores parameters only).
_SKORCH_STATE = ("history_", "initialized_", "virtual_params_")


class FusionNetBase:
    """What the classifier and the regressor share (placed before skorch's net class)."""

    _parameter_constraints = NET_CONSTRAINTS

    #: skorch routes ``<prefix>__<name>``; fusion__, branches__ and balance__ are ours.
    prefixes_ = NeuralNet.prefixes_ + list(ROUTED) + ["balance"]

    initialized_ = False
    history_ = None
    virtual_params_ = types.MappingProxyType({})

    def _store_params(self, **own):
        """The end of the nets' ``__init__``: store our own parameters and leave skorch's
        fitted-state attributes to the class defaults."""
        for name, value in own.items():
            setattr(self, name, value)
        for name in _SKORCH_STATE:
            vars(self).pop(name, None)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # a sparse X is batched as sparse rows (._sparse)
        return tags

    # ---- parameters ----------------------------------------------------------------
    def get_params(self, deep=True, **kwargs):
        """Parameters (skorch's), without the callback instances skorch lists.

        skorch lists each default callback's instance (built afresh per call), so that
        ``get_params()`` of two clones never compared equal; their parameters are kept.
        """
        params = super().get_params(deep=deep, **kwargs)
        return {key: value for key, value in params.items()
                if not key.startswith("_")
                and not (key.startswith("callbacks__") and key.count("__") == 1)}

    def set_params(self, **params):
        """Set parameters; see ``get_params`` for the names.

        ``fusion__<name>``, ``branches__<name>`` and ``balance__<name>`` are stored as they
        are and take effect at the next fit, as ``fusion`` and ``branches`` do. An unfitted
        net stores a new ``callbacks`` list, so that a bad value is reported by fit.
        """
        direct = {k: params.pop(k) for k in list(params)
                  if k.split("__", 1)[0] in (*ROUTED, "balance") or k in ALIASES}
        if "callbacks" in params and not self.initialized_ and not any(
                key.startswith("callbacks__") for key in params):
            direct["callbacks"] = params.pop("callbacks")
        with self._skorch_device():
            super().set_params(**params)
        for name, value in direct.items():
            setattr(self, name, value)
        return self

    def _check_params(self):
        """Validate the parameters (called by fit); raise InvalidInputError with a fix."""
        check_params(self)

    def _resolve_balance(self, groups):
        """The balance scheme a fresh fit uses ("auto" resolved; see :func:`resolve_balance`)."""
        return resolve_balance(self, groups)

    def _make_balance(self):
        """The balance scheme of this fit, with its routed hyperparameters."""
        return make_balance(self.balance_in_use_, self.get_params_for("balance"))

    # ---- initialisation --------------------------------------------------------------
    @contextlib.contextmanager
    def _skorch_device(self):
        # skorch places the components it (re)builds on the ``device`` parameter, which
        # may be "auto": it sees the resolved ``device_`` meanwhile.
        param = self.device
        resolved = vars(self).get("device_")
        if resolved is None:
            yield
            return
        vars(self)["device"] = resolved
        try:
            yield
        finally:
            if vars(self)["device"] is resolved:  # unless the block set a new parameter
                vars(self)["device"] = param

    def initialize(self):
        """Initialise the components (skorch's ``initialize``) on ``device_``."""
        with self._skorch_device():
            return super().initialize()

    def _build_module(self, n_features, n_outputs, X=None):
        """Return the torch module to train (the one place to override): ``n_features``
        wide rows in, ``n_outputs`` (classes or targets) out; ``X`` is the float32 training
        input when ``fit`` builds it (None when skorch re-initialises it, e.g. after
        ``set_params(module__...)``). The default is :func:`~skmm.nets._build.build_module`.
        """
        return build_module(self, n_features, n_outputs, X)

    def initialize_module(self):
        if not hasattr(self, "n_features_in_"):
            raise InvalidInputError(
                f"{type(self).__name__} learns its input width from the data: call "
                "fit(X, y) rather than initialize() first."
            )
        self.module_ = self._build_module(self.n_features_in_, self.n_outputs_,
                                          training_input())
        return self

    def get_params_for_optimizer(self, prefix, named_parameters):
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if prefix == "optimizer" and use_fused(self.optimizer, self.device_, kwargs):
            kwargs["fused"] = True  # the same step in one pass (see use_fused)
        return args, kwargs

    def get_default_callbacks(self):
        return default_callbacks(super().get_default_callbacks(), self.lr_schedule,
                                 self.max_epochs, resolved_setting(self, "early_stopping"))

    # ---- fitting -------------------------------------------------------------------------
    @fill_doc(**NET_DOCS)
    def fit(self, X, y, groups=None, sample_weight=None, **fit_params):
        """Validate X and y, build the module for their shape and train it.

        Parameters
        ----------
        {{fit_parameters}}
        **fit_params
            Passed to the module's ``forward`` (skorch's convention).

        Returns
        -------
        self
        """
        fresh = not (self.warm_start and self.initialized_)
        data = prepare(self, X, y, reset=fresh, sample_weight=sample_weight, groups=groups)
        return fit_data(self, data, initialize=fresh, **fit_params)

    def partial_fit(self, X, y=None, classes=None, groups=None, sample_weight=None,
                    **fit_params):
        """Train for ``max_epochs`` more epochs without re-initialising the module.

        The first call validates and builds as :meth:`fit` does; ``classes`` (all the
        labels, for a classifier) is needed there when one batch may not show them all.
        ``groups`` and ``sample_weight`` as in :meth:`fit` (routed by
        ``set_partial_fit_request``); what the first call learnt from its rows (the
        classifier's ``class_weight_``, the regressor's target scaling) is kept.
        """
        fresh = not self.initialized_
        data = prepare(self, X, y, reset=fresh, classes=classes, sample_weight=sample_weight,
                       groups=groups)
        return fit_data(self, data, initialize=fresh, **fit_params)

    def _y_kwargs(self, y):
        """How ``validate_data`` checks y (a hook: the classifier accepts 2-D indicators)."""
        return self._y_validation

    def _weigh_rows(self, y, sample_weight, reset):
        """The validated ``sample_weight`` (float64 or None) times any per-row weights the
        net adds (a hook: the classifier's ``class_weight``); ``y`` is encoded."""
        return sample_weight

    def _transform_targets(self, y, sample_weight, reset):
        """The encoded targets as the criterion sees them (a hook: target scaling)."""
        return y

    def check_data(self, X, y=None):
        # X and y were validated (and the labels encoded) by fit.
        pass

    def get_split_datasets(self, X, y=None, **fit_params):
        dataset = self.get_dataset(X, y)
        split = self.train_split
        if not split and resolved_setting(self, "early_stopping") is not None:
            train, valid = validation_indices(
                len(dataset), _EARLY_STOPPING_FRACTION, self.seed_, y=y,
                groups=getattr(dataset, "groups", None), stratify=self._stratify)
            return Subset(dataset, train), Subset(dataset, valid)
        if not split:
            return dataset, None
        return split(dataset, y, **fit_params) if y is not None else split(dataset, **fit_params)

    # ---- batches -------------------------------------------------------------------------
    def get_dataset(self, X, y=None):
        if is_dataset(X):
            return X
        X = self._validate_predict_X(X)
        if self.dataset is not SkorchDataset:
            return super().get_dataset(X, y)
        return make_dataset(X)

    def get_iterator(self, dataset, training=False):
        base, indices = dataset, None
        if isinstance(dataset, Subset):
            base, indices = dataset.dataset, dataset.indices
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        if (not isinstance(base, ArrayDataset) or getattr(self, prefix) is not DataLoader
                or set(kwargs) - _SLICE_LOADER_ARGS):
            if isinstance(base, ArrayDataset) and base.w_t is not None:
                raise InvalidInputError(
                    f"sample_weight reaches the loss through skmm's sliced batches; the "
                    f"{prefix} settings {sorted(set(kwargs) - _SLICE_LOADER_ARGS)} (or a "
                    f"custom {prefix}) ask for a DataLoader, which drops them. Keep to "
                    f"{sorted(_SLICE_LOADER_ARGS)}, or fit without sample_weight."
                )
            return super().get_iterator(dataset, training=training)
        batch_size = kwargs.get("batch_size", resolved_setting(self, "batch_size"))
        if batch_size == -1:
            batch_size = max(1, len(base) if indices is None else len(indices))
        seed = None
        if hasattr(self, "seed_"):
            seed = self.seed_ + len(self.history or ())
        if hasattr(base, "loader"):  # a sparse X or a store: rows read a batch at a time
            return base.loader(indices, batch_size, shuffle=kwargs.get("shuffle", training),
                               drop_last=kwargs.get("drop_last", False), seed=seed)
        X_t, y_t = base.tensors(indices)
        return SliceLoader(X_t, y_t, batch_size, shuffle=kwargs.get("shuffle", training),
                           drop_last=kwargs.get("drop_last", False), seed=seed,
                           sample_weight=base.weights(indices))

    # ---- one step ------------------------------------------------------------------------
    def infer(self, x, **fit_params):
        x, _ = split_batch_X(x)  # a weighted batch's rows (its weights are for get_loss)
        if isinstance(x, torch.Tensor):
            x = x.to(self.device_, non_blocking=True)
        else:
            x = to_tensor(x, device=self.device_)
        dtype = getattr(self, "amp_dtype_", None)
        if dtype is None:
            return self._forward_module(x, fit_params)
        with torch.autocast(torch.device(self.device_).type, dtype=dtype):
            return _to_float32(self._forward_module(x, fit_params))

    def _forward_module(self, x, fit_params):
        if isinstance(x, Mapping):
            return self.module_(**x, **fit_params)
        return self.module_(x, **fit_params)

    def train_step_single(self, batch, **fit_params):
        """skorch's step (forward, loss, backward), switching the modules to training mode
        only when they are not in it already (skorch walks every submodule each batch)."""
        self._ensure_mode(True)
        Xi, yi = batch
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def validation_step(self, batch, **fit_params):
        """skorch's validation step, with the modules put in evaluation mode once."""
        self._ensure_mode(False)
        Xi, yi = batch
        with torch.no_grad():
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=False)
        return {"loss": loss, "y_pred": y_pred}

    def _ensure_mode(self, training):
        for module in (self.module_, self.criterion_):
            if isinstance(module, torch.nn.Module) and module.training != training:
                module.train(training)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The batch's loss (:func:`~skmm.nets._loss.net_loss`), weighted by the
        ``sample_weight`` a weighted batch carries in its X."""
        return net_loss(self, y_pred, y_true, split_batch_X(X)[1])

    def on_grad_computed(self, net, named_parameters, batch=None, training=False, **kwargs):
        """After a training batch's backward pass: the balance scheme's turn
        (``after_backward``, e.g. OGM-GE's gradient modulation)."""
        scheme = getattr(self, "balance_", None) if balance_of(self) is not None else None
        if scheme is not None and training and batch is not None:
            X, y = batch
            scheme.after_backward(self, X, y)

    # ---- prediction ----------------------------------------------------------------------
    def _validate_predict_X(self, X):
        self.check_is_fitted()
        X = validate_X(self, X, reset=False)
        if getattr(self, "sparse_input_", False) != sp.issparse(X):  # as the module was fitted
            X = sp.csr_matrix(X) if self.sparse_input_ else X.toarray()
        return X

    def _check_values(self, X):
        """Refuse NaN/inf in X, except where a block is missing (called by validate_X)."""
        allow_missing(self, X)

    def _predict_nonlinearity(self):
        """The ``predict_nonlinearity`` as a callable ("auto": from the criterion)."""
        nonlin = self.predict_nonlinearity
        if nonlin is None:
            return identity
        if isinstance(nonlin, str) and nonlin == "auto":
            return self._auto_nonlinearity()
        if not callable(nonlin):
            raise TypeError("predict_nonlinearity has to be a callable, 'auto' or None")
        return nonlin

    def _auto_nonlinearity(self):
        """``predict_nonlinearity="auto"`` (a hook: a multi-label classifier takes one
        sigmoid per label)."""
        return auto_nonlinearity(self.criterion_)

    def _forward_numpy(self, X):
        """The first output of the module on X, after the predict nonlinearity, as numpy."""
        self.check_is_fitted()
        nonlin = self._predict_nonlinearity()
        outputs = []
        for yp in self.forward_iter(X, training=False, device="cpu"):
            yp = yp[0] if isinstance(yp, tuple) else yp
            outputs.append(to_numpy(nonlin(yp)))
        return np.concatenate(outputs, 0)

    # ---- persistence ---------------------------------------------------------------------
    def __setstate__(self, state):
        # skorch maps the saved tensors to ``state["device"]``, falling back to the CPU when
        # CUDA is absent; here the tensors live on ``device_`` (the parameter may be "auto").
        state = dict(state)
        param = state.get("device")
        state["device"] = state.get("device_", "cpu")
        super().__setstate__(state)
        if "device_" in state:
            self.device_ = str(vars(self)["device"])
            self.amp_dtype_ = resolve_precision(self.precision, self.device_)
        vars(self)["device"] = param

    def load_params(self, *args, **kwargs):
        """skorch's ``load_params``, mapping the saved tensors to ``device_``.

        A net trained on CUDA loads on a CPU-only machine: the tensors go to the CPU and
        ``device_`` says so (the ``device`` parameter is left as given).
        """
        target = getattr(self, "device_", None) or resolve_device(self.device)
        self.device_ = str(get_map_location(target))
        with self._skorch_device():
            return super().load_params(*args, **kwargs)


def _to_float32(out):
    if isinstance(out, torch.Tensor):
        return out.float() if out.is_floating_point() else out
    if isinstance(out, tuple):
        return tuple(_to_float32(o) for o in out)
    return out
