"""What FusionNetClassifier and FusionNetRegressor share on top of skorch.

:class:`FusionNetBase` is a mixin placed before skorch's net class. It

* validates X and y once (:mod:`._inputs`) and casts X to float32;
* builds the module in one overridable place, :meth:`FusionNetBase._build_module`;
* places modules and batches on ``device_`` (``device="auto"`` resolved at fit), never
  changing the ``device`` parameter that skorch otherwise reads;
* batches by slicing whole tensors (:mod:`._training`), with a seeded permutation per epoch;
* seeds module initialisation and dropout from ``random_state`` without touching the
  caller's global torch generator;
* takes ``sample_weight`` in ``fit`` and ``partial_fit``: the weights travel with the rows
  (a third tensor of the dataset, sliced with each batch) into a weighted loss
  (:func:`~skmm.nets._weights.weighted_loss`);
* keeps ``__init__`` free of fitted state and ``get_params`` comparable across clones, as
  scikit-learn's checks require, and checks the parameters at fit from their declared
  ``_parameter_constraints`` (:mod:`skmm._validation`).
"""

import contextlib
import inspect
import types
import warnings
from collections.abc import Mapping

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping
from skorch.dataset import Dataset as SkorchDataset
from skorch.utils import get_map_location, is_dataset, to_numpy, to_tensor
from torch.utils.data import DataLoader, Subset

from .._validation import (
    PRECISIONS, Integer, Options, Satisfies, draw_seed, resolve_device, resolve_precision,
    validate_params,
)
from ..exceptions import InvalidInputError
from ._inputs import check_finite, validate_X
from ._mlp import DROPOUT, HIDDEN_SIZES, MLP, resolve_hidden_sizes
from ._split import validation_indices
from ._training import ArrayDataset, QuietPrintLog, SliceLoader, print_line, seeded
from ._weights import check_groups, check_sample_weight, weighted_loss

#: Fraction of the training rows held out when ``early_stopping`` needs a validation split.
_EARLY_STOPPING_FRACTION = 0.2
#: DataLoader arguments the slicing iterator honours; others fall back to a real DataLoader.
_SLICE_LOADER_ARGS = {"batch_size", "shuffle", "drop_last"}
#: skorch sets these in ``__init__``; here they start as class defaults (the sklearn contract:
#: ``__init__`` stores parameters only) and become instance attributes at initialisation.
_SKORCH_STATE = ("history_", "initialized_", "virtual_params_")


