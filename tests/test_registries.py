"""The registries of fusion operators and branches, and their hyperparameters on the nets.

The worked examples of ARCHITECTURE.md run here as they are written there.
"""

import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from skmm.exceptions import InvalidInputError  # noqa: E402
from skmm.nets import (  # noqa: E402
    BRANCHES,
    FUSIONS,
    FusionNetClassifier,
    FusionNetRegressor,
    register_branch,
    register_fusion,
)
from skmm.nets._operators import LowRankFusion  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUILT_IN = [(FUSIONS, ("concat", "sum", "gated", "tensor", "lowrank", "attention")),
            (BRANCHES, ("mlp", "cnn", "cnn1d", "lstm", "transformer", "embedding",
                        "tabular", "sparse"))]


@pytest.fixture(autouse=True)
def registries():
    """Unregister whatever a test registered: the registries are global."""
    before = [(registry, list(registry)) for registry, _ in BUILT_IN]
    yield
    for registry, names in before:
        for name in [n for n in registry if n not in names]:
            registry.unregister(name)
        assert list(registry) == names


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_built_in_entries_are_registered():
    for registry, names in BUILT_IN:
        assert tuple(registry) == names
    assert [BRANCHES.default(k)
            for k in ("pixels", "frames", "tokens", "features", "tabular", "sparse")] == [
        "mlp", "cnn1d", "transformer", "mlp", "tabular", "sparse"]


