"""A table's own columns (numbers, categories) as modalities: the union, the encoder, the net."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skmm import AudioLogMel, ImagePixels, InvalidInputError, TabularEncoder
from skmm import make_modality_union
from skmm.datasets import make_multimodal_classification
from skmm.evaluation import modality_importance
from skmm.nets import FusionNetClassifier
from skmm.nets._branches import MLPBranch, TabularBranch


@pytest.fixture(scope="module")
def shop():
    """Image, audio, price and category: each shows a coarse view, all four give the class."""
    return make_multimodal_classification(
        n_samples=360, modalities=("image", "audio", "price", "category"), missing=0.1,
        image_size=8, audio_duration=0.1, random_state=0)


def _table():
    return pd.DataFrame({
        "price": [9.5, np.nan, 12.0, 30.0, 7.0, np.nan],
        "qty": [1, 2, 3, 4, 5, 6],
        "colour": ["red", "blue", None, "red", "green", None],
        "brand": ["b1", "b2", "b3", "b1", "b4", None],
    })


# ---- make_modality_union with tabular columns ------------------------------------------


@pytest.mark.parametrize("value", ["passthrough", StandardScaler(), TabularEncoder()],
                         ids=["passthrough", "scaler", "encoder"])
def test_one_numeric_column_is_a_modality(value):
    X = _table()
    X["image"] = list(np.random.RandomState(0).randint(0, 255, size=(len(X), 4, 4, 3),
                                                       dtype=np.uint8))
    union = make_modality_union({"image": ImagePixels(size=4), "price": value})
    out = union.fit_transform(X)
    name = "price__num:price" if isinstance(value, TabularEncoder) else "price__price"
    price = [c for c in out.columns if c.startswith("price__")]
    assert price[0] == name and len(out) == len(X)
    assert out[name].dtype.kind == "f"


def test_several_columns_and_a_sparse_one_hot_encoder():
    X = _table()
    encoder = OneHotEncoder(handle_unknown="ignore")  # sparse_output=True by default
    union = make_modality_union({
        "sizes": (StandardScaler(), ["price", "qty"]),
        "colour": encoder,
        "brand": make_pipeline(OneHotEncoder(handle_unknown="ignore")),
    })
    out = union.fit_transform(X)
    assert list(out.columns[:2]) == ["sizes__price", "sizes__qty"]
    assert "colour__colour_red" in out.columns and "brand__brand_b4" in out.columns
    assert all(dtype.kind == "f" for dtype in out.dtypes)
    # the union holds a dense copy; the user's encoder is left as given
    assert union.transformers[1][1].sparse_output is False and encoder.sparse_output is True


def test_column_readers_get_the_bare_column_and_table_readers_a_frame():
    from sklearn.feature_extraction.text import CountVectorizer

    from skmm.fusion import _takes_frame

    assert not _takes_frame(ImagePixels())
    assert not _takes_frame(make_pipeline(ImagePixels(), StandardScaler()))
    assert not _takes_frame(CountVectorizer())  # reads a 1-D column of documents
    assert _takes_frame("passthrough") and _takes_frame(StandardScaler())
    assert _takes_frame(make_pipeline(TabularEncoder(), StandardScaler()))


# ---- TabularEncoder ------------------------------------------------------------------


def test_encoder_names_one_hot_codes_and_presence():
    encoder = TabularEncoder(max_onehot=3).fit(_table())
    assert encoder.numeric_ == ["price", "qty"]
    assert encoder.onehot_ == ["colour"]
    assert list(encoder.get_feature_names_out()) == [
        "num:price", "num:qty", "colour=blue", "colour=green", "colour=red", "code:brand",
        "present"]
    out = encoder.transform(_table())
    assert out.dtype == np.float32 and out.shape == (6, 7)
    assert out[:, 5].tolist() == [1, 2, 3, 1, 4, 0]  # code 0: missing
    assert out[2, 2:5].tolist() == [0, 0, 0]  # a missing colour: no flag
    # a missing price reads as the training median, standardised
    median = (np.nanmedian([9.5, 12.0, 30.0, 7.0]) - encoder.mean_[0]) / encoder.scale_[0]
    assert out[1, 0] == pytest.approx(median, rel=1e-5)
    assert out[:, -1].tolist() == [1] * 6


def test_encoder_unseen_rare_and_all_missing_rows():
    train = pd.DataFrame({"price": [1.0, 2.0, 3.0, 4.0], "brand": ["a", "a", "b", "c"]})
    encoder = TabularEncoder(max_onehot=0, min_frequency=2).fit(train)
    assert encoder.categories_["brand"].tolist() == ["a"]
    new = pd.DataFrame({"price": [np.nan, 5.0], "brand": [None, "zzz"]})
    out = encoder.transform(new)
    assert out[:, 1].tolist() == [0, 0]  # missing, unseen: code 0
    assert out[:, -1].tolist() == [0, 1]  # nothing present in the first row


def test_encoder_refuses_a_string_in_a_numeric_column_naming_it():
    X = pd.DataFrame({"price": ["9.5", "cheap", "3"], "qty": [1, 2, 3]})
    with pytest.raises(InvalidInputError, match=r"'price'.*position 1.*'cheap'"):
        TabularEncoder(categorical=[]).fit(X)
    encoder = TabularEncoder(categorical=None).fit(X.assign(price=[1.0, 2.0, 3.0]))
    with pytest.raises(InvalidInputError, match="price"):
        encoder.transform(X)
    with pytest.raises(InvalidInputError, match="fitted on columns"):
        encoder.transform(X[["qty", "price"]])
    with pytest.raises(InvalidInputError, match="categorical"):
        TabularEncoder(categorical=["nope"]).fit(X)
    with pytest.raises(InvalidInputError, match="max_onehot"):
        TabularEncoder(max_onehot=-1).fit(X)


def test_encoder_auto_detection_of_categories():
    X = pd.DataFrame({
        "n": [1, 2, 3], "f": [0.5, np.nan, 2.0],
        "numbers_as_objects": pd.Series([1, 2.5, None], dtype=object),
        "s": ["x", "y", "x"], "b": [True, False, True],
        "c": pd.Series(["u", "v", "u"], dtype="category"),
    })
    encoder = TabularEncoder().fit(X)
    assert encoder.numeric_ == ["n", "f", "numbers_as_objects"]
    assert sorted(encoder.categories_) == ["b", "c", "s"]


def test_encoder_is_a_plain_sklearn_transformer():
    encoder = TabularEncoder(max_onehot=2)
    assert clone(encoder).get_params() == encoder.get_params()
    fitted = encoder.fit(_table())
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.transform(_table()), fitted.transform(_table()))
    frame = clone(encoder).set_output(transform="pandas").fit_transform(_table())
    assert list(frame.columns) == list(fitted.get_feature_names_out())
    assert TabularEncoder().fit_transform(pd.Series([1.0, np.nan], name="p")).shape == (2, 2)


# ---- the layer-level net -----------------------------------------------------------------


def test_net_gives_a_table_block_its_own_branch(shop):
    union = make_modality_union({"image": ImagePixels(size=8),
                                 "shop": (TabularEncoder(), ["price", "category"])})
    F = union.fit_transform(shop.data)
    net = FusionNetClassifier(max_epochs=2, random_state=0).fit(F, shop.target)
    block = net.layout_[1]
    assert (block.name, block.kind, block.shape) == ("shop", "tabular", (1, 1))
    assert isinstance(net.module_.branches[1], TabularBranch)
    assert net.module_.branches[1].embeddings[0].num_embeddings == 25  # 24 categories and 0
    # a code never seen at fit reads as 0 (unseen), not an index error
    F2 = F.copy()
    F2["shop__code:category"] = 999.0
    assert net.predict_proba(F2).shape == (len(F), 4)


def test_periodic_numeric_embedding_of_the_tabular_branch(shop):
    """numeric_embedding="periodic" embeds each number (PLR, Gorishniy et al. 2022)."""
    branch = TabularBranch((3, 1), (5,), 32, numeric_embedding="periodic", numeric_dim=4,
                           n_frequencies=6)
    assert branch.numbers.frequencies.shape == (3, 6)
    assert branch.net[0].in_features == 3 * 4 + branch.embeddings[0].embedding_dim
    out = branch(torch.tensor([[0.5, -1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 9.0]]))
    assert out.shape == (2, 32) and torch.isfinite(out).all()
    with pytest.raises(InvalidInputError, match="numeric_embedding"):
        TabularBranch((3, 1), (5,), 32, numeric_embedding="ple")
    # a table without code columns is a features block: the mlp branch takes it too
    mlp = MLPBranch(8, 32, numeric_embedding="periodic", numeric_dim=4)
    assert mlp.net[0].in_features == 8 * 4 and mlp(torch.randn(3, 8)).shape == (3, 32)
    # through the net's branches__ parameters
    union = make_modality_union({"image": ImagePixels(size=8),
                                 "shop": (TabularEncoder(), ["price", "category"])})
    F = union.fit_transform(shop.data)
    net = FusionNetClassifier(max_epochs=2, random_state=0,
                              branches__numeric_embedding="periodic").fit(F, shop.target)
    assert net.module_.branches[1].numbers is not None
    assert net.predict_proba(F).shape == (len(F), 4)


def test_nan_in_a_numeric_block_reads_as_missing(shop):
    X = shop.data
    assert X["price"].isna().any()
    union = make_modality_union({"image": ImagePixels(size=8), "price": "passthrough"})
    F = union.fit_transform(X)
    net = FusionNetClassifier(max_epochs=2, random_state=0).fit(F, shop.target)
    module = net.module_.eval()
    X_t = torch.as_tensor(F.to_numpy(dtype=np.float32))
    present = module.presence(X_t)
    np.testing.assert_array_equal(present[:, 1].numpy(), X["price"].notna().to_numpy())
    assert np.isfinite(net.predict_proba(F)).all()
    # one plain block, the MLP over the row: NaN stays an error, with a fix
    with pytest.raises(InvalidInputError, match="NaN"):
        FusionNetClassifier(max_epochs=1).fit(F[["price__price"]], shop.target)
    # inf is never a missing value
    F_inf = F.copy()
    F_inf.loc[0, "price__price"] = np.inf
    with pytest.raises(InvalidInputError, match="inf"):
        net.predict(F_inf)


def test_a_string_column_passed_through_to_the_net_is_named(shop):
    union = make_modality_union({"image": ImagePixels(size=8), "category": "passthrough"})
    F = union.fit_transform(shop.data)
    with pytest.raises(InvalidInputError, match="category__category"):
        FusionNetClassifier(max_epochs=1).fit(F, shop.target)


def test_the_tabular_branch_beats_the_same_net_without_it(shop):
    """Price and category carry part of the class, and the net that
    has them (one block, numbers and an embedded high-cardinality category) wins."""
    X, y = shop.data, shop.target
    train, test = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y,
                                   random_state=0)
    media = {"image": ImagePixels(size=8),
             "audio": AudioLogMel(n_mels=16, stats=("mean", "std"), add_indicator=True)}

    def score(mapping):
        model = make_pipeline(make_modality_union(mapping),
                              FusionNetClassifier(max_epochs=30, random_state=0))
        return model.fit(X.iloc[train], y[train]).score(X.iloc[test], y[test])

    without = score(media)
    with_table = score({**media, "shop": (TabularEncoder(), ["price", "category"])})
    print(f"held-out accuracy: {with_table:.3f} with the table, {without:.3f} without")
    assert with_table > without + 0.05, (with_table, without)


def test_modality_importance_reports_the_table(shop):
    X, y = shop.data[["price", "category"]], shop.target
    model = make_pipeline(  # one-hot categories, for a linear model
        make_modality_union({"shop": (TabularEncoder(max_onehot=64), ["price", "category"])}),
        LogisticRegression(max_iter=500)).fit(X, y)
    table = modality_importance(model, X, y, n_repeats=2, random_state=0,
                                modalities={"price": "price", "category": "category"})
    assert set(table.index) == {"price", "category"}
    assert (table["importance_mean"] > 0.05).all()


def test_generator_tabular_columns(shop):
    X = shop.data
    assert list(X.columns) == ["image", "audio", "price", "category"]
    assert X["price"].dtype == np.float64 and X["category"].dtype == object
    assert X["category"].nunique() == 24
    # each column alone carries part of the class (a coarse view), not all of it
    for column in ("price", "category"):
        encoded = TabularEncoder().fit_transform(X[[column]])
        score = LogisticRegression(max_iter=500).fit(
            encoded if column == "price" else pd.get_dummies(X[column]), shop.target
        ).score(encoded if column == "price" else pd.get_dummies(X[column]), shop.target)
        assert 0.35 < score < 0.8, (column, score)
    with pytest.raises(InvalidInputError, match="n_categories"):
        make_multimodal_classification(n_samples=4, modalities=("category",), n_categories=0)
