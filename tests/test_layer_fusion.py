"""Layer-level fusion: block layouts, branches, fusion operators and the multimodal module."""

import pickle

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from skmm import AudioLogMel, ImagePixels, make_modality_union  # noqa: E402
from skmm.datasets import make_multimodal_classification  # noqa: E402

from skmm.exceptions import InvalidInputError  # noqa: E402
from skmm.nets._branches import BRANCHES, TokenBranch, make_branch, resolve_branches  # noqa: E402
from skmm.nets._layout import Block, infer_layout  # noqa: E402
from skmm.nets._loss import auxiliary_loss  # noqa: E402
from skmm.nets._module import (  # noqa: E402
    MultimodalModule,
    build_multimodal_module,
    drop_modalities,
)
from skmm.nets import FusionNetClassifier, FusionNetRegressor  # noqa: E402
from skmm.nets._operators import (  # noqa: E402
    FUSIONS,
    AttentionFusion,
    GatedFusion,
    LowRankFusion,
    TensorFusion,
    make_fusion,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def pixel_names(prefix, c, h, w):
    return [
        f"{prefix}__c{k}_r{i:02d}_c{j:02d}" for k in range(c) for i in range(h) for j in range(w)
    ]


def frame_names(prefix, n_mels, n_frames):
    return [f"{prefix}__mel{m:02d}_t{t:03d}" for m in range(n_mels) for t in range(n_frames)]


def token_names(prefix, n):
    return [f"{prefix}__tok{i:03d}" for i in range(n)]


# image 1x8x8, audio frames 6x10 + present, text 7 tokens + present, 3 extra features
NAMES = (
    pixel_names("image", 1, 8, 8) + frame_names("audio", 6, 10) + ["audio__present"]
    + token_names("text", 7) + ["text__present"] + ["meta__a", "meta__b", "meta__c"]
)
BLOCK_OF_BRANCH = {"mlp": "meta", "cnn": "image", "cnn1d": "audio", "lstm": "audio",
                   "transformer": "text", "embedding": "text", "tabular": "shop"}


def make_frame(n=12, seed=0):
    """A DataFrame with the NAMES layout; tokens are ids 2..19 with trailing padding."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(NAMES))).astype(np.float32)
    frame = pd.DataFrame(X, columns=NAMES)
    tok = token_names("text", 7)
    ids = rng.integers(2, 20, size=(n, 7))
    ids[:, 5:] = 0
    frame[tok] = ids.astype(np.float32)
    frame["audio__present"] = 1.0
    frame["text__present"] = 1.0
    return frame


def block_columns(frame, name):
    return [c for c in frame.columns if c.startswith(name + "__") and not c.endswith("present")]


# ---------------------------------------------------------------------------------------------
# layout
# ---------------------------------------------------------------------------------------------
def test_layout_from_column_names():
    layout = infer_layout(NAMES)
    assert [b.name for b in layout] == ["image", "audio", "text", "meta"]
    image, audio, text, meta = layout
    assert (image.kind, image.shape, image.mask) == ("pixels", (1, 8, 8), None)
    assert image.columns == tuple(range(64))
    assert (audio.kind, audio.shape, audio.mask) == ("frames", (6, 10), 124)
    assert (text.kind, text.shape, text.mask) == ("tokens", (7,), 132)
    assert text.columns == tuple(range(125, 132))
    assert (meta.kind, meta.shape, meta.columns) == ("features", (3,), (133, 134, 135))


def test_layout_reorders_columns_into_the_grid():
    names = ["a__mel1_t0", "a__mel0_t1", "a__mel0_t0", "a__mel1_t1", "a__present"]
    (block,) = infer_layout(names)
    assert block.kind == "frames" and block.shape == (2, 2) and block.mask == 4
    assert [names[i] for i in block.columns] == [
        "a__mel0_t0", "a__mel0_t1", "a__mel1_t0", "a__mel1_t1"
    ]


def test_delta_frames_stack_orders_as_channels():
    names = [f"a__mfcc{b}{d}_t{t}" for d in ("", "_d1") for b in range(3) for t in range(4)]
    (block,) = infer_layout(names[::-1])
    assert block.kind == "frames" and block.shape == (6, 4)
    assert [names[::-1][i] for i in block.columns] == names


def test_incomplete_grid_is_a_plain_feature_block():
    (block,) = infer_layout(pixel_names("image", 1, 2, 2)[:3])
    assert block.kind == "features" and block.shape == (3,)


def test_plain_array_and_unprefixed_columns_are_one_block():
    assert infer_layout(n_features=4) == (Block("x", (0, 1, 2, 3), "features", (4,), None),)
    layout = infer_layout(["f0", "image__a", "f1"])
    assert [(b.name, b.columns) for b in layout] == [("x", (0, 2)), ("image", (1,))]


def test_explicit_modalities_by_slice_positions_mask_and_names():
    layout = infer_layout(
        n_features=10, modalities={"a": slice(0, 4), "b": [6, 7], "c": np.arange(10) >= 8}
    )
    assert [(b.name, b.columns) for b in layout] == [
        ("a", (0, 1, 2, 3)), ("b", (6, 7)), ("c", (8, 9))
    ]
    names = ["u", "v", "w__present", "z"]
    (block,) = infer_layout(names, modalities={"w": ["u", "w__present", "z"]})
    assert block.columns == (0, 3) and block.mask == 2


def test_explicit_shapes_give_the_layout():
    layout = infer_layout(n_features=18, modalities={"img": slice(0, 12), "snd": slice(12, 18)},
                          shapes={"img": (3, 2, 2), "snd": (2, 3)})
    assert [(b.kind, b.shape) for b in layout] == [("pixels", (3, 2, 2)), ("frames", (2, 3))]


@pytest.mark.parametrize("kwargs, match", [
    ({"n_features": 4, "modalities": {"a": [0, 1], "b": [1, 2]}}, "twice"),
    ({"n_features": 4, "modalities": {"a": ["x"]}}, "no column names"),
    ({"n_features": 4, "modalities": {"a": [7]}}, "4 columns"),
    ({"n_features": 4, "shapes": {"x": (3, 2)}}, "does not fit"),
    ({"n_features": 4, "shapes": {"image": (2, 2)}}, "not blocks"),
    ({"feature_names": ["a__present"]}, "no feature columns"),
    ({"feature_names": ["a__f", "a__present", "a__b__present"]}, "presence columns"),
    ({"n_features": 4, "modalities": {}}, "non-empty dict"),
])
def test_layout_errors(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        infer_layout(**kwargs)


def test_branches_resolved_by_kind_or_given():
    layout = infer_layout(NAMES)
    assert resolve_branches(layout) == ["mlp", "cnn1d", "transformer", "mlp"]
    assert resolve_branches(layout, {"audio": "lstm"}) == ["mlp", "lstm", "transformer", "mlp"]
    with pytest.raises(InvalidInputError, match="not blocks"):
        resolve_branches(layout, {"video": "cnn"})
    with pytest.raises(InvalidInputError, match="unknown branches"):
        resolve_branches(layout, {"audio": "gru"})
    with pytest.raises(InvalidInputError, match="needs a block of kind"):
        MultimodalModule(layout, 2, branches=["mlp", "mlp", "mlp", "cnn"])


# ---------------------------------------------------------------------------------------------
# branches
# ---------------------------------------------------------------------------------------------
# the branches of dense blocks (a sparse block's branch reads bags: tests/test_net_sparse.py)
DENSE_BRANCHES = [name for name in BRANCHES if "sparse" not in BRANCHES.kinds_of(name)]


@pytest.mark.parametrize("name", DENSE_BRANCHES)
def test_branch_shape(name):
    kind, shape, x = {
        "mlp": ("features", (5,), torch.randn(4, 5)),
        "cnn": ("pixels", (3, 8, 6), torch.randn(4, 144)),
        "cnn1d": ("frames", (6, 10), torch.randn(4, 60)),
        "lstm": ("frames", (6, 10), torch.randn(4, 60)),
        "transformer": ("tokens", (7,), torch.randint(0, 9, (4, 7)).float()),
        "embedding": ("tokens", (7,), torch.randint(0, 9, (4, 7)).float()),
        "tabular": ("tabular", (2, 3), torch.cat([torch.randn(4, 2),
                                                  torch.randint(0, 9, (4, 3)).float()], 1)),
    }[name]
    branch = make_branch(name, kind, shape, width=12, vocab_size=9).eval()
    out = branch(x)
    assert out.shape == (4, 12) and torch.isfinite(out).all()


@pytest.mark.parametrize("encoder", ["transformer", "mean"])
def test_token_branch_padding_unknown_ids_and_empty_rows(encoder):
    torch.manual_seed(0)
    branch = TokenBranch(6, vocab_size=10, width=8, encoder=encoder).eval()
    ids = torch.tensor([[3.0, 4, 0, 0, 0, 0], [3, 4, 0, 0, 0, 0], [3, 25, 0, 0, 0, 0],
                        [3, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    out = branch(ids)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[2], out[3])  # an id unseen at fit time is "unknown" (1)
    if encoder == "mean":  # mean of the two embeddings, padding excluded
        torch.testing.assert_close(out[0], branch.embed.weight[[3, 4]].mean(0))


# ---------------------------------------------------------------------------------------------
# fusion operators
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("n_modalities", [1, 2, 3])
def test_operator_shape(fusion, n_modalities):
    op = make_fusion(fusion, n_modalities, 8, rank=3).eval()
    present = torch.ones(5, n_modalities, dtype=torch.bool)
    present[0, 0] = False
    out = op(torch.randn(5, n_modalities, 8), present)
    assert out.shape == (5, op.out_features) and torch.isfinite(out).all()
    expected = {"concat": n_modalities * 8, "tensor": None}.get(fusion, 8)
    if expected is not None:
        assert op.out_features == expected
    none = op(torch.zeros(2, n_modalities, 8), torch.zeros(2, n_modalities, dtype=torch.bool))
    assert torch.isfinite(none).all()  # nothing present: a constant, not NaN


def masked_pair(n_modalities=3, width=8, seed=0):
    """h with modality 1 absent (zero) for sample 0 and present for sample 1."""
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(2, n_modalities, width, generator=g)
    present = torch.ones(2, n_modalities, dtype=torch.bool)
    present[0, 1] = False
    h[0, 1] = 0.0
    return h, present


def test_sum_is_the_mean_over_present():
    h, present = masked_pair()
    out = make_fusion("sum", 3, 8)(h, present)
    torch.testing.assert_close(out[0], (h[0, 0] + h[0, 2]) / 2)
    torch.testing.assert_close(out[1], h[1].mean(0))


def test_gated_renormalises_over_present():
    torch.manual_seed(0)
    op = GatedFusion(3, 8)
    h, present = masked_pair()
    only = torch.zeros_like(present)
    only[:, 2] = True
    out = op(h * only.unsqueeze(2), only)  # one modality: its gate is 1
    torch.testing.assert_close(out, torch.tanh(op.transforms[2](h[:, 2])))
    logits = op.gate(h[:1].flatten(1)).view(1, 3, 8)[:, [0, 2]]
    z = torch.softmax(logits, dim=1)
    cand = torch.stack([torch.tanh(op.transforms[i](h[0, i])) for i in (0, 2)])
    torch.testing.assert_close(op(h, present)[0], (z[0] * cand).sum(0))


def test_tensor_absent_factor_is_neutral():
    torch.manual_seed(0)
    op = TensorFusion(2, 8, factor_dim=3)
    h = torch.randn(1, 2, 8)
    present = torch.tensor([[True, False]])
    out = op(h * present.unsqueeze(2), present).view(4, 4)
    p0 = op.projections[0](h[0, 0])
    torch.testing.assert_close(out[:, 3], torch.cat([p0, torch.ones(1)]))  # slice of the appended 1
    torch.testing.assert_close(out[:, :3], torch.zeros(4, 3))
    assert op.out_features == 16


def test_lowrank_absent_modality_drops_out_of_the_product():
    torch.manual_seed(0)
    op = LowRankFusion(3, 8, rank=2)
    h, present = masked_pair()
    sub = LowRankFusion(2, 8, rank=2)
    with torch.no_grad():
        sub.factors.copy_(op.factors[[0, 2]])
        sub.rank_weights.copy_(op.rank_weights)
        sub.bias.copy_(op.bias)
    torch.testing.assert_close(op(h, present)[0], sub(h[:1, [0, 2]], present[:1, [0, 2]])[0])


def test_attention_ignores_absent_tokens_whatever_their_values():
    torch.manual_seed(0)
    op = AttentionFusion(3, 8).eval()
    h, present = masked_pair()
    noisy = h.clone()
    noisy[0, 1] = 100.0 * torch.randn(8)
    out, out_noisy = op(h, present), op(noisy, present)
    torch.testing.assert_close(out, out_noisy)
    assert not torch.allclose(op(noisy, torch.ones_like(present))[0], out[0])


def test_unknown_fusion_and_bad_rank():
    with pytest.raises(InvalidInputError, match="fusion must be one of"):
        make_fusion("bilinear", 2, 8)
    with pytest.raises(InvalidInputError, match="fusion_rank"):
        make_fusion("lowrank", 2, 8, rank=0)


# ---------------------------------------------------------------------------------------------
# the multimodal module: every branch and operator ignores the fill values of missing blocks
# ---------------------------------------------------------------------------------------------
def build(frame, **params):
    torch.manual_seed(0)
    return build_multimodal_module(frame, n_outputs=3, width=8, hidden_sizes=(16,), **params).eval()


def predict(module, frame):
    with torch.no_grad():
        return module(torch.as_tensor(frame.to_numpy(np.float32)))


def check_missing_block_is_ignored(module, frame, block):
    """Sample 0 misses `block`: its output must not depend on the block's fill values."""
    cols = block_columns(frame, block)
    present = f"{block}__present" if f"{block}__present" in frame else None
    assert present is not None
    missing = frame.copy()
    missing.loc[0, present] = 0.0
    rng = np.random.default_rng(1)
    outs = []
    for fill in (0.0, np.nan, "random"):
        filled = missing.copy()
        filled.loc[0, cols] = rng.integers(0, 50, len(cols)) if fill == "random" else fill
        outs.append(predict(module, filled))
    for other in outs[1:]:
        torch.testing.assert_close(other, outs[0])
    full = predict(module, frame)
    torch.testing.assert_close(outs[0][1:], full[1:])  # the other samples are untouched
    assert not torch.allclose(outs[0][0], full[0])  # the present block did matter
    assert torch.isfinite(outs[0]).all()


@pytest.mark.parametrize("fusion", FUSIONS)
def test_operator_ignores_fill_of_missing_block(fusion):
    frame = make_frame()
    module = build(frame, fusion=fusion)
    for block in ("audio", "text"):
        check_missing_block_is_ignored(module, frame, block)


@pytest.mark.parametrize("branch", DENSE_BRANCHES)
def test_branch_ignores_fill_of_missing_block(branch):
    frame = make_frame()
    block = BLOCK_OF_BRANCH[branch]
    if block == "shop":  # a table's block: a number and the codes of a categorical column
        frame["shop__price"] = np.linspace(1.0, 9.0, len(frame))
        frame["shop__code:brand"] = np.arange(len(frame)) % 5
    frame[f"{block}__present"] = 1.0  # image and meta have no presence column by default
    module = build(frame, fusion="concat", branches={block: branch})
    expected = {"mlp": "MLPBranch", "cnn": "CNN2dBranch", "cnn1d": "CNN1dBranch",
                "lstm": "LSTMBranch", "transformer": "TokenBranch", "embedding": "TokenBranch",
                "tabular": "TabularBranch"}
    position = [b.name for b in module.layout].index(block)
    assert type(module.branches[position]).__name__ == expected[branch]
    check_missing_block_is_ignored(module, frame, block)


def test_module_standardises_from_present_rows_and_sizes_vocabulary():
    frame = make_frame()
    frame.loc[0, "audio__present"] = 0.0
    frame.loc[0, block_columns(frame, "audio")] = 1e6
    module = build(frame)
    audio = block_columns(frame, "audio")
    values = frame.loc[1:, audio].to_numpy().reshape(11, 6, 10)  # per band, present rows
    expected = np.repeat(values.mean(axis=(0, 2)), 10).astype(np.float32)
    torch.testing.assert_close(module.shift_1, torch.as_tensor(expected))
    pixel_std = frame.iloc[:, :64].to_numpy().std(axis=0)  # per column, as StandardScaler
    torch.testing.assert_close(
        module.scale_0, torch.tensor(np.where(pixel_std > 1e-6, pixel_std, 1.0)).float()
    )
    meta = frame[["meta__a", "meta__b", "meta__c"]].to_numpy()
    torch.testing.assert_close(module.shift_3, torch.as_tensor(meta.mean(0), dtype=torch.float32))
    assert (
        module.branches[2].vocab_size
        == int(frame[block_columns(frame, "text")].to_numpy().max()) + 1
    )


# ---------------------------------------------------------------------------------------------
# training aids
# ---------------------------------------------------------------------------------------------
def test_drop_modalities_never_drops_all_and_keeps_the_rate():
    torch.manual_seed(0)
    present = torch.rand(4000, 3) < 0.8
    present[:10] = False
    kept = drop_modalities(present, 0.5)
    assert not (kept & ~present).any()
    assert (kept.any(1) == present.any(1)).all()
    rate = 1 - kept.sum().item() / present.sum().item()
    assert 0.35 < rate < 0.5  # 0.5, less the restored ones
    assert torch.equal(drop_modalities(present, 0.0), present)


def test_modality_dropout_only_in_training():
    frame = make_frame()
    module = build(frame, modality_dropout=0.9)
    X = torch.as_tensor(frame.to_numpy(np.float32))
    torch.testing.assert_close(module(X), module(X))
    module.train()
    for m in module.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    torch.manual_seed(1)
    assert not torch.allclose(module(X), module(X))
    with pytest.raises(InvalidInputError, match="modality_dropout"):
        build(frame, modality_dropout=1.0)


def test_aux_heads_in_training_and_their_loss():
    frame = make_frame()
    module = build(frame, aux_heads=True)
    X = torch.as_tensor(frame.to_numpy(np.float32))
    assert module(X).shape == (12, 3)
    module.train()
    logits, aux, present = module(X)
    assert logits.shape == (12, 3) and aux.shape == (12, 4, 3) and present.shape == (12, 4)
    y = torch.arange(12) % 3
    present = present.clone()
    present[:6, 1] = False
    loss = auxiliary_loss(aux, present, y, torch.nn.functional.cross_entropy)
    expected = sum(
        torch.nn.functional.cross_entropy(aux[present[:, i], i], y[present[:, i]]) for i in range(4)
    ) / 4
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_operator_learns_a_cross_modal_rule(fusion):
    """y = xor(sign of block a, sign of block b): each block alone is at chance."""
    rng = np.random.default_rng(0)
    n = 400
    a, b = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    y = ((a[:, 0] > 0) ^ (b[:, 0] > 0)).astype(np.int64)
    frame = pd.DataFrame(
        np.hstack([a, b]).astype(np.float32), columns=["a__0", "a__1", "b__0", "b__1"]
    )
    torch.manual_seed(0)
    module = build_multimodal_module(
        frame, 2, fusion=fusion, width=16, hidden_sizes=(32,), dropout=0.0
    )
    X, target = torch.tensor(frame.to_numpy()), torch.as_tensor(y)
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(module(X), target).backward()
        opt.step()
    accuracy = (module.eval()(X).argmax(1) == target).float().mean().item()
    assert accuracy > 0.9, accuracy


# ---------------------------------------------------------------------------------------------
# the estimators
# ---------------------------------------------------------------------------------------------
def image_audio(n=120, missing=0.1):
    X, y = make_multimodal_classification(
        n_samples=n, modalities=("image", "audio"), signal=1.0, noise=0.5, missing=missing,
        audio_duration=0.1, random_state=0, return_X_y=True,
    )
    union = make_modality_union({
        "image": ImagePixels(size=8, mode="RGB", add_indicator=True),
        "audio": AudioLogMel(n_mels=16, output="frames", n_frames=8, add_indicator=True),
    })
    return X, y, union


@pytest.mark.slow
def test_grid_search_over_every_operator():
    X, y, union = image_audio()
    net = FusionNetClassifier(max_epochs=15, lr=0.01, batch_size=32, branch_width=16,
                              hidden_sizes=(32,), modality_dropout=0.1, random_state=0)
    search = GridSearchCV(make_pipeline(union, net), {"fusionnetclassifier__fusion": list(FUSIONS)},
                          cv=KFold(3)).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == len(FUSIONS)
    assert np.all(scores > 0.6), scores  # 4 classes; each modality alone shows only 2 views
    best = search.best_estimator_[-1]
    assert type(best.module_).__name__ == "MultimodalModule"
    assert [(b.name, b.kind, b.shape) for b in best.layout_] == [
        ("image", "pixels", (3, 8, 8)), ("audio", "frames", (16, 8))]
    assert best.fusion == search.best_params_["fusionnetclassifier__fusion"]


def test_estimator_prediction_ignores_a_missing_modality_fill():
    X, y, union = image_audio(n=60, missing=0.0)
    features = union.fit_transform(X)
    net = FusionNetClassifier(fusion="attention", max_epochs=3, branch_width=8,
                              hidden_sizes=(16,), aux_weight=0.5, random_state=0).fit(features, y)
    audio = [c for c in features if c.startswith("audio__") and c != "audio__present"]
    gone = features.copy()
    gone["audio__present"] = 0.0
    other = gone.copy()
    other[audio] = 123.0
    np.testing.assert_allclose(net.predict_proba(gone), net.predict_proba(other), rtol=1e-6)
    assert not np.allclose(net.predict_proba(gone), net.predict_proba(features))
    other[audio] = np.nan  # NaN is accepted where the block is missing, and ignored
    np.testing.assert_allclose(net.predict_proba(gone), net.predict_proba(other), rtol=1e-6)
    with pytest.warns(UserWarning, match="'audio' is missing from every training row"):
        refit = clone(net).set_params(max_epochs=1).fit(other, y)  # audio absent everywhere
    assert np.isfinite(refit.predict_proba(other)).all()
    other.loc[0, "audio__present"] = 1.0
    with pytest.raises(InvalidInputError, match="NaN"):
        net.predict(other)


def test_a_scaled_or_imputed_presence_column_is_refused_with_the_fix():
    from sklearn.preprocessing import StandardScaler

    X, y, union = image_audio(n=40, missing=0.25)
    net = FusionNetClassifier(max_epochs=1, branch_width=8, hidden_sizes=(16,), random_state=0)
    scaled = make_pipeline(union, StandardScaler().set_output(transform="pandas"), clone(net))
    with pytest.raises(
        InvalidInputError,
        match=r"'image__present' of modality 'image' must hold 1 \(present\) or 0",
    ):
        scaled.fit(X, y)
    X_full, y_full, _ = image_audio(n=40, missing=0.0)  # flags all 1: a scaler makes them 0
    with pytest.warns(UserWarning, match="'image' is missing from every training row.*scaler"):
        scaled.fit(X_full, y_full)
    features = union.fit_transform(X)
    fitted = clone(net).fit(features, y)
    for value in (0.5, np.nan, 2.0):
        bad = features.copy()
        bad.loc[3, "image__present"] = value
        with pytest.raises(InvalidInputError, match="row at position 3 holds"):
            fitted.predict(bad)


def test_estimator_default_module_and_parameters():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 6)).astype(np.float32), np.arange(40) % 2
    plain = FusionNetClassifier(max_epochs=2, random_state=0).fit(X, y)
    assert type(plain.module_).__name__ == "MLP"  # one plain block: the MLP over the row
    blocks = FusionNetClassifier(max_epochs=2, fusion="lowrank", random_state=0,
                                 modalities={"a": slice(0, 3), "b": [3, 4, 5]}).fit(X, y)
    assert [b.name for b in blocks.layout_] == ["a", "b"]
    assert type(blocks.module_.fusion).__name__ == "LowRankFusion"
    assert clone(blocks).get_params()["modalities"] == {"a": slice(0, 3), "b": [3, 4, 5]}
    reg = FusionNetRegressor(max_epochs=2, fusion="gated", aux_weight=1.0, random_state=0,
                             modalities={"a": slice(0, 3), "b": slice(3, 6)})
    assert reg.fit(X, X[:, 0]).predict(X).shape == (40,)
    for params, match in [({"fusion": "bilinear"}, "fusion must be one of"),
                          ({"modality_dropout": 1.0}, "modality_dropout"),
                          ({"branch_width": 0}, "branch_width"),
                          ({"aux_weight": -1.0}, "aux_weight"),
                          ({"branches": 3}, "branches")]:
        with pytest.raises(InvalidInputError, match=match):
            FusionNetClassifier(max_epochs=1, **params).fit(X, y)