class FusionNetBase:
    """What the classifier and the regressor share (a mixin placed before the skorch net)."""

    #: Checked by fit (see :func:`skmm._validation.validate_params`).
    _parameter_constraints = {
        "hidden_sizes": [Options("auto"), HIDDEN_SIZES],
        "dropout": [DROPOUT],
        "fusion": [Options("concat")],  # the MLP over the row; LayerFusionMixin adds more
        "early_stopping": ([None, Integer(1)], "It is the patience in epochs."),
        "batch_size": [Integer(1), Satisfies(Integer(-1, -1).is_satisfied_by,
                                             "-1 (the whole data as one batch)")],
        "precision": [Options(*PRECISIONS)],
    }

    initialized_ = False
    history_ = None
    virtual_params_ = types.MappingProxyType({})

    def _init_net(self, params):
        """The body of the nets' ``__init__``: ``params`` is its ``locals()``.

        The parameters of skorch's own ``__init__`` (and ``kwargs``) go to it; the others
        are stored as they are.
        """
        params = {k: v for k, v in params.items() if k not in ("self", "__class__")}
        kwargs = params.pop("kwargs", {})
        skorch_class = next(c for c in type(self).__mro__ if c.__module__.startswith("skorch"))
        theirs = set(inspect.signature(NeuralNet.__init__).parameters)
        theirs |= set(inspect.signature(skorch_class.__init__).parameters)
        ours = {k: params.pop(k) for k in list(params) if k not in theirs}
        super(FusionNetBase, self).__init__(**params, **kwargs)
        for name, value in ours.items():
            setattr(self, name, value)
        for name in _SKORCH_STATE:
            if vars(self).get(name) is getattr(type(self), name) or (
                name == "virtual_params_" and vars(self).get(name) == {}
            ):
                vars(self).pop(name, None)

    def __setattr__(self, name, attr):
        if "_params_to_validate" not in vars(self):
            # Still inside skorch's __init__: skorch's own first-initialisation path (a plain
            # setattr), which its check ``hasattr(self, "initialized_")`` would miss here
            # because ``initialized_`` is a class default.
            object.__setattr__(self, name, attr)
            return
        super().__setattr__(name, attr)

    def set_params(self, **params):
        """Set parameters (skorch's ``set_params``; see ``get_params`` for the names)."""
        if "callbacks" in params and not self.initialized_ and not any(
            key.startswith("callbacks__") for key in params
        ):
            # skorch initialises the callbacks as soon as the list is replaced; an unfitted
            # net only stores it, so that a bad value is reported by fit (sklearn's contract).
            callbacks = params.pop("callbacks")
            super().set_params(**params)
            self.callbacks = callbacks
            return self
        return super().set_params(**params)

    def _get_param_names(self):
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    # ---- parameters ----------------------------------------------------------------
    def _check_params(self):
        """Validate the parameters (called by fit); raise InvalidInputError with a fix."""
        validate_params(self)

    # ---- the module: built in one overridable place ------------------------------------
    def _build_module(self, n_features, n_outputs, X=None):
        """Return the torch module to train.

        Parameters
        ----------
        n_features : int
            Width of the input rows (``n_features_in_``).
        n_outputs : int
            Number of classes, or of regression targets.
        X : ndarray of float32 (n_samples, n_features), optional
            The training input when the module is built by ``fit`` (None when skorch
            re-initialises it outside fit, e.g. after ``set_params(module__...)``); its
            column names are in ``feature_names_in_`` when it was a DataFrame.

        The default is an :class:`MLP` from ``hidden_sizes`` ("auto": one layer of 256)
        and ``dropout``. A ``module``
        class is called with the ``module__...`` parameters, plus ``n_features`` and
        ``n_outputs`` when its signature takes them and they are not given.
        """
        kwargs = self.get_params_for("module")
        if self.module is None:
            kwargs = {"hidden_sizes": resolve_hidden_sizes(self.hidden_sizes, "plain"),
                      "dropout": self.dropout, **kwargs}
            return MLP(n_features, n_outputs, **kwargs)
        if not isinstance(self.module, torch.nn.Module):
            try:
                accepted = inspect.signature(self.module).parameters
            except (TypeError, ValueError):
                accepted = {}
            for name, value in (("n_features", n_features), ("n_outputs", n_outputs)):
                if name in accepted and name not in kwargs:
                    kwargs[name] = value
        return self.initialized_instance(self.module, kwargs)

    def initialize_module(self):
        if not hasattr(self, "n_features_in_"):
            raise InvalidInputError(
                f"{type(self).__name__} learns its input width from the data: call "
                "fit(X, y) rather than initialize() first."
            )
        self.module_ = self._build_module(
            self.n_features_in_, self.n_outputs_, vars(self).get("_fit_X")
        )
        return self

    def _initialize_module(self, reason=None):
        return self._initialize_components("module", "_modules", self.initialize_module, reason)

    def _initialize_criterion(self, reason=None):
        return self._initialize_components(
            "criterion", "_criteria", self.initialize_criterion, reason
        )

    def _initialize_components(self, kind, registry, initialize, reason):
        # skorch's _initialize_module/_initialize_criterion, except that the components go to
        # the resolved ``device_``: the ``device`` parameter may be "auto" and stays as given.
        with self._current_init_context(kind):
            if self.initialized_ and self.verbose:
                kwargs = {}
                for name in getattr(self, registry):
                    kwargs.update(self.get_params_for(name))
                has_init = any(isinstance(getattr(self, n + "_", None), torch.nn.Module)
                               for n in getattr(self, registry))
                if reason or kwargs or has_init:
                    print(reason or self._format_reinit_msg(kind, kwargs))
            initialize()
            for name in getattr(self, registry):
                component = getattr(self, name + "_")
                if isinstance(component, torch.nn.Module):
                    component = component.to(self.device_)
                    setattr(self, name + "_", self.torch_compile(component, name=name))
        return self

    # ---- fitting -------------------------------------------------------------------------
    def _prepare_fit(self, X, y, reset, classes=None, sample_weight=None, groups=None):
        """Validate X, y, the weights and the groups; return an :class:`ArrayDataset` on
        ``device_``.

        The rows of weight 0 are left out (they would have no effect on the loss, but
        would change the batches); weights that are all equal are dropped (the loss is
        normalised by the batch's weight sum, so they are the unweighted fit); the others
        are scaled to mean 1, in float32.
        """
        self._check_params()
        X, y = validate_X(self, X, y, reset=reset, y_kwargs=self._y_kwargs(y))
        groups = check_groups(groups, len(X))
        sample_weight = check_sample_weight(sample_weight, len(X))
        y = self._encode_targets(y, reset, classes)
        if reset:
            self.device_ = resolve_device(self.device)
            self.amp_dtype_ = resolve_precision(self.precision, self.device_)
            self.seed_ = draw_seed(self.random_state)
        sample_weight = self._weigh_rows(y, sample_weight, reset)
        y = self._transform_targets(y, sample_weight, reset)
        if sample_weight is not None:
            keep = sample_weight > 0
            if not keep.all():
                X, y, sample_weight = X[keep], y[keep], sample_weight[keep]
                groups = None if groups is None else groups[keep]
            if np.all(sample_weight == sample_weight[0]):
                sample_weight = None
            else:
                sample_weight = (sample_weight / sample_weight.mean()).astype(np.float32)
        return ArrayDataset(X, y, device=self.device_, sample_weight=sample_weight,
                            groups=groups)

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

    def _train(self, data, initialize, **fit_params):
        # A fresh fit always starts from seed_; a continued one from where its history is.
        seed = self.seed_ if initialize else self.seed_ + len(self.history)
        if data.w_t is not None and self.dataset is not SkorchDataset:
            raise InvalidInputError(
                f"sample_weight reaches the loss through skmm's own batches; a custom "
                f"dataset={self.dataset!r} does not carry them. Leave the dataset parameter "
                "as it is, or fit without sample_weight (and class_weight)."
            )
        vars(self)["_fit_groups"] = data.groups  # read by the held-out split (early_stopping)
        try:
            return self._train_seeded(data, initialize, seed, **fit_params)
        finally:
            vars(self).pop("_fit_groups", None)

    def _train_seeded(self, data, initialize, seed, **fit_params):
        with seeded(seed, self.device_):
            if initialize:
                vars(self)["_fit_X"] = data.X
                try:
                    self.initialize()
                finally:
                    vars(self).pop("_fit_X", None)
            if fit_params.get("epochs") == 0:
                # only built (a balance scheme's first step): skorch's callbacks, e.g.
                # EarlyStopping's on_train_end, expect at least one epoch in the history
                return self
            # A custom ``dataset`` class gets the validated arrays, as skorch would give it.
            X = data if self.dataset is SkorchDataset else data.X
            with warnings.catch_warnings():
                # scoring callbacks predict on the validated array of a DataFrame fit
                warnings.filterwarnings("ignore", "X does not have valid feature names",
                                        UserWarning)
                NeuralNet.partial_fit(self, X, data.y, **fit_params)
        return self

    def fit(self, X, y, groups=None, sample_weight=None, **fit_params):
        """Validate X and y, build the module for their shape and train it.

        Parameters
        ----------
        X : array-like or DataFrame of numbers, shape (n_samples, n_features)
            Cast to float32 once. Non-numeric columns and inf are refused, and NaN too,
            except where the multimodal module reads it as missing: in the rows of a
            block its presence column marks as missing, and, when X has several blocks, in
            the cells of a block of numbers or of a table (where NaN reads as the column's
            training mean, and a block that is NaN throughout as a missing modality).
        y : array-like, shape (n_samples,)
            Class labels, or targets; (n_samples, n_targets) for several regression
            targets, a 0/1 indicator matrix (n_samples, n_labels) for multi-label
            classification.
        groups : array-like of shape (n_samples,), optional
            Group labels (speakers, users, sessions). When the net holds rows out for
            itself (``early_stopping``, ``balance``), it holds out whole groups, so that its
            held-out signal sees the shift a group-held-out evaluation does; without groups
            the split is stratified (classifier) or random (regressor). With scikit-learn's
            metadata routing, ``net.set_fit_request(groups=True)`` lets ``Pipeline`` and
            ``GridSearchCV`` pass them on.
        sample_weight : array-like of shape (n_samples,) or float, optional
            Non-negative weight of each row (None: all 1). Each batch's loss is the mean of
            its rows' losses weighted by their weights, ``sum(w_i * loss_i) / sum(w_i)``
            (a criterion with ``reduction="sum"``: that times the batch size), so only the
            ratios of the weights matter: with the whole data as one batch
            (``batch_size=-1``), an integer weight is the row repeated that many times;
            with smaller batches it is so on average. Rows of weight 0 are left out of the
            fit altogether. The weights follow the rows into the net's own held-out
            splits: they weigh the validation loss that ``early_stopping`` watches (not
            ``valid_acc``) and, with ``balance``, the per-branch heads' losses and their
            held-out evaluation (UME's combination weights, G-Blend's loss weights).
            Under metadata routing, ``net.set_fit_request(sample_weight=True)`` lets
            ``Pipeline`` and ``GridSearchCV`` pass them on.
        **fit_params
            Passed to the module's ``forward`` (skorch's convention).

        Returns
        -------
        self
        """
        fresh = not (self.warm_start and self.initialized_)
        data = self._prepare_fit(X, y, reset=fresh, sample_weight=sample_weight, groups=groups)
        return self._fit_data(data, initialize=fresh, **fit_params)

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
        data = self._prepare_fit(X, y, reset=fresh, classes=classes,
                                 sample_weight=sample_weight, groups=groups)
        return self._fit_data(data, initialize=fresh, **fit_params)

    def _fit_data(self, data, initialize, **fit_params):
        """Train on validated ``data`` (a hook: balanced training orchestrates several runs)."""
        return self._train(data, initialize, **fit_params)

    def check_data(self, X, y=None):
        # X and y were validated (and the labels encoded) by _prepare_fit.
        pass

    def get_split_datasets(self, X, y=None, **fit_params):
        dataset = self.get_dataset(X, y)
        split = self.train_split
        if not split and self.early_stopping is not None:
            train, valid = validation_indices(
                len(dataset), _EARLY_STOPPING_FRACTION, self.seed_, y=y,
                groups=vars(self).get("_fit_groups"), stratify=self._stratify)
            return Subset(dataset, train), Subset(dataset, valid)
        if not split:
            return dataset, None
        return split(dataset, y, **fit_params) if y is not None else split(dataset, **fit_params)

    @property
    def _default_callbacks(self):
        callbacks = [
            (name, QuietPrintLog()) if name == "print_log" else (name, callback)
            for name, callback in super()._default_callbacks
        ]
        if self.early_stopping is not None:
            callbacks.append(("early_stopping", EarlyStopping(
                patience=self.early_stopping, load_best=True, sink=print_line,
            )))
        return callbacks

    def _get_params_callbacks(self, deep=True):
        # skorch lists each callback instance (built afresh per call for the default ones),
        # so that get_params() of two clones never compared equal; keep their parameters.
        params = super()._get_params_callbacks(deep=deep)
        return {key: value for key, value in params.items() if key.count("__") > 1}

    # ---- batches -------------------------------------------------------------------------
    def get_dataset(self, X, y=None):
        if is_dataset(X):
            return X
        X = self._validate_predict_X(X)
        if self.dataset is not SkorchDataset:
            return super().get_dataset(X, y)
        return ArrayDataset(X)

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
        batch_size = kwargs.get("batch_size", self.batch_size)
        X_t, y_t = base.tensors(indices)
        weights = base.weights(indices)
        if batch_size == -1:
            batch_size = max(1, len(X_t))
        seed = None
        if hasattr(self, "seed_"):
            seed = self.seed_ + len(self.history or ())
        return SliceLoader(X_t, y_t, batch_size, shuffle=kwargs.get("shuffle", training),
                           drop_last=kwargs.get("drop_last", False), seed=seed,
                           sample_weight=weights)

    def _autocast(self):
        dtype = getattr(self, "amp_dtype_", None)
        device = torch.device(self.device_)
        return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)

    def _set_training(self, training=True):
        # skorch switches every module's mode before every batch; switching (a walk over
        # all submodules) only when the mode changes saves that walk on most batches.
        modules = [getattr(self, name + "_") for name in self._modules + self._criteria]
        if any(isinstance(m, torch.nn.Module) and m.training != training for m in modules):
            super()._set_training(training)

    def infer(self, x, **fit_params):
        if isinstance(x, torch.Tensor):
            x = x.to(self.device_, non_blocking=True)
        else:
            x = to_tensor(x, device=self.device_)
        if getattr(self, "amp_dtype_", None) is None:
            if isinstance(x, Mapping):
                return self.module_(**self._merge_x_and_fit_params(x, fit_params))
            return self.module_(x, **fit_params)
        with self._autocast():
            if isinstance(x, Mapping):
                out = self.module_(**self._merge_x_and_fit_params(x, fit_params))
            else:
                out = self.module_(x, **fit_params)
        return _to_float32(out)

    def train_step_single(self, batch, **fit_params):
        with self._batch_weights(batch):
            return super().train_step_single(batch, **fit_params)

    def validation_step(self, batch, **fit_params):
        with self._batch_weights(batch):
            return super().validation_step(batch, **fit_params)

    @contextlib.contextmanager
    def _batch_weights(self, batch):
        # the weights of a WeightedBatch, for get_loss (whose signature is skorch's)
        vars(self)["_batch_weight"] = getattr(batch, "sample_weight", None)
        try:
            yield
        finally:
            vars(self).pop("_batch_weight", None)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.criterion_loss(y_pred, y_true, vars(self).get("_batch_weight"))

    def criterion_loss(self, y_pred, y_true, sample_weight=None):
        """The criterion on ``(y_pred, y_true)``, weighted by ``sample_weight`` when given
        (see :func:`~skmm.nets._weights.weighted_loss`); in training, ``get_loss`` passes
        the batch's weights."""
        if isinstance(y_true, torch.Tensor):
            y_true = y_true.to(self.device_, non_blocking=True)
        else:
            y_true = to_tensor(y_true, device=self.device_)
        if isinstance(self.criterion_, torch.nn.NLLLoss):
            y_pred = torch.log(y_pred + torch.finfo(y_pred.dtype).eps)
        if sample_weight is None:
            return self.criterion_(y_pred, y_true)
        return weighted_loss(self.criterion_, y_pred, y_true, sample_weight)

    # ---- prediction ----------------------------------------------------------------------
    def _validate_predict_X(self, X):
        self.check_is_fitted()
        return validate_X(self, X, reset=False)

    def _check_values(self, X):
        """Refuse NaN/inf in X (a hook: a module that masks missing blocks may relax it)."""
        check_finite(X, getattr(self, "feature_names_in_", None))

    def _forward_numpy(self, X):
        """The first output of the module on X, after the predict nonlinearity, as numpy."""
        nonlin = self._get_predict_nonlinearity()
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
        param = self.device
        target = getattr(self, "device_", None) or resolve_device(param)
        self.device_ = str(get_map_location(target))
        # skorch's load_params reads (and may rewrite) self.device; show it device_ and put
        # the parameter back afterwards.
        vars(self)["device"] = self.device_
        try:
            return super().load_params(*args, **kwargs)
        finally:
            vars(self)["device"] = param


def _to_float32(out):
    if isinstance(out, torch.Tensor):
        return out.float() if out.is_floating_point() else out
    if isinstance(out, tuple):
        return tuple(_to_float32(o) for o in out)
    return out
