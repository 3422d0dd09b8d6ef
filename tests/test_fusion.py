"""Early fusion (make_modality_union -> FusionNetClassifier) and late fusion (make_late_fusion).

The per-modality features here are cheap FunctionTransformers over the synthetic data
(block-averaged pixels, keyword counts, band energies of the spectrum), so that these
tests exercise the fusion plumbing and the nets, not the extractors.
"""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import StackingClassifier, StackingRegressor  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge, RidgeClassifier  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer, StandardScaler  # noqa: E402

import skmm  # noqa: E402
from skmm.datasets import make_multimodal_classification  # noqa: E402
from skmm.datasets._synthetic import _WORDS  # noqa: E402
from skmm.exceptions import InvalidInputError  # noqa: E402
from skmm.fusion import make_late_fusion, make_modality_union  # noqa: E402
from skmm.nets import FusionNetClassifier, FusionNetRegressor  # noqa: E402
pytestmark = pytest.mark.usefixtures("one_torch_thread")

NET = dict(hidden_sizes=(32,), max_epochs=30, lr=0.01, batch_size=32, random_state=0)


def _cells(column):
    return list(column.iloc[:, 0] if isinstance(column, pd.DataFrame) else column)


def image_blocks(column):
    """(n, 4*4*3): each 16x16 RGB image averaged over 4x4 blocks, in [0, 1]."""
    images = np.stack(_cells(column)).astype(np.float32) / 255.0
    n, h, w, c = images.shape
    return images.reshape(n, 4, h // 4, 4, w // 4, c).mean(axis=(2, 4)).reshape(n, -1)


def image_names(transformer, input_features):
    return np.array([f"block{i}" for i in range(48)], dtype=object)


def word_counts(column):
    """(n, len(_WORDS)): how often each keyword of the generator occurs in each text."""
    index = {word: i for i, word in enumerate(_WORDS)}
    out = np.zeros((len(column), len(_WORDS)), dtype=np.float32)
    for row, text in enumerate(_cells(column)):
        for word in text.split():
            if word in index:
                out[row, index[word]] += 1
    return out


def word_names(transformer, input_features):
    return np.array(_WORDS, dtype=object)


def band_energies(column):
    """(n, 40): log energy of the waveform spectrum in 40 equal bands."""
    waves = np.stack(_cells(column))
    spectrum = np.abs(np.fft.rfft(waves, axis=1))[:, :-1]
    bands = spectrum.reshape(len(waves), 40, -1).mean(axis=2)
    return np.log1p(bands).astype(np.float32)


def band_names(transformer, input_features):
    return np.array([f"band{i:02d}" for i in range(40)], dtype=object)


def extractors():
    return {
        "image": FunctionTransformer(image_blocks, feature_names_out=image_names),
        "text": FunctionTransformer(word_counts, feature_names_out=word_names),
        "audio": make_pipeline(FunctionTransformer(band_energies, feature_names_out=band_names),
                               StandardScaler()),
    }


@pytest.fixture(scope="module")
def data():
    return make_multimodal_classification(n_samples=240, random_state=0, return_X_y=True)


def early_pipeline(**params):
    pipe = make_pipeline(make_modality_union(extractors()), StandardScaler(),
                         FusionNetClassifier(**{**NET, **params}))
    return pipe.set_output(transform="pandas")  # the column names reach the net


def test_modality_union_outputs_prefixed_pandas_columns(data):
    X, _ = data
    union = make_modality_union(extractors())
    assert isinstance(union, ColumnTransformer)
    out = union.fit_transform(X)
    assert isinstance(out, pd.DataFrame) and out.shape == (len(X), 48 + len(_WORDS) + 40)
    assert out.columns[0] == "image__block0" and "text__amber" in out.columns
    assert out.columns[-1] == "audio__band39"
    assert list(out.columns) == list(union.get_feature_names_out())


@pytest.mark.slow
def test_early_fusion_under_grid_search_and_cross_val_score(data):
    X, y = data
    pipe = early_pipeline()
    search = GridSearchCV(pipe, {"fusionnetclassifier__hidden_sizes": [(16,), (32,)]},
                          cv=KFold(3, shuffle=True, random_state=0))
    search.fit(X, y)
    assert search.best_score_ > 0.6  # chance is 0.25; only fused modalities name the class
    net = search.best_estimator_[-1]
    assert net.feature_names_in_[0] == "image__block0" and net.device == "auto"
    scores = cross_val_score(early_pipeline(), X, y, cv=KFold(3, shuffle=True, random_state=1))
    assert scores.shape == (3,) and scores.mean() > 0.6


@pytest.mark.slow
def test_fusion_beats_every_single_modality(data):
    X, y = data
    cv = KFold(3, shuffle=True, random_state=0)
    fused = cross_val_score(early_pipeline(), X, y, cv=cv).mean()
    for name, extractor in extractors().items():
        single = make_pipeline(make_modality_union({name: extractor}), StandardScaler(),
                               FusionNetClassifier(**NET))
        assert cross_val_score(single, X, y, cv=cv).mean() < fused - 0.1, name


def test_early_fusion_clone_pickle_and_joblib_round_trip(data, tmp_path):
    X, y = data
    pipe = early_pipeline().fit(X, y)
    expected = pipe.predict_proba(X)
    np.testing.assert_array_equal(clone(pipe).fit(X, y).predict_proba(X), expected)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(pipe)).predict_proba(X), expected)
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "pipe.joblib").predict_proba(X), expected)