# ---------------------------------------------------------------------------------------------
# the worked examples of ARCHITECTURE.md
# ---------------------------------------------------------------------------------------------
def arch_example(*names):
    """Run the ```python blocks of ARCHITECTURE.md marked ``<!-- example: name -->``, in order."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    blocks = dict(re.findall(r"<!-- example: (\w+) -->\s*```python\n(.*?)```", text, flags=re.S))
    namespace = {"__name__": "arch_nets_example"}
    for name in names:
        exec(compile(blocks[name], f"ARCHITECTURE.md ({name})", "exec"), namespace)
    return namespace


def test_arch_example_operator_is_one_class_one_registration_and_grid_searched():
    ns = arch_example("data", "fusion")
    assert FUSIONS["scaled_max"] is ns["ScaledMaxFusion"]
    search = ns["fusion_search"]
    scores = search.cv_results_["mean_test_score"]
    assert search.best_params_ == {"fusion__scale": 1.0}
    assert scores[1] > 0.85 and scores[0] < 0.7, scores  # scale 0: a constant fused vector
    best = search.best_estimator_
    assert type(best.module_.fusion).__name__ == "ScaledMaxFusion"
    assert best.module_.fusion.scale == 1.0 and best.get_params()["fusion__scale"] == 1.0


def test_arch_example_branch_is_one_class_one_registration_and_grid_searched():
    ns = arch_example("data", "branch")
    assert BRANCHES["linear"] is ns["LinearBranch"] and BRANCHES.kinds_of("linear") == (
        "features",)
    search = ns["branch_search"]
    scores = search.cv_results_["mean_test_score"]
    assert search.best_params_ == {"branches__gain": 1.0}
    assert scores[1] > 0.85 and scores[0] < 0.7, scores
    branches = search.best_estimator_.module_.branches
    assert [type(b).__name__ for b in branches] == ["LinearBranch"] * 2
    assert all(b.gain == 1.0 for b in branches)


def test_arch_example_balance_scheme_is_one_class_one_registration():
    from sklearn.base import clone

    from skmm.nets import BALANCES

    try:
        ns = arch_example("data", "balance")
        assert BALANCES["warmup"] is ns["UnimodalWarmup"]
        warm = ns["warm"]
        assert type(warm.balance_).__name__ == "UnimodalWarmup" and warm.balance_.warmup == 3
        assert len(warm.history) == 3 + 20 and warm.loss_weights_ is None
        assert clone(warm).get_params()["balance__warmup"] == 3
        assert warm.score(ns["X"], ns["y"]) > 0.85
        with pytest.raises(InvalidInputError, match="balance__warmpu"):
            clone(warm).set_params(balance__warmpu=1).fit(ns["X"], ns["y"])
    finally:
        if "warmup" in BALANCES:
            BALANCES.unregister("warmup")


# ---------------------------------------------------------------------------------------------
# a class or an instance instead of a name
# ---------------------------------------------------------------------------------------------
class Scaled(torch.nn.Module):
    """Sum of the branch outputs times ``scale`` (a test operator, not registered)."""

    def __init__(self, n_modalities, width, scale=1.0):
        super().__init__()
        self.scale = scale
        self.out_features = width
        self.mix = torch.nn.Linear(width, width)

    def forward(self, h, present):
        return self.scale * self.mix(h.sum(dim=1))


class Gain(torch.nn.Module):
    """A linear branch times ``gain`` (a test branch, not registered)."""

    def __init__(self, n_in, width, gain=1.0):
        super().__init__()
        self.gain = gain
        self.linear = torch.nn.Linear(n_in, width)

    def forward(self, x):
        return self.gain * self.linear(x)


class Ranked(Scaled):
    """An operator with a ``rank`` of its own (a test operator, not registered)."""

    def __init__(self, n_modalities, width, rank=7):
        super().__init__(n_modalities, width)
        self.rank = rank


def two_blocks(n=40, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(rng.normal(size=(n, 5)).astype(np.float32) + y[:, None],
                     columns=["image__a", "image__b", "audio__a", "audio__b", "audio__c"])
    return X, y


FAST = {"branch_width": 8, "hidden_sizes": (8,), "max_epochs": 2, "random_state": 0}


def test_fusion_class_takes_routed_parameters_and_round_trips():
    X, y = two_blocks()
    net = FusionNetClassifier(fusion=Scaled, fusion__scale=0.5, **FAST)
    assert net.get_params()["fusion__scale"] == 0.5
    twin = clone(net)
    assert twin.get_params()["fusion"] is Scaled and twin.fusion__scale == 0.5
    net.fit(X, y)
    assert type(net.module_.fusion) is Scaled and net.module_.fusion.scale == 0.5
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(restored.predict_proba(X), net.predict_proba(X))
    np.testing.assert_array_equal(clone(net).fit(X, y).predict_proba(X), net.predict_proba(X))


def test_fusion_instance_is_copied_never_trained_and_round_trips():
    X, y = two_blocks()
    op = Scaled(2, 8, scale=3.0)
    before = op.mix.weight.detach().clone()
    net = FusionNetClassifier(fusion=op, **FAST).fit(X, y)
    assert net.fusion is op and net.module_.fusion is not op
    assert type(net.module_.fusion) is Scaled and net.module_.fusion.scale == 3.0
    torch.testing.assert_close(op.mix.weight, before)  # the parameter itself is untouched
    assert not torch.equal(net.module_.fusion.mix.weight.cpu(), before)  # its copy was trained
    twin = clone(net)
    assert twin.fusion is not op and twin.fusion.scale == 3.0 and not hasattr(twin, "module_")
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(restored.predict_proba(X), net.predict_proba(X))
    # skorch's convention: routed parameters rebuild an instance's class with them
    rebuilt = FusionNetClassifier(fusion=op, fusion__scale=0.25, **FAST).fit(X, y)
    assert rebuilt.module_.fusion.scale == 0.25 and op.scale == 3.0


def test_branch_class_and_instance_in_a_dict():
    X, y = two_blocks()
    image_branch = Gain(2, 8, gain=2.0)
    net = FusionNetRegressor(branches={"image": image_branch, "audio": Gain},
                             branches__gain=0.5, **FAST)
    net.fit(X, y.astype(float))
    image, audio = net.module_.branches
    assert (type(image), type(audio)) == (Gain, Gain)
    assert image is not image_branch and image.gain == 0.5 and audio.gain == 0.5
    assert clone(net).get_params()["branches__gain"] == 0.5
    plain = FusionNetRegressor(branches={"image": image_branch}, **FAST).fit(X, y.astype(float))
    assert plain.module_.branches[0].gain == 2.0  # the instance as it was, copied
    assert type(plain.module_.branches[1]).__name__ == "MLPBranch"  # its kind's default


def test_a_registered_branch_refuses_blocks_of_other_kinds():
    register_branch("gain", Gain, kinds=("features",))
    names = [f"image__c0_r{r}_c{c}" for r in range(2) for c in range(2)] + ["audio__a"]
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 5)).astype(np.float32),
                     columns=names)
    with pytest.raises(InvalidInputError, match=r"branch 'gain' needs a block of kind \('featu"):
        FusionNetClassifier(branches="gain", **FAST).fit(X, np.arange(20) % 2)
    net = FusionNetClassifier(branches={"image": "cnn", "audio": "gain"},
                              **FAST).fit(X, np.arange(20) % 2)
    assert [type(b).__name__ for b in net.module_.branches] == ["CNN2dBranch", "Gain"]


# ---------------------------------------------------------------------------------------------
# registering
# ---------------------------------------------------------------------------------------------
def test_registering_a_name_twice_is_an_error():
    with pytest.raises(ValueError, match=r"fusion named 'concat' is already registered "
                                         r"\(ConcatFusion\).*FUSIONS.unregister\('concat'\)"):
        register_fusion("concat", Scaled)
    register_fusion("scaled", Scaled)
    with pytest.raises(ValueError, match="'scaled' is already registered"):
        register_fusion("scaled")(Scaled)
    with pytest.raises(ValueError, match="branch named 'mlp' is already registered"):
        register_branch("mlp", Gain)
    assert FUSIONS["concat"].__name__ == "ConcatFusion" and FUSIONS["scaled"] is Scaled


@pytest.mark.parametrize("call, error, match", [
    (lambda: register_fusion("plain", object), TypeError, "torch.nn.Module subclass"),
    (lambda: register_fusion("", Scaled), ValueError, "non-empty str"),
    (lambda: register_fusion("bad", Scaled, rank=2), TypeError, r"does not take \['rank'\]"),
    (lambda: register_branch("g", Gain, kinds=("video",)), ValueError, "kinds among"),
    (lambda: register_branch("g", Gain, default_for=("pixels",)), ValueError, "already have"),
    (lambda: FUSIONS.unregister("nope"), ValueError, "no fusion named 'nope'"),
])
def test_bad_registrations_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_registered_operator_is_a_valid_fusion_value_until_unregistered():
    X, y = two_blocks()
    register_fusion("scaled", Scaled, scale=2.0)  # a default the name stands for
    net = FusionNetClassifier(fusion="scaled", **FAST).fit(X, y)
    assert net.module_.fusion.scale == 2.0
    assert '"scaled"' in FUSIONS.describe()
    FUSIONS.unregister("scaled")
    with pytest.raises(InvalidInputError, match="fusion must be one of"):
        clone(net).fit(X, y)


# ---------------------------------------------------------------------------------------------
# routed hyperparameters
# ---------------------------------------------------------------------------------------------
def test_routed_parameters_round_trip_through_set_params_and_clone():
    X, y = two_blocks()
    net = FusionNetClassifier(fusion="lowrank", **FAST).fit(X, y)
    assert net.module_.fusion.factors.shape[1] == 4  # fusion_rank's default
    net.set_params(fusion__rank=2, fusion_rank=4)  # on a fitted net: stored, used by fit
    assert net.get_params()["fusion__rank"] == 2
    assert net.module_.fusion.factors.shape[1] == 4
    assert net.fit(X, y).module_.fusion.factors.shape[1] == 2
    assert clone(net).fit(X, y).module_.fusion.factors.shape[1] == 2
    net.set_params(fusion_rank=3)  # the alias is a plain parameter, though it looks prefixed
    with pytest.raises(InvalidInputError, match="fusion_rank=3 and fusion__rank=2 both set"):
        net.fit(X, y)


def test_fusion_rank_is_an_alias_of_lowrank_rank():
    X, y = two_blocks()
    net = FusionNetClassifier(fusion=LowRankFusion, fusion_rank=3, **FAST).fit(X, y)
    assert isinstance(net.module_.fusion, LowRankFusion)
    assert net.module_.fusion.factors.shape[1] == 3
    other = FusionNetClassifier(fusion=Ranked, fusion_rank=3, **FAST).fit(X, y)
    assert other.module_.fusion.rank == 7  # an alias of lowrank's rank only
    routed = FusionNetClassifier(fusion=Ranked, fusion__rank=3, **FAST).fit(X, y)
    assert routed.module_.fusion.rank == 3
    with pytest.raises(InvalidInputError, match=r"LowRankFusion: rank must be a positive "
                                                r"integer, got 0.*fusion_rank"):
        FusionNetClassifier(fusion="lowrank", fusion__rank=0, **FAST).fit(X, y)


def test_one_grid_spans_operators_with_and_without_the_hyperparameter():
    X, y = two_blocks(60)
    net = FusionNetClassifier(**{**FAST, "max_epochs": 1})
    search = GridSearchCV(net, {"fusion": ["concat", "lowrank"], "fusion__rank": [1, 2]}, cv=2)
    search.fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    ranks = {(p["fusion"], p["fusion__rank"]) for p in search.cv_results_["params"]}
    assert ranks == {("concat", 1), ("concat", 2), ("lowrank", 1), ("lowrank", 2)}


@pytest.mark.parametrize("params, match", [
    ({"fusion": "lowrank", "fusion__rnak": 2},
     r"fusion__rnak is a parameter of no fusion.*LowRankFusion \(which takes \['rank'\]\)"),
    ({"fusion__width": 4}, "the net passes 'width'"),
    ({"branches__nope": 1}, "branches__nope is a parameter of no branch"),
    ({"branches": {"audio": "gru"}}, r"unknown branches \{'audio': 'gru'\}"),
    ({"fusion": Gain(2, 8)}, None),  # a module, but not an operator: refused when built
])
def test_bad_routed_parameters_are_refused_before_training(params, match):
    X, y = two_blocks()
    net = FusionNetClassifier(**{**FAST, **params})
    with pytest.raises((InvalidInputError, TypeError), match=match or "no int out_features"):
        net.fit(X, y)
    assert not hasattr(net, "module_")
