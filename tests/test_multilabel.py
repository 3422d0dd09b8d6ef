"""Multi-label FusionNetClassifier: a 2-D 0/1 indicator y, one sigmoid per label."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from scipy import sparse  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import DataConversionWarning  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from skmm.exceptions import InvalidInputError  # noqa: E402
from skmm.nets import FusionNetClassifier  # noqa: E402

FAST = dict(hidden_sizes=(16,), lr=0.02, batch_size=32, random_state=0)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# A multi-label configuration under scikit-learn's checks (its multi-label checks fit it on
# indicator matrices): the layer-level module with balance="ume", whose held-out
# combination of the per-branch heads is the multi-label one. What fails, and why:
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "float32 minibatch training: integer weights equal repeated rows on average, not to "
        "the check's rtol of 1e-7 (see tests/test_net_weights.py)"
    ),
    "check_sample_weight_equivalence_on_sparse_data": (
        "float32 minibatch training: integer weights equal repeated rows on average, not to "
        "the check's rtol of 1e-7 (see tests/test_net_weights.py)"
    ),
}


@parametrize_with_checks(
    [FusionNetClassifier(balance="ume", max_epochs=5, **FAST)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible_multilabel(estimator, check):
    check(estimator)


def three_labels(n=300, seed=0):
    """X (n, 5) and a 3-label indicator Y, each label a linear rule of X."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 5))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0.5, X[:, 3] - X[:, 4] < 0])
    return X, Y.astype(int)


def two_blocks(n=240, seed=0):
    """An image and an audio block; label 0 is read from the image, 1 from the audio, 2 from
    both."""
    rng = np.random.RandomState(seed)
    image, audio = rng.normal(size=(n, 4)), rng.normal(size=(n, 3))
    Y = np.column_stack([image[:, 0] > 0, audio[:, 0] > 0, image[:, 1] + audio[:, 1] > 0])
    columns = [f"image__f{i}" for i in range(4)] + [f"audio__f{i}" for i in range(3)]
    X = pd.DataFrame(np.hstack([image, audio]).astype(np.float32), columns=columns)
    return X, Y.astype(int)


def test_shapes_types_classes_and_score():
    X, Y = three_labels(120)
    net = FusionNetClassifier(max_epochs=3, **FAST).fit(X, Y)
    assert net.multilabel_ and net.n_outputs_ == 3
    np.testing.assert_array_equal(net.classes_, np.arange(3))
    assert isinstance(net.criterion_, torch.nn.BCEWithLogitsLoss)
    proba = net.predict_proba(X)
    assert proba.shape == (len(X), 3) and proba.dtype == np.float32
    assert ((proba > 0) & (proba < 1)).all()
    assert not np.allclose(proba.sum(axis=1), 1.0)  # independent labels, not a softmax
    pred = net.predict(X)
    assert pred.shape == (len(X), 3) and pred.dtype == net.classes_.dtype
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))
    assert net.score(X, Y) == accuracy_score(Y, pred)  # subset accuracy
    assert net.__sklearn_tags__().classifier_tags.multi_label
    assert not FusionNetClassifier(class_weight="balanced").__sklearn_tags__() \
        .classifier_tags.multi_label


def test_it_learns_a_three_label_problem():
    X, Y = three_labels()
    X_test, Y_test = three_labels(seed=1)
    net = FusionNetClassifier(max_epochs=40, **FAST).fit(X, Y)
    pred = net.predict(X_test)
    per_label = (pred == Y_test).mean(axis=0)
    assert (per_label > 0.9).all(), per_label  # chance is about 0.5 per label
    assert net.score(X_test, Y_test) > 0.75  # all three right; chance is about 1/8


def test_indicator_representations_give_the_same_fit():
    X, Y = three_labels(90)
    expected = FusionNetClassifier(max_epochs=2, **FAST).fit(X, Y).predict_proba(X)
    for other in (Y.tolist(), Y.astype(bool), Y.astype(np.float64), sparse.csr_matrix(Y),
                  pd.DataFrame(Y, columns=["a", "b", "c"])):
        proba = FusionNetClassifier(max_epochs=2, **FAST).fit(X, other).predict_proba(X)
        np.testing.assert_array_equal(proba, expected)


def test_a_column_vector_is_one_label_per_row():
    X, Y = three_labels(90)
    with pytest.warns(DataConversionWarning):
        net = FusionNetClassifier(max_epochs=1, **FAST).fit(X, Y[:, :1])
    assert not net.multilabel_ and net.predict(X).shape == (len(X),)


def test_pickle_clone_and_partial_fit():
    X, Y = three_labels(120)
    net = FusionNetClassifier(max_epochs=3, **FAST).fit(X, Y)
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(restored.predict_proba(X), net.predict_proba(X))
    assert restored.multilabel_ and isinstance(restored.criterion_, torch.nn.BCEWithLogitsLoss)
    fresh = clone(net)
    assert not hasattr(fresh, "multilabel_")
    np.testing.assert_array_equal(fresh.fit(X, Y).predict_proba(X), net.predict_proba(X))
    net.partial_fit(X, Y)
    assert len(net.history) == 6
    stream = FusionNetClassifier(max_epochs=1, **FAST)
    stream.partial_fit(X[:60], Y[:60])
    stream.partial_fit(X[60:], Y[60:])
    assert stream.predict(X).shape == Y.shape


