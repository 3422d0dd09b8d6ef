"""sample_weight and class_weight of the fusion nets: the weighted loss, the rows' weights
through batches, held-out splits and balance schemes, metadata routing, and the errors."""

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

import sklearn  # noqa: E402
from sklearn.model_selection import GridSearchCV, GroupKFold  # noqa: E402
from sklearn.multioutput import MultiOutputRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402
from skorch.callbacks import Callback  # noqa: E402

import skmm.nets._fit as fitting  # noqa: E402
import skmm.nets._skorch as netbase  # noqa: E402
from skmm.exceptions import InvalidInputError  # noqa: E402
from skmm.nets import FusionNetClassifier, FusionNetRegressor  # noqa: E402
from skmm.nets._balance import head_losses  # noqa: E402
from skmm.nets._loss import weighted_loss  # noqa: E402
from skmm.nets._data import ArrayDataset  # noqa: E402

FAST = dict(hidden_sizes=(16,), lr=0.02, batch_size=32, random_state=0)
#: One batch of the whole data and no dropout: integer weights are then repeated rows.
WHOLE = dict(FAST, batch_size=-1, dropout=0.0)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# The weighted classifier under scikit-learn's checks; what fails, and why.
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "a batch's loss is the weighted mean of its rows' losses: with batches of 32 the "
        "repeated rows make more, and other, batches; even with the whole data as one batch "
        "and no dropout, float32 training makes weighted and repeated fits agree to about "
        "1e-7 (test_integer_weights_are_repeated_rows), not to the check's rtol of 1e-7"
    ),
    "check_sample_weight_equivalence_on_sparse_data": (
        "a batch's loss is the weighted mean of its rows' losses: with batches of 32 the "
        "repeated rows make more, and other, batches; even with the whole data as one batch "
        "and no dropout, float32 training makes weighted and repeated fits agree to about "
        "1e-7 (test_integer_weights_are_repeated_rows), not to the check's rtol of 1e-7"
    ),
}


@parametrize_with_checks(
    [FusionNetClassifier(class_weight="balanced", max_epochs=5, **FAST)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible_with_class_weight(estimator, check):
    check(estimator)


def blobs(n=120, n_features=4, seed=0):
    rng = np.random.RandomState(seed)
    y = np.arange(n) % 3
    centres = rng.normal(scale=2.0, size=(3, n_features))
    return centres[y] + rng.normal(size=(n, n_features)), y


def imbalanced(n=200, minority=0.1, seed=0):
    """Two overlapping classes, the second one ``minority`` of the rows."""
    rng = np.random.RandomState(seed)
    y = (rng.rand(n) < minority).astype(int)
    X = rng.normal(size=(n, 3)) + 1.2 * y[:, None]
    return X, y


# ---- the weighted loss --------------------------------------------------------------------
def test_weighted_loss_is_the_weighted_mean_of_the_rows_losses():
    rng = torch.Generator().manual_seed(0)
    logits, y = torch.randn(6, 3, generator=rng), torch.tensor([0, 1, 2, 0, 1, 2])
    w = torch.tensor([1.0, 2.0, 0.5, 0.0, 3.0, 1.0])
    criterion = torch.nn.CrossEntropyLoss()
    rows = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    expected = (rows * w).sum() / w.sum()
    torch.testing.assert_close(weighted_loss(criterion, logits, y, w), expected)
    assert criterion.reduction == "mean"  # put back
    torch.testing.assert_close(weighted_loss(criterion, logits, y, torch.ones(6)),
                               criterion(logits, y))
    total = torch.nn.CrossEntropyLoss(reduction="sum")
    torch.testing.assert_close(weighted_loss(total, logits, y, w), expected * 6)
    # several targets: a row's loss is their mean
    pred, target = torch.randn(6, 2, generator=rng), torch.randn(6, 2, generator=rng)
    per_row = ((pred - target) ** 2).mean(dim=1)
    torch.testing.assert_close(weighted_loss(torch.nn.MSELoss(), pred, target, w),
                               (per_row * w).sum() / w.sum())


def test_a_criterion_without_per_row_losses_is_refused():
    def criterion(pred, target):
        return ((pred - target) ** 2).mean()

    with pytest.raises(InvalidInputError, match="reduction"):
        weighted_loss(criterion, torch.zeros(3, 1), torch.zeros(3, 1), torch.ones(3))


# ---- what the weights mean ------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: FusionNetClassifier(max_epochs=15, **WHOLE),
    lambda: FusionNetRegressor(max_epochs=15, **WHOLE),
], ids=["classifier", "regressor"])
def test_integer_weights_are_repeated_rows(make):
    X, y = blobs(60)
    target = y if isinstance(make(), FusionNetClassifier) else X @ [1.0, -1.0, 0.5, 2.0]
    w = np.random.RandomState(1).randint(0, 4, len(X))
    weighted = make().fit(X, target, sample_weight=w)
    repeated = make().fit(np.repeat(X, w, axis=0), np.repeat(target, w, axis=0))
    out = "predict_proba" if hasattr(weighted, "classes_") else "predict"
    np.testing.assert_allclose(getattr(weighted, out)(X), getattr(repeated, out)(X),
                               rtol=1e-4, atol=1e-5)
    # with batches, the weights are repetitions on average: close, not equal
    batched = make().set_params(batch_size=16).fit(X, target, sample_weight=w)
    repeated = make().set_params(batch_size=16).fit(np.repeat(X, w, axis=0),
                                                    np.repeat(target, w, axis=0))
    if out == "predict_proba":
        assert np.mean(batched.predict(X) == repeated.predict(X)) > 0.9
    else:
        assert np.corrcoef(batched.predict(X), repeated.predict(X))[0, 1] > 0.95


