"""FusionNetClassifier / FusionNetRegressor: sklearn's checks, labels, devices, batching, errors."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from skmm.exceptions import InvalidInputError  # noqa: E402
from skmm.nets import MLP, FusionNetClassifier, FusionNetRegressor  # noqa: E402
from skmm.nets._data import SliceLoader  # noqa: E402

FAST = dict(hidden_sizes=(16,), lr=0.02, batch_size=32, random_state=0)

# The checks that fail, per net, each with its reason.
_WEIGHTS_ARE_NOT_REPEATS = (
    "float32 minibatch training: a batch's loss is the weighted mean of its rows' losses, so "
    "integer weights equal repeated rows only on average (the repeated rows make more, and "
    "other, batches), and even with the whole data as one batch and no dropout only to about "
    "1e-7, not to the check's rtol of 1e-7 (tests/test_net_weights.py tests it with a "
    "tolerance)"
)
EXPECTED_FAILED_CHECKS = {
    "FusionNetClassifier": {
        "check_sample_weight_equivalence_on_dense_data": _WEIGHTS_ARE_NOT_REPEATS,
        "check_sample_weight_equivalence_on_sparse_data": _WEIGHTS_ARE_NOT_REPEATS,
    },
    "FusionNetRegressor": {
        "check_sample_weight_equivalence_on_dense_data": _WEIGHTS_ARE_NOT_REPEATS,
        "check_sample_weight_equivalence_on_sparse_data": _WEIGHTS_ARE_NOT_REPEATS,
        "check_methods_subset_invariance": (
            "float32 forward pass: a row's output can change by one float32 ulp with the "
            "other rows of its batch (the BLAS kernel depends on the batch size); "
            "target_scaling maps it back to y's units, times the target's std, which here "
            "exceeds the check's atol of 1e-7 (1.8e-7). With target_scaling=False it passes"
        ),
    },
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@parametrize_with_checks(
    [FusionNetClassifier(max_epochs=5, **FAST), FusionNetRegressor(max_epochs=10, **FAST)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(type(est).__name__, {}),
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def blobs(n=120, n_features=4, seed=0):
    rng = np.random.RandomState(seed)
    y = np.arange(n) % 3
    centres = rng.normal(scale=4.0, size=(3, n_features))
    return centres[y] + rng.normal(size=(n, n_features)), y


def test_string_labels_round_trip_and_classes():
    X, y = blobs()
    labels = np.array(["cat", "dog", "owl"])[y]
    net = FusionNetClassifier(max_epochs=20, **FAST).fit(X, labels)
    np.testing.assert_array_equal(net.classes_, ["cat", "dog", "owl"])
    assert net.predict(X).dtype == labels.dtype
    assert (net.predict(X) == labels).mean() > 0.95
    proba = net.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_labels_that_are_not_0_to_k():
    X, y = blobs()
    labels = np.array([-5, 7, 100])[y]
    net = FusionNetClassifier(max_epochs=20, **FAST).fit(X, labels)
    assert set(net.predict(X)) <= {-5, 7, 100}
    assert (net.predict(X) == labels).mean() > 0.95


@pytest.mark.parametrize("names", [["cat", "dog", "owl"], [-5, 7, 100]])
def test_user_scoring_callbacks_see_labels_not_codes(names):
    from skorch.callbacks import BatchScoring, EpochScoring
    from skorch.dataset import ValidSplit
    from skorch.utils import to_numpy

    X, y = blobs()
    labels = np.array(names)[y]
    user = EpochScoring("accuracy", name="user_acc", lower_is_better=False)
    f1 = EpochScoring("f1_macro", name="user_f1", lower_is_better=False, on_train=True,
                      use_caching=False)
    batch = BatchScoring("accuracy", name="batch_acc", lower_is_better=False)
    net = FusionNetClassifier(max_epochs=5, train_split=ValidSplit(4, stratified=True),
                              callbacks=[user, f1, batch], **FAST).fit(X, labels)
    for epoch in net.history:
        assert epoch["user_acc"] == pytest.approx(epoch["valid_acc"])
    last = net.history[-1]
    assert last["user_acc"] > 0.9 and last["user_f1"] > 0.9 and last["batch_acc"] > 0.9
    assert user.target_extractor is to_numpy  # the instance passed in is left alone
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(restored.predict(X), net.predict(X))
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    with warnings.catch_warnings():  # scorers predict on the validated array, silently
        warnings.simplefilter("error")
        clone(net).set_params(max_epochs=2).fit(frame, labels)


def test_float64_float32_and_dataframe_give_the_same_fit():
    X, y = blobs()
    frame = pd.DataFrame(X.astype(np.float32), columns=[f"image__f{i}" for i in range(4)])
    p64 = FusionNetClassifier(max_epochs=3, **FAST).fit(X.astype(np.float32), y).predict_proba(X)
    p32 = FusionNetClassifier(max_epochs=3, **FAST).fit(X.astype(np.float32), y)
    net = FusionNetClassifier(max_epochs=3, **FAST).fit(frame, y)
    np.testing.assert_array_equal(p64, p32.predict_proba(X))
    np.testing.assert_array_equal(p64, net.predict_proba(frame))
    assert list(net.feature_names_in_) == list(frame.columns)


def test_cpu_fit_is_deterministic_and_leaves_global_rng_alone():
    X, y = blobs()
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = FusionNetClassifier(max_epochs=3, **FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(torch.rand(3), expected_next)
    b = FusionNetClassifier(max_epochs=3, **FAST).fit(X, y).predict_proba(X)
    c = FusionNetClassifier(max_epochs=3, **{**FAST, "random_state": 1}).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_device_auto_resolves_into_device_and_the_param_stays():
    X, y = blobs()
    net = FusionNetClassifier(max_epochs=1, **FAST)
    net.fit(X, y)
    assert net.device == "auto" and net.get_params()["device"] == "auto"
    assert net.device_ == "cpu"
    assert net.amp_dtype_ is None  # precision="auto" autocasts on CUDA only
    assert next(net.module_.parameters()).device.type == "cpu"
    assert clone(net).get_params()["device"] == "auto"


def test_no_internal_split_by_default_and_early_stopping_uses_one():
    X, y = blobs(200)
    net = FusionNetClassifier(max_epochs=3, **FAST).fit(X, y)
    assert "valid_loss" not in net.history[-1]
    assert sum(net.history[-1, "batches", i, "train_batch_size"]
               for i in range(len(net.history[-1, "batches"]))) == 200
    stopped = FusionNetClassifier(max_epochs=200, early_stopping=2, **FAST).fit(X, y)
    assert len(stopped.history) < 200
    assert "valid_loss" in stopped.history[-1] and "valid_acc" in stopped.history[-1]
    # the internal validation accuracy compares like with like for non-integer labels
    names = np.array(["a", "b", "c"])[y]
    stopped = FusionNetClassifier(max_epochs=30, early_stopping=5, **FAST).fit(X, names)
    assert max(stopped.history[:, "valid_acc"]) > 0.9


def test_batches_are_seeded_slices_of_whole_tensors():
    X, y = blobs(100)
    net = FusionNetClassifier(max_epochs=1, **FAST).fit(X, y)
    dataset = net.get_dataset(X.astype(np.float32))
    loader = net.get_iterator(dataset, training=True)
    assert isinstance(loader, SliceLoader)
    first = [xb for xb, _ in loader]
    second = [xb for xb, _ in loader]
    assert [len(b) for b in first] == [32, 32, 32, 4]
    assert not torch.equal(first[0], second[0])  # a new permutation each epoch
    np.testing.assert_array_equal(  # ... of the same rows
        np.sort(torch.cat(first).numpy(), axis=0), np.sort(torch.cat(second).numpy(), axis=0))
    again = [xb for xb, _ in net.get_iterator(dataset, training=True)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))  # seeded
    ordered = [xb for xb, _ in net.get_iterator(dataset, training=False)]
    assert torch.equal(torch.cat(ordered), dataset.X_t)


def test_other_dataloader_arguments_fall_back_to_a_dataloader():
    X, y = blobs()
    net = FusionNetClassifier(max_epochs=2, iterator_train__num_workers=0, **FAST).fit(X, y)
    loader = net.get_iterator(net.get_dataset(X.astype(np.float32)), training=True)
    assert isinstance(loader, torch.utils.data.DataLoader)
    assert net.predict(X).shape == (len(X),)


def test_a_custom_dataset_class_still_works():
    from skorch.dataset import Dataset

    class Rows(Dataset):
        pass

    X, y = blobs()
    net = FusionNetClassifier(max_epochs=10, dataset=Rows, **FAST).fit(X, y)
    assert (net.predict(X) == y).mean() > 0.9


class Linear(torch.nn.Module):
    def __init__(self, n_features, n_outputs, scale=1.0):
        super().__init__()
        self.scale = scale
        self.linear = torch.nn.Linear(n_features, n_outputs)

    def forward(self, X):
        return self.linear(X) * self.scale


def test_custom_module_gets_its_width_and_module_params():
    X, y = blobs()
    net = FusionNetClassifier(Linear, module__scale=2.0, max_epochs=5, **FAST).fit(X, y)
    assert isinstance(net.module_, Linear) and net.module_.scale == 2.0
    assert net.module_.linear.in_features == 4 and net.module_.linear.out_features == 3
    deep = FusionNetClassifier(max_epochs=2, module__hidden_sizes=(7, 5), **FAST).fit(X, y)
    widths = [m.out_features for m in deep.module_.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [7, 5, 3]


def test_skorch_parameters_pass_through():
    from skorch.callbacks import Callback

    class CountEpochs(Callback):
        def initialize(self):
            self.epochs_ = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.epochs_ += 1

    X, y = blobs()
    counter = CountEpochs()
    net = FusionNetClassifier(max_epochs=3, optimizer__weight_decay=0.5,
                              callbacks=[("count", counter)], **FAST).fit(X, y)
    assert net.optimizer_.param_groups[0]["weight_decay"] == 0.5
    assert dict(net.callbacks_)["count"].epochs_ == 3
    net.set_params(lr=0.5)  # a virtual parameter of the initialised optimizer
    assert net.optimizer_.param_groups[0]["lr"] == 0.5 and net.lr == 0.5


def test_build_module_is_the_one_place_to_override():
    class Custom(FusionNetClassifier):
        def _build_module(self, n_features, n_outputs, X=None):
            self.seen_ = (n_features, n_outputs, None if X is None else X.shape)
            return MLP(n_features, n_outputs, hidden_sizes=())

    X, y = blobs()
    net = Custom(max_epochs=1, **FAST).fit(X, y)
    assert net.seen_ == (4, 3, (120, 4))


@pytest.mark.parametrize("bad, expected", [
    (np.nan, "NaN"), (np.inf, "inf"),
])
def test_non_finite_X_is_refused_with_the_fix(bad, expected):
    X, y = blobs()
    X[5, 2] = bad
    net = FusionNetClassifier(max_epochs=1, **FAST)
    with pytest.raises(InvalidInputError, match=expected) as info:
        net.fit(X, y)
    message = str(info.value)
    assert "SimpleImputer" in message and "add_indicator=True" in message
    assert "[5]" in message and "[2]" in message
    assert not hasattr(net, "module_")  # refused before training


def test_predict_with_other_number_of_features():
    X, y = blobs()
    net = FusionNetClassifier(max_epochs=1, **FAST).fit(X, y)
    with pytest.raises(InvalidInputError, match="X has 3 features, but FusionNetClassifier is "
                                                "expecting 4 features.*same pipeline"):
        net.predict(X[:, :3])


def test_single_class_is_refused():
    X, _ = blobs()
    with pytest.raises(InvalidInputError, match="one class.*StratifiedKFold"):
        FusionNetClassifier(max_epochs=1, **FAST).fit(X, np.zeros(len(X)))


def test_non_numeric_columns_are_named():
    X, y = blobs(30)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["text"] = ["some words"] * 30
    with pytest.raises(InvalidInputError, match=r"\['text'\].*extractor") as info:
        FusionNetClassifier(max_epochs=1, **FAST).fit(frame, y)
    assert "ColumnTransformer" in str(info.value)
    array = frame.to_numpy(dtype=object)
    with pytest.raises(InvalidInputError, match=r"not numbers in columns \[4\]"):
        FusionNetClassifier(max_epochs=1, **FAST).fit(array, y)


@pytest.mark.parametrize("params, match", [
    ({"hidden_sizes": (0,)}, "hidden_sizes"),
    ({"dropout": 1.5}, "dropout"),
    ({"fusion": "nope"}, "fusion"),
    ({"early_stopping": 0}, "early_stopping"),
    ({"precision": "float8"}, "precision"),
    ({"device": "tpu"}, "device"),
])
def test_bad_parameters_are_refused_at_fit(params, match):
    X, y = blobs(30)
    net = FusionNetClassifier(max_epochs=1, **{**FAST, **params})
    with pytest.raises(InvalidInputError, match=match):
        net.fit(X, y)


def test_bfloat16_autocast_predicts_float32():
    X, y = blobs()
    net = FusionNetClassifier(max_epochs=10, precision="bfloat16", **FAST).fit(X, y)
    assert net.amp_dtype_ == torch.bfloat16
    proba = net.predict_proba(X)
    assert proba.dtype == np.float32
    assert (net.predict(X) == y).mean() > 0.9


def test_regressor_targets_and_shapes():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    reg = FusionNetRegressor(max_epochs=60, **FAST).fit(X, y)
    assert reg.predict(X).shape == (200,) and reg.predict(X).dtype == np.float64
    assert reg.score(X, y) > 0.9
    Y = np.column_stack([y, -y])
    multi = FusionNetRegressor(max_epochs=2, **FAST).fit(X, Y)
    assert multi.predict(X).shape == (200, 2)
    assert not hasattr(reg, "predict_proba")


def test_partial_fit_continues_training():
    X, y = blobs()
    net = FusionNetClassifier(max_epochs=1, **FAST)
    net.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    net.partial_fit(X[60:], y[60:])
    assert len(net.history) == 2 and list(net.classes_) == [0, 1, 2]


def _pretend_cuda(storage):
    return "cuda:0"


def test_a_net_trained_on_cuda_loads_on_a_cpu_only_machine(tmp_path, monkeypatch):
    X, y = blobs()
    net = FusionNetClassifier(max_epochs=3, **FAST).fit(X, y)
    expected = net.predict_proba(X)
    net.device_ = "cuda"  # what fit records on a GPU machine
    with monkeypatch.context() as patch:
        # the saved tensors claim to live on CUDA, as they would after a GPU fit
        patch.setattr(torch.serialization, "location_tag", _pretend_cuda)
        path = tmp_path / "net.pkl"
        path.write_bytes(pickle.dumps(net))
        params = tmp_path / "params.pt"
        net.save_params(f_params=str(params))
    # the file really says CUDA (torch 2.1 wraps the RuntimeError in an UnpicklingError)
    with pytest.raises((RuntimeError, pickle.UnpicklingError), match="CUDA"):
        torch.load(str(params), weights_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skorch warns that it falls back to the CPU
        restored = pickle.loads(path.read_bytes())
    assert restored.device == "auto" and restored.device_ == "cpu"
    assert next(restored.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(restored.predict_proba(X), expected)

    other = FusionNetClassifier(max_epochs=1, **{**FAST, "random_state": 5}).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other.load_params(f_params=str(params))
    assert other.device == "auto" and other.device_ == "cpu"
    np.testing.assert_array_equal(other.predict_proba(X), expected)


def test_pickle_of_an_unfitted_net_and_repr():
    net = FusionNetClassifier(**FAST)
    restored = pickle.loads(pickle.dumps(net))
    assert restored.get_params(deep=False).keys() == net.get_params(deep=False).keys()
    assert "FusionNetClassifier" in repr(net)


def test_a_fitted_net_pickles_after_a_library_replaced_print(monkeypatch):
    """Ray's shutdown replaces builtins.print; skorch's callbacks default to the old one,
    which then no longer pickles by reference."""
    import builtins

    X = np.random.RandomState(0).normal(size=(40, 4)).astype(np.float32)
    y = np.arange(40) % 2
    original = builtins.print
    monkeypatch.setattr(builtins, "print", lambda *a, **k: original(*a, **k))
    net = FusionNetClassifier(max_epochs=2, early_stopping=1, random_state=0).fit(X, y)
    again = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(again.predict_proba(X), net.predict_proba(X))


def test_only_public_skorch_hooks_are_overridden():
    """The nets build on skorch's public extension points: no method of skmm's classes
    replaces a private (``_name``) attribute of skorch's."""
    import skorch

    skorch_classes = [skorch.NeuralNet, skorch.NeuralNetClassifier, skorch.NeuralNetRegressor]
    for cls in (FusionNetClassifier, FusionNetRegressor):
        ours = [c for c in cls.__mro__ if c.__module__.startswith("skmm")]
        overridden = {name for c in ours for name in vars(c)
                      if any(name in vars(s) for s in skorch_classes)}
        private = sorted(n for n in overridden if n.startswith("_") and not n.endswith("__"))
        assert not private, f"{cls.__name__} overrides skorch's private {private}"
        assert {"get_loss", "get_iterator", "infer", "initialize_module"} <= overridden


def test_the_loss_is_computed_in_one_module():
    """Only nets/_loss.py calls the criterion: the loss has one place (see ARCHITECTURE.md)."""
    import pathlib
    import re

    import skmm.nets

    call = re.compile(r"(?<!\w)(?:self\.|net\.)?criterion_?\(")  # criterion(...), net.criterion_(...)
    callers = sorted(p.name for p in pathlib.Path(skmm.nets.__file__).parent.glob("*.py")
                     if call.search(p.read_text()))
    assert callers == ["_loss.py"]