def test_three_extractors_give_their_branches_and_missing_text_is_ignored():
    from skmm import TextTokenIds

    X, y = make_multimodal_classification(n_samples=48, signal=1.0, noise=0.5, missing=0.2,
                                          audio_duration=0.1, random_state=0, return_X_y=True)
    union = make_modality_union({
        "image": ImagePixels(size=6, mode="RGB"),
        "text": TextTokenIds(max_length=12, add_indicator=True),
        "audio": AudioLogMel(n_mels=8, output="frames", n_frames=6, add_indicator=True),
    })
    features = union.fit_transform(X)
    net = FusionNetClassifier(fusion="sum", max_epochs=2, branch_width=8, hidden_sizes=(8,),
                              branches={"image": "cnn", "audio": "lstm"},
                              random_state=0).fit(features, y)
    assert [(b.name, b.kind, b.shape, b.mask is not None) for b in net.layout_] == [
        ("image", "pixels", (3, 6, 6), False), ("text", "tokens", (12,), True),
        ("audio", "frames", (8, 6), True)]
    assert [type(b).__name__ for b in net.module_.branches] == ["CNN2dBranch", "TokenBranch",
                                                                "LSTMBranch"]
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(restored.predict_proba(features), net.predict_proba(features))
    filled = features.copy()
    gone = filled["text__present"] == 0
    assert gone.any()
    filled.loc[gone, [c for c in features if c.startswith("text__tok")]] = 7.0
    np.testing.assert_allclose(net.predict_proba(filled), net.predict_proba(features), rtol=1e-6)