def test_zero_weight_rows_have_no_effect():
    X, y = blobs()
    rng = np.random.RandomState(2)
    X_noise = rng.normal(scale=5.0, size=(50, X.shape[1]))
    X_all = np.vstack([X, X_noise])
    y_all = np.r_[y, rng.randint(0, 3, 50)]
    order = rng.permutation(len(X_all))  # the zero rows anywhere among the others
    w = np.r_[np.ones(len(X)), np.zeros(50)][order]
    with_zeros = FusionNetClassifier(max_epochs=5, **FAST).fit(
        X_all[order], y_all[order], sample_weight=w)
    assert np.array_equal(np.sort(order[w > 0]), np.arange(len(X)))  # the rows of weight 1
    without = FusionNetClassifier(max_epochs=5, **FAST).fit(  # ... in the order fit sees them
        X_all[order][w > 0], y_all[order][w > 0])
    np.testing.assert_array_equal(with_zeros.predict_proba(X), without.predict_proba(X))


def test_equal_weights_are_the_unweighted_fit_bit_for_bit():
    X, y = blobs()
    plain = FusionNetClassifier(max_epochs=4, **FAST).fit(X, y).predict_proba(X)
    for w in (np.ones(len(X)), np.full(len(X), 3.5), 2.0):
        weighted = FusionNetClassifier(max_epochs=4, **FAST).fit(X, y, sample_weight=w)
        np.testing.assert_array_equal(weighted.predict_proba(X), plain)
    balanced = FusionNetClassifier(class_weight="balanced", max_epochs=4, **FAST).fit(X, y)
    np.testing.assert_array_equal(balanced.class_weight_, np.ones(3))  # balanced classes
    np.testing.assert_array_equal(balanced.predict_proba(X), plain)


def test_weights_change_the_fit_and_the_input_is_left_alone():
    X, y = blobs()
    w = np.linspace(0.1, 2.0, len(X))
    copy = w.copy()
    plain = FusionNetClassifier(max_epochs=4, **FAST).fit(X, y).predict_proba(X)
    weighted = FusionNetClassifier(max_epochs=4, **FAST).fit(X, y, sample_weight=w)
    assert not np.array_equal(weighted.predict_proba(X), plain)
    np.testing.assert_array_equal(w, copy)


# ---- class_weight ---------------------------------------------------------------------------
def test_balanced_class_weight_shifts_predictions_toward_the_minority():
    X, y = imbalanced()
    params = dict(FAST, max_epochs=30)
    plain = FusionNetClassifier(**params).fit(X, y)
    balanced = FusionNetClassifier(class_weight="balanced", **params).fit(X, y)
    counts = np.bincount(y)
    np.testing.assert_allclose(balanced.class_weight_, len(y) / (2 * counts))
    recall = [np.mean(net.predict(X)[y == 1] == 1) for net in (plain, balanced)]
    assert recall[1] > recall[0] + 0.2, recall
    assert np.mean(balanced.predict(X) == 1) > np.mean(plain.predict(X) == 1)
    assert balanced.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean() + 0.1