@pytest.mark.parametrize("fit, match", [
    (lambda net, X, Y: net.fit(X, Y + (X[:, :3] > 1)), "multiclass-multioutput"),
    (lambda net, X, Y: net.fit(X, 2 * Y), r"values \[0 2\].*0/1 matrix"),
    (lambda net, X, Y: net.set_params(classes=[1, 2, 3]).fit(X, Y), r"columns, 0 \.\. 2"),
    (lambda net, X, Y: net.set_params(class_weight="balanced").fit(X, Y),
     "criterion__pos_weight"),
    (lambda net, X, Y: net.set_params(balance="ogm-ge", hidden_sizes="auto").fit(X, Y),
     "single-label"),
    (lambda net, X, Y: net.fit(X, Y).partial_fit(X, Y[:, 0]), "multi-label"),
    (lambda net, X, Y: net.fit(X, Y).partial_fit(X, Y[:, :2]), "2 label columns.*3"),
    (lambda net, X, Y: net.fit(X, Y[:, 0]).partial_fit(X, Y), "1-D labels"),
])
def test_what_is_refused_says_why(fit, match):
    X, Y = three_labels(60)
    with pytest.raises(InvalidInputError, match=match):
        fit(FusionNetClassifier(max_epochs=1, **FAST), X, Y)


def test_criteria():
    X, Y = three_labels(120)
    # a softmax loss, given or the default, becomes BCEWithLogitsLoss with its parameters
    pos_weight = torch.tensor([1.0, 2.0, 3.0])
    net = FusionNetClassifier(criterion=torch.nn.CrossEntropyLoss, max_epochs=1,
                              criterion__pos_weight=pos_weight, **FAST).fit(X, Y)
    assert isinstance(net.criterion_, torch.nn.BCEWithLogitsLoss)
    torch.testing.assert_close(net.criterion_.pos_weight, pos_weight)
    weighted = FusionNetClassifier(criterion=torch.nn.BCEWithLogitsLoss, max_epochs=3,
                                   criterion__pos_weight=pos_weight, **FAST).fit(X, Y)
    plain = FusionNetClassifier(max_epochs=3, **FAST).fit(X, Y)
    # weighing the positives up raises their probabilities
    assert weighted.predict_proba(X)[:, 2].mean() > plain.predict_proba(X)[:, 2].mean()
    # any other criterion is used as given, on the logits
    other = FusionNetClassifier(criterion=torch.nn.MultiLabelSoftMarginLoss, max_epochs=3,
                                **FAST).fit(X, Y)
    assert isinstance(other.criterion_, torch.nn.MultiLabelSoftMarginLoss)
    assert ((other.predict_proba(X) >= 0) & (other.predict_proba(X) <= 1)).all()


def test_sample_weight_and_early_stopping():
    X, Y = three_labels(200)
    w = np.where(np.arange(len(X)) % 4 == 0, 0.0, 1.0 + np.arange(len(X)) % 3)
    keep = w > 0
    zeroed = FusionNetClassifier(max_epochs=3, **FAST).fit(X, Y, sample_weight=w)
    dropped = FusionNetClassifier(max_epochs=3, **FAST).fit(
        X[keep], Y[keep], sample_weight=w[keep])
    np.testing.assert_array_equal(zeroed.predict_proba(X), dropped.predict_proba(X))
    stopped = FusionNetClassifier(max_epochs=30, early_stopping=3, **FAST).fit(X, Y)
    accuracies = stopped.history[:, "valid_acc"]  # subset accuracy on the held-out rows
    assert all(0.0 <= a <= 1.0 for a in accuracies) and max(accuracies) > 0.5


@pytest.mark.parametrize("scheme", ["ume", "gblend"])
def test_layer_fusion_with_balance_learns_each_label(scheme):
    X, Y = two_blocks()
    X_test, Y_test = two_blocks(seed=1)
    groups = np.arange(len(X)) % 6
    w = 1.0 + (np.arange(len(X)) % 2)
    net = FusionNetClassifier(balance=scheme, max_epochs=25, **dict(FAST, hidden_sizes="auto"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning on the way
        net.fit(X, Y, groups=groups, sample_weight=w)
    assert [b.name for b in net.layout_] == ["image", "audio"]
    proba = net.predict_proba(X_test)
    assert proba.shape == (len(X_test), 3) and np.isfinite(proba).all()
    if scheme == "ume":
        assert net.module_.combine_kind == "mean"  # a weighted mean of the heads' logits
        assert net.balance_weights_.shape == (2,) and net.balance_weights_.max() == 1.0
    else:
        assert net.balance_weights_.shape == (3,)
    per_label = (net.predict(X_test) == Y_test).mean(axis=0)
    # the unimodal labels are learnt either way; the cross-modal one only by the fused head
    assert (per_label[:2] > 0.8).all(), per_label
    assert (per_label > 0.6).all(), per_label


def test_auxiliary_heads_with_several_labels():
    X, Y = two_blocks()
    net = FusionNetClassifier(aux_weight=0.5, max_epochs=20, **FAST).fit(X, Y)
    assert (net.predict(X) == Y).mean() > 0.8
