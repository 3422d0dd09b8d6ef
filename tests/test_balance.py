"""Balanced multimodal training (``balance=``) and groups reaching the net's own split."""

import pickle

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline

import skmm.nets._balance as balance_module
import skmm.nets._skorch as netbase
from skmm import AudioLogMel, ImagePixels, InvalidInputError, make_modality_union
from skmm.datasets import make_multimodal_classification
from skmm.nets import FusionNetClassifier, FusionNetRegressor

FAST = dict(max_epochs=3, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def shortcut():
    """Image + audio features where audio names (speaker, class): a shortcut on seen groups."""
    data = make_multimodal_classification(n_samples=480, modalities=("image", "audio"),
                                          shortcut="audio", noise=1.5, signal=0.8,
                                          audio_duration=0.1, random_state=0)
    union = make_modality_union({"image": ImagePixels(size=(8, 8)),
                                 "audio": AudioLogMel(n_mels=32)})
    return union.fit_transform(data.data), data.target, data.groups


def grouped_accuracy(make, X, y, groups):
    scores = []
    for train, test in GroupKFold(4).split(X, y, groups):
        net = make().fit(X.iloc[train], y[train], groups=groups[train])
        scores.append(np.mean(net.predict(X.iloc[test]) == y[test]))
    return float(np.mean(scores))


@pytest.mark.slow
def test_a_balanced_net_beats_the_naive_one_when_one_modality_is_a_shortcut(shortcut):
    X, y, groups = shortcut
    naive = grouped_accuracy(lambda: FusionNetClassifier(balance=None, random_state=0),
                             X, y, groups)
    # the default, balance="auto", is "ume" when fit gets groups and X has several blocks
    default = grouped_accuracy(lambda: FusionNetClassifier(random_state=0), X, y, groups)
    # measured: 0.565 and 0.771 (4 held-out groups of 120 rows); chance is 0.25
    assert default > naive + 0.1 and default >= 0.75, (naive, default)


def test_balance_auto_is_ume_with_groups_and_several_blocks_else_none(shortcut):
    X, y, groups = shortcut
    grouped = FusionNetClassifier(**FAST).fit(X, y, groups=groups)
    assert grouped.balance == "auto" and grouped.balance_in_use_ == "ume"
    assert grouped.balance_weights_ is not None
    explicit = FusionNetClassifier(balance="ume", **FAST).fit(X, y, groups=groups)
    np.testing.assert_array_equal(grouped.predict_proba(X), explicit.predict_proba(X))
    plain = FusionNetClassifier(**FAST).fit(X, y)  # no groups: no balancing
    unbalanced = FusionNetClassifier(balance=None, **FAST).fit(X, y)
    assert plain.balance_in_use_ is None and plain.balance_weights_ is None
    np.testing.assert_array_equal(plain.predict_proba(X), unbalanced.predict_proba(X))
    one_block = X.filter(like="image__")  # one block of pixels: nothing to balance
    single = FusionNetClassifier(**FAST).fit(one_block, y, groups=groups)
    assert single.balance_in_use_ is None and single.module_.aux_heads is None


@pytest.mark.parametrize("scheme", ["ume", "gblend", "ogm-ge"])
def test_each_scheme_fits_predicts_clones_and_pickles(shortcut, scheme):
    X, y, groups = shortcut
    net = FusionNetClassifier(balance=scheme, **FAST).fit(X, y, groups=groups)
    proba = net.predict_proba(X)
    assert proba.shape == (len(X), 4) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    expected = {"ume": 2, "gblend": 3, "ogm-ge": None}[scheme]  # blocks / heads + fused
    weights = net.balance_weights_
    assert (weights is None) if expected is None else weights.shape == (expected,)
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(restored.predict_proba(X), proba)
    again = clone(net).fit(X, y, groups=groups)
    np.testing.assert_array_equal(again.predict_proba(X), proba)  # seeded: identical
    assert not hasattr(clone(net), "balance_weights_")


def test_ume_weights_lead_with_the_best_held_out_head(shortcut):
    X, y, groups = shortcut
    net = FusionNetClassifier(balance="ume", **FAST).fit(X, y, groups=groups)
    weights = net.balance_weights_
    assert weights.max() == 1.0 and ((weights >= 0) & (weights <= 1)).all()
    # the prediction is the weighted product of the per-branch heads
    module = net.module_
    assert module.combination is not None and module.combine_kind == "log_prob"


def test_gblend_weights_the_fused_and_unimodal_losses(shortcut):
    X, y, groups = shortcut
    n_heads, floor = 3, 0.05  # the fused head + one head per block (image, audio)
    net = FusionNetClassifier(balance="gblend", **FAST).fit(X, y, groups=groups)
    weights = np.asarray(net.balance_weights_)
    assert weights.shape == (n_heads,) and np.isfinite(weights).all()
    assert weights.sum() == pytest.approx(1.0)
    # floored at balance__floor, then normalised: no head is ever switched off
    assert (weights >= floor / (1 + n_heads * floor) - 1e-12).all(), weights
    np.testing.assert_array_equal(net.loss_weights_, weights)
    # a floor above (nearly) every estimate leaves (nearly) equal weights
    even = FusionNetClassifier(balance="gblend", balance__floor=0.99, **FAST).fit(
        X, y, groups=groups)
    np.testing.assert_allclose(even.balance_weights_, np.full(n_heads, 1 / n_heads), atol=5e-3)
    # the weights steer the training: the predictions differ from both other nets'
    proba = net.predict_proba(X)
    assert not np.allclose(proba, even.predict_proba(X), atol=1e-4)
    plain = FusionNetClassifier(**FAST).fit(X, y, groups=groups)
    assert not np.allclose(proba, plain.predict_proba(X), atol=1e-4)
    assert np.mean(net.predict(X) == y) > 0.4  # it learnt something (chance: 0.25)


def test_balance_hyperparameters_are_routed_and_tuned(shortcut):
    X, y, groups = shortcut
    net = FusionNetClassifier(balance="gblend", balance__probe_epochs=2, **FAST)
    assert net.get_params()["balance__probe_epochs"] == 2
    assert clone(net).get_params()["balance__probe_epochs"] == 2
    search = GridSearchCV(net, {"balance": ["ume", "gblend"], "balance__holdout": [0.25, 0.5]},
                          cv=GroupKFold(2)).fit(X, y, groups=groups)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_params_["balance"] in ("ume", "gblend")
    FusionNetClassifier(balance="ume", balance__alpha=1.0, **FAST).fit(X, y)  # ogm-ge's: ignored
    with pytest.raises(InvalidInputError, match="balance__alpah"):
        FusionNetClassifier(balance="ume", balance__alpah=1.0, **FAST).fit(X, y)
    with pytest.raises(InvalidInputError, match="balance__holdout"):
        FusionNetClassifier(balance="ume", balance__holdout=1.5, **FAST).fit(X, y)
    with pytest.raises(InvalidInputError, match="balance"):
        FusionNetClassifier(balance="best", **FAST).fit(X, y)


def test_ogm_ge_needs_concat_and_a_linear_head_and_a_classifier(shortcut):
    X, y, _ = shortcut
    with pytest.raises(InvalidInputError, match="fusion='concat' and a linear head"):
        FusionNetClassifier(balance="ogm-ge", fusion="gated", **FAST).fit(X, y)
    with pytest.raises(InvalidInputError, match="fusion='concat' and a linear head"):
        FusionNetClassifier(balance="ogm-ge", hidden_sizes=(8,), **FAST).fit(X, y)
    with pytest.raises(InvalidInputError, match="classifiers"):
        FusionNetRegressor(balance="ogm-ge", **FAST).fit(X, y.astype(float))


@pytest.mark.parametrize("scheme", ["ume", "gblend"])
def test_the_regressor_balances_too(shortcut, scheme):
    X, y, groups = shortcut
    target = y.astype(float)
    reg = FusionNetRegressor(balance=scheme, **FAST).fit(X, target, groups=groups)
    pred = reg.predict(X)
    assert pred.shape == (len(X),) and np.isfinite(pred).all()
    weights = np.asarray(reg.balance_weights_)
    if scheme == "ume":  # one weight per block, the best held-out head leads
        assert weights.shape == (2,) and weights.max() == 1.0
        assert reg.module_.combine_kind == "mean"
    else:  # the fused head and one per block, normalised
        assert weights.shape == (3,) and (weights > 0).all()
        assert weights.sum() == pytest.approx(1.0)
        np.testing.assert_array_equal(reg.loss_weights_, weights)
    assert np.corrcoef(pred, target)[0, 1] > 0.3  # it learnt something about the target


def test_the_net_holds_out_whole_groups_for_itself(shortcut, monkeypatch):
    X, y, groups = shortcut
    held_out = []
    original = balance_module.validation_indices

    def spy(*args, **kwargs):
        train, valid = original(*args, **kwargs)
        held_out.append((kwargs.get("groups"), train, valid))
        return train, valid

    monkeypatch.setattr(balance_module, "validation_indices", spy)
    FusionNetClassifier(balance="ume", **FAST).fit(X, y, groups=groups)
    (given, train, valid), = held_out
    assert set(groups[train]).isdisjoint(groups[valid]) and len(set(groups[valid])) == 1
    with pytest.raises(InvalidInputError, match="one label per row"):
        FusionNetClassifier(balance="ume", **FAST).fit(X, y, groups=groups[:-1])


def test_groups_reach_early_stopping_through_pipeline_and_grid_search(monkeypatch):
    seen = []
    original = netbase.validation_indices

    def spy(*args, **kwargs):
        seen.append(kwargs.get("groups"))
        return original(*args, **kwargs)

    monkeypatch.setattr(netbase, "validation_indices", spy)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y, groups = np.arange(60) % 2, (np.arange(60) // 2) % 4
    with sklearn.config_context(enable_metadata_routing=True):
        net = FusionNetClassifier(max_epochs=2, early_stopping=1, random_state=0)
        pipe = make_pipeline(net.set_fit_request(groups=True))
        GridSearchCV(pipe, {"fusionnetclassifier__lr": [1e-3]}, cv=GroupKFold(2)).fit(
            X, y, groups=groups)
    assert len(seen) == 3 and all(s is not None for s in seen)
    assert [sorted(set(s.tolist())) for s in seen][:2] in ([[0, 2], [1, 3]], [[1, 3], [0, 2]])


@pytest.mark.parametrize("scheme", ["ume", "gblend"])
def test_partial_fit_goes_on_with_the_schemes_loss_weights(shortcut, scheme):
    X, y, groups = shortcut
    net = FusionNetClassifier(balance=scheme, **FAST).fit(X, y, groups=groups)
    weights = np.array(net.loss_weights_)
    net.partial_fit(X, y)
    np.testing.assert_array_equal(net.loss_weights_, weights)
    assert len(net.history) == 2 * FAST["max_epochs"]