def test_class_weight_is_sample_weight_by_class():
    X, y = imbalanced()
    labels = np.array(["common", "rare"])[y]
    by_class = FusionNetClassifier(class_weight={"rare": 4.0}, max_epochs=5, **FAST)
    by_class.fit(X, labels)
    np.testing.assert_array_equal(by_class.class_weight_, [1.0, 4.0])
    by_row = FusionNetClassifier(max_epochs=5, **FAST).fit(
        X, labels, sample_weight=np.where(y == 1, 4.0, 1.0))
    np.testing.assert_array_equal(by_class.predict_proba(X), by_row.predict_proba(X))
    # both multiply: balanced weights count the rows with their sample weights
    w = np.random.RandomState(0).randint(1, 3, len(y)).astype(float)
    both = FusionNetClassifier(class_weight="balanced", max_epochs=1, **FAST)
    both.fit(X, labels, sample_weight=w)
    weighted_counts = np.bincount(y, weights=w)
    np.testing.assert_allclose(both.class_weight_, w.sum() / (2 * weighted_counts))


def test_partial_fit_keeps_the_first_class_weights():
    X, y = imbalanced()
    net = FusionNetClassifier(class_weight="balanced", max_epochs=1, **FAST)
    net.partial_fit(X[:100], y[:100], classes=[0, 1])
    first = net.class_weight_.copy()
    net.partial_fit(X[100:], y[100:])
    np.testing.assert_array_equal(net.class_weight_, first)
    # a class that the first call does not show weighs 1 until a new fit
    rows = y == 0
    lone = FusionNetClassifier(class_weight="balanced", max_epochs=1, **FAST)
    lone.partial_fit(X[rows], y[rows], classes=[0, 1])
    np.testing.assert_array_equal(lone.class_weight_, [1.0, 1.0])


@pytest.mark.parametrize("class_weight, match", [
    ("balance", "class_weight"),
    ([1.0, 2.0], "class_weight"),
    ({0: 1.0, 7: 2.0}, r"labels \[7\].*classes"),
    ({0: -1.0}, r"class_weight\[0\] must be a finite number >= 0"),
    ({0: "heavy"}, "class_weight"),
])
def test_bad_class_weight_is_refused(class_weight, match):
    X, y = imbalanced(60)
    with pytest.raises(InvalidInputError, match=match):
        FusionNetClassifier(class_weight=class_weight, max_epochs=1, **FAST).fit(X, y)


# ---- bad weights ----------------------------------------------------------------------------
@pytest.mark.parametrize("weights, match", [
    (np.ones(5), r"shape \(5,\).*expected \(60,\)"),
    (np.ones((60, 2)), "1D"),
    (-np.ones(60), "Negative"),
    (np.zeros(60), "non-zero"),
    (np.r_[np.nan, np.ones(59)], "NaN"),
    ("heavy", "could not convert"),
])
def test_bad_sample_weight_is_refused_with_the_fix(weights, match):
    X, y = imbalanced(60)
    for net in (FusionNetClassifier(max_epochs=1, **FAST),
                FusionNetRegressor(max_epochs=1, **FAST)):
        with pytest.raises(InvalidInputError, match=match) as info:
            net.fit(X, y.astype(float) if isinstance(net, FusionNetRegressor) else y,
                    sample_weight=weights)
        assert "one weight per row of X" in str(info.value)
        assert not hasattr(net, "module_")


def test_weights_need_the_sliced_batches():
    X, y = blobs(60)
    w = np.linspace(1, 2, len(X))
    net = FusionNetClassifier(max_epochs=1, iterator_train__num_workers=0, **FAST)
    with pytest.raises(InvalidInputError, match="num_workers"):
        net.fit(X, y, sample_weight=w)
    net.fit(X, y)  # unweighted: the DataLoader is fine

    from skorch.dataset import Dataset

    class Rows(Dataset):
        pass

    with pytest.raises(InvalidInputError, match="custom dataset"):
        FusionNetClassifier(max_epochs=1, dataset=Rows, **FAST).fit(X, y, sample_weight=w)


# ---- the weights follow the rows ------------------------------------------------------------
class RecordBatches(Callback):
    """Records (X, sample_weight) of each batch (a weighted batch's X is the dict
    ``{"X": rows, "sample_weight": weights}``, as skorch documents for per-row data)."""

    def initialize(self):
        self.batches_ = {True: [], False: []}
        return self

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        X = batch[0]
        self.batches_[training].append((X["X"].numpy().copy(),
                                        X["sample_weight"].numpy().copy()))