def late(**params):
    models = {
        name: make_pipeline(extractor, RidgeClassifier())
        for name, extractor in extractors().items()
    }
    return make_late_fusion(models, cv=3, random_state=0, **params)


def test_late_fusion_is_a_stacking_classifier_with_a_net_on_top(data):
    X, y = data
    model = late()
    assert isinstance(model, StackingClassifier)
    assert isinstance(model.final_estimator, FusionNetClassifier)
    model.fit(X, y)
    # each base model saw only its own column
    assert list(model.named_estimators_["text"][0].get_feature_names_out()) == ["text"]
    assert model.score(X, y) > 0.8


@pytest.mark.slow
def test_late_fusion_under_grid_search_cross_val_score_and_persistence(data, tmp_path):
    X, y = data
    search = GridSearchCV(late(), {"image__model__ridgeclassifier__alpha": [0.1, 10.0]},
                          cv=KFold(3, shuffle=True, random_state=0))
    search.fit(X, y)
    assert search.best_score_ > 0.6
    scores = cross_val_score(late(), X, y, cv=KFold(3, shuffle=True, random_state=1))
    assert scores.mean() > 0.6
    model = search.best_estimator_
    expected = model.predict_proba(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict_proba(X), expected)
    joblib.dump(model, tmp_path / "late.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "late.joblib").predict_proba(X), expected)
    np.testing.assert_array_equal(clone(model).fit(X, y).predict_proba(X), expected)


def test_late_fusion_regression_is_chosen_by_the_final_estimator_or_task(data):
    X, y = data
    target = y.astype(float)
    models = {"image": make_pipeline(FunctionTransformer(image_blocks), Ridge())}
    by_final = make_late_fusion(models, final_estimator=Ridge(), cv=3)
    assert isinstance(by_final, StackingRegressor)
    by_task = make_late_fusion(models, cv=3, task="regression", random_state=0)
    assert isinstance(by_task.final_estimator, FusionNetRegressor)
    assert by_task.fit(X, target).predict(X).shape == (len(X),)
    assert isinstance(make_late_fusion(models, cv=3), StackingRegressor)  # all bases regress


@pytest.mark.parametrize("mapping, match", [
    ({}, "non-empty dict"),
    ([("image", None)], "non-empty dict"),
    ({"": FunctionTransformer()}, "non-empty strings"),
    ({"a__b": FunctionTransformer()}, "without '__'"),
    ({"image": 3}, "fit and transform"),
    ({"image": (FunctionTransformer(), "image", "x")}, "pair"),
])
def test_modality_union_refuses_bad_mappings(mapping, match):
    with pytest.raises(InvalidInputError, match=match):
        make_modality_union(mapping)


def test_late_fusion_refuses_bad_arguments():
    with pytest.raises(InvalidInputError, match="fit and predict.*make_pipeline"):
        make_late_fusion({"image": FunctionTransformer()})
    with pytest.raises(InvalidInputError, match="task"):
        make_late_fusion({"image": LogisticRegression()}, task="ranking")


def test_public_names():
    assert skmm.make_modality_union is make_modality_union
    assert skmm.make_late_fusion is make_late_fusion
    assert skmm.FusionNetClassifier is FusionNetClassifier


def test_seeds_averaged_by_scikit_learns_voting_estimators_after_one_union():
    # the README's seed averaging: one union, then a VotingRegressor / soft VotingClassifier
    # of nets that differ only in random_state; each member reads the union's named blocks
    from sklearn.ensemble import VotingClassifier, VotingRegressor

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120),
                      "c": rng.choice(["x", "y", "z"], 120)})
    y = 2 * X["a"].to_numpy() + (X["c"] == "x").to_numpy() + rng.normal(0, 0.1, 120)
    union = make_modality_union({"table": (skmm.TabularEncoder(), ["a", "b", "c"])})
    members = [(f"seed{i}", FusionNetRegressor(random_state=i, max_epochs=3)) for i in range(3)]
    model = make_pipeline(union, VotingRegressor(members)).fit(X, y)
    fitted = model[-1].estimators_
    assert [net.layout_[0].name for net in fitted] == ["table"] * 3
    features = model[0].transform(X)
    each = np.stack([net.predict(features) for net in fitted])
    assert not np.allclose(each[0], each[1])  # the seeds give different members
    np.testing.assert_allclose(model.predict(X), each.mean(axis=0), rtol=1e-5)
    assert not hasattr(clone(model)[-1], "estimators_")

    labels = (y > np.median(y)).astype(int)
    soft = VotingClassifier([(name, FusionNetClassifier(random_state=i, max_epochs=3))
                             for i, (name, _) in enumerate(members)], voting="soft")
    model = make_pipeline(clone(union), soft).fit(X, labels)
    proba = np.mean([net.predict_proba(model[0].transform(X)) for net in model[-1].estimators_],
                    axis=0)
    np.testing.assert_allclose(model.predict_proba(X), proba, rtol=1e-5)