def test_each_batch_and_the_early_stopping_split_carry_their_rows_weights():
    X, y = blobs(100)
    X = X.astype(np.float32)
    w = 1.0 + np.arange(len(X)) / 10.0  # a different weight per row
    recorder = RecordBatches()
    net = FusionNetClassifier(max_epochs=2, early_stopping=5, callbacks=[("rec", recorder)],
                              **FAST).fit(X, y, sample_weight=w)
    batches = dict(net.callbacks_)["rec"].batches_
    scale = w.mean()  # fit scales the weights to mean 1
    row_of = {row.tobytes(): i for i, row in enumerate(X)}
    seen = {True: set(), False: set()}
    for training, recorded in batches.items():
        for Xb, wb in recorded:
            rows = np.array([row_of[r.tobytes()] for r in Xb])
            np.testing.assert_allclose(wb, w[rows] / scale, rtol=1e-6)
            seen[training].update(rows.tolist())
    assert seen[True] and seen[False] and not seen[True] & seen[False]
    assert seen[True] | seen[False] == set(range(len(X)))


def test_the_validation_loss_is_weighted(monkeypatch):
    X, y = blobs(100)
    w = np.where(np.arange(100) % 2 == 0, 5.0, 1.0)
    net = FusionNetClassifier(max_epochs=2, early_stopping=5, **FAST).fit(X, y, sample_weight=w)
    _, valid = netbase.validation_indices(100, netbase._EARLY_STOPPING_FRACTION, net.seed_, y=y,
                                          stratify=True)
    logits = torch.as_tensor(np.log(net.predict_proba(X[valid].astype(np.float32))))
    rows = torch.nn.functional.nll_loss(logits, torch.as_tensor(y[valid]), reduction="none")
    weights = torch.as_tensor(w[valid], dtype=torch.float32)
    expected = float((rows * weights).sum() / weights.sum())
    assert net.history[-1, "valid_loss"] == pytest.approx(expected, rel=1e-4)


def shortcut_frame(n=160, seed=0):
    rng = np.random.RandomState(seed)
    y = np.arange(n) % 2
    image = rng.normal(size=(n, 4)) + y[:, None]
    audio = rng.normal(size=(n, 3)) - y[:, None]
    columns = [f"image__f{i}" for i in range(4)] + [f"audio__f{i}" for i in range(3)]
    return pd.DataFrame(np.hstack([image, audio]).astype(np.float32), columns=columns), y


@pytest.mark.parametrize("scheme", ["ume", "gblend", "ogm-ge"])
def test_balance_schemes_take_weights(scheme):
    X, y = shortcut_frame()
    groups = np.arange(len(y)) % 8
    w = np.where(np.arange(len(y)) % 3 == 0, 3.0, 1.0)
    params = dict(FAST, hidden_sizes="auto", max_epochs=3)
    net = FusionNetClassifier(balance=scheme, **params).fit(X, y, groups=groups,
                                                            sample_weight=w)
    proba = net.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.isfinite(proba).all()
    plain = FusionNetClassifier(balance=scheme, **params).fit(X, y, groups=groups)
    assert not np.array_equal(plain.predict_proba(X), proba)
    # zero weights leave the rows out, before the scheme's own split
    keep = np.arange(len(y)) % 4 != 0
    dropped = FusionNetClassifier(balance=scheme, **params).fit(
        X[keep], y[keep], groups=groups[keep], sample_weight=w[keep])
    zeroed = FusionNetClassifier(balance=scheme, **params).fit(
        X, y, groups=groups, sample_weight=np.where(keep, w, 0.0))
    np.testing.assert_array_equal(zeroed.predict_proba(X), dropped.predict_proba(X))


@pytest.mark.parametrize("scheme", ["ume", "gblend", "ogm-ge"])
def test_balance_schemes_with_early_stopping_groups_and_weights(scheme):
    # each training run of a scheme holds out whole groups of its own rows, with their weights
    X, y = shortcut_frame()
    groups = np.arange(len(y)) % 8
    w = np.where(np.arange(len(y)) % 3 == 0, 3.0, 1.0)
    net = FusionNetClassifier(balance=scheme, early_stopping=2,
                              **dict(FAST, hidden_sizes="auto", max_epochs=4))
    net.fit(X, y, groups=groups, sample_weight=w)
    assert "valid_loss" in net.history[-1]
    assert np.mean(net.predict(X) == y) > 0.8


def test_held_out_head_losses_are_weighted():
    X, y = shortcut_frame()
    params = dict(FAST, hidden_sizes="auto", max_epochs=2)
    net = FusionNetClassifier(balance="gblend", **params).fit(X, y)
    w = np.linspace(0.5, 3.0, len(y)).astype(np.float32)
    values = X.to_numpy()
    weighted = head_losses(net, ArrayDataset(values, y, sample_weight=w))
    plain = head_losses(net, ArrayDataset(values, y))
    logits = torch.as_tensor(np.log(net.predict_proba(X)))  # the fused head, in eval mode
    rows = torch.nn.functional.nll_loss(logits, torch.as_tensor(y), reduction="none").numpy()
    assert weighted[0] == pytest.approx(np.sum(rows * w) / np.sum(w), rel=1e-4)
    assert plain[0] == pytest.approx(rows.mean(), rel=1e-4)
    assert not np.allclose(weighted, plain)


def test_auxiliary_losses_are_weighted():
    X, y = shortcut_frame()
    w = np.where(np.arange(len(y)) % 3 == 0, 3.0, 1.0)
    params = dict(FAST, aux_weight=0.5, max_epochs=3)
    weighted = FusionNetClassifier(**params).fit(X, y, sample_weight=w).predict_proba(X)
    plain = FusionNetClassifier(**params).fit(X, y).predict_proba(X)
    assert np.isfinite(weighted).all() and not np.array_equal(weighted, plain)


# ---- metadata routing ------------------------------------------------------------------------
def test_weights_and_groups_are_routed_through_pipeline_and_grid_search(monkeypatch):
    seen = []
    original = fitting.check_sample_weight

    def spy(sample_weight, n_samples):
        seen.append(None if sample_weight is None else np.asarray(sample_weight).copy())
        return original(sample_weight, n_samples)

    monkeypatch.setattr(fitting, "check_sample_weight", spy)
    X, y = imbalanced(80)
    w = 1.0 + np.arange(80) % 4
    groups = np.arange(80) % 4
    with sklearn.config_context(enable_metadata_routing=True):
        net = (FusionNetClassifier(max_epochs=2, early_stopping=1, **FAST)
               .set_fit_request(sample_weight=True, groups=True)
               .set_score_request(sample_weight=True))
        scaler = StandardScaler().set_fit_request(sample_weight=False)
        search = GridSearchCV(make_pipeline(scaler, net),
                              {"fusionnetclassifier__lr": [0.01, 0.02]}, cv=GroupKFold(2))
        search.fit(X, y, sample_weight=w, groups=groups)
    assert len(seen) == 5  # 2 candidates x 2 folds, and the refit
    assert all(s is not None for s in seen)
    assert sorted(len(s) for s in seen) == [40, 40, 40, 40, 80]
    np.testing.assert_array_equal(seen[-1], w)
    with sklearn.config_context(enable_metadata_routing=True):
        # not requested: refused, rather than silently ignored
        pipe = make_pipeline(FusionNetClassifier(max_epochs=1, **FAST))
        with pytest.raises(Exception, match="sample_weight"):
            pipe.fit(X, y, sample_weight=w)


def test_partial_fit_with_sample_weight_and_its_routing():
    X, y = blobs()
    w = np.where(np.arange(len(y)) % 5 == 0, 0.0, 1.0 + np.arange(len(y)) % 3)
    net = FusionNetClassifier(max_epochs=2, **FAST)
    net.partial_fit(X[:60], y[:60], classes=[0, 1, 2], sample_weight=w[:60])
    net.partial_fit(X[60:], y[60:], sample_weight=w[60:])
    keep = w > 0
    other = FusionNetClassifier(max_epochs=2, **FAST)
    other.partial_fit(X[:60][keep[:60]], y[:60][keep[:60]], classes=[0, 1, 2],
                      sample_weight=w[:60][keep[:60]])
    other.partial_fit(X[60:][keep[60:]], y[60:][keep[60:]], sample_weight=w[60:][keep[60:]])
    np.testing.assert_array_equal(net.predict_proba(X), other.predict_proba(X))

    Y = np.column_stack([X @ [1.0, 0.0, -1.0, 0.5], X[:, 0]])
    with sklearn.config_context(enable_metadata_routing=True):
        reg = FusionNetRegressor(max_epochs=1, **FAST).set_partial_fit_request(
            sample_weight=True)
        multi = MultiOutputRegressor(reg)
        multi.partial_fit(X, Y, sample_weight=w)
    assert multi.predict(X).shape == Y.shape
    assert multi.estimators_[0].history is not None


def test_the_nets_declare_their_metadata():
    for cls in (FusionNetClassifier, FusionNetRegressor):
        with sklearn.config_context(enable_metadata_routing=True):
            net = cls().set_fit_request(sample_weight=True, groups=True)
            net.set_partial_fit_request(sample_weight=True, groups=True)
            routing = net.get_metadata_routing()
        # skorch >= 1.4 makes the net a metadata router; its own requests
        # are then in _self_request. Before, the net is a plain consumer.
        own = getattr(routing, "_self_request", routing)
        fit = own.fit.requests
        partial = own.partial_fit.requests
        assert fit["sample_weight"] is True and fit["groups"] is True
        assert partial["sample_weight"] is True and partial["groups"] is True
