"""skmm.evaluation: modality importance, robustness curves and displays."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skmm.datasets import make_multimodal_classification
from skmm.evaluation import (
    ModalityImportanceDisplay,
    RobustnessDisplay,
    modality_importance,
    modality_kind,
    perturb_column,
    robustness_report,
)
from skmm.exceptions import InvalidInputError


def _flat_images(column):
    """Flattened pixels in [0, 1]; a missing image is a zero row (as skmm's extractors do)."""
    blank = np.zeros(16 * 16 * 3, dtype=np.float32)
    return np.stack([
        blank if c is None else np.asarray(c, dtype=np.float32).ravel()
        / (255.0 if np.asarray(c).dtype == np.uint8 else 1.0)
        for c in column.iloc[:, 0]
    ])


def _image_text_model(X, y):
    features = make_column_transformer(
        (FunctionTransformer(_flat_images), ["image"]),
        (CountVectorizer(), "text"),
        (CountVectorizer(), "noise"),
    )
    return make_pipeline(features, LogisticRegression(max_iter=500)).fit(X, y)


@pytest.fixture(scope="module")
def fitted():
    X, y = make_multimodal_classification(
        n_samples=300, modalities=("image", "text"), random_state=0, return_X_y=True
    )
    rng = np.random.RandomState(0)
    X["noise"] = [" ".join(rng.choice(["foo", "bar", "baz"], 4)) for _ in range(len(X))]
    return _image_text_model(X, y), X, y


def test_modality_importance_ranks_real_modalities_above_noise(fitted):
    model, X, y = fitted
    table = modality_importance(model, X, y, n_repeats=3, random_state=0)
    assert set(table.index) == {"image", "text", "noise"}
    assert table.loc["image", "importance_mean"] > table.loc["noise", "importance_mean"] + 0.05
    assert table.loc["text", "importance_mean"] > table.loc["noise", "importance_mean"] + 0.05
    assert len(table.loc["image", "importances"]) == 3
    grouped = modality_importance(model, X, y, n_repeats=1, modalities={"both": ["image", "text"]})
    assert list(grouped.index) == ["both"]
    with pytest.raises(InvalidInputError, match="does not have"):
        modality_importance(model, X, y, modalities={"x": ["nope"]})


def test_robustness_curves_fall_as_perturbation_grows(fitted):
    model, X, y = fitted
    report = robustness_report(
        model, X, y, perturbations={"image": ["noise", "missing"], "text": ["word_drop"]},
        levels=(0.0, 0.5, 1.0),
    )
    assert set(report.columns) == {"modality", "perturbation", "level", "score"}
    for _, part in report.groupby(["modality", "perturbation"]):
        scores = part.sort_values("level")["score"].to_numpy()
        assert scores[0] >= scores[-1] + 0.05, part
        assert np.all(np.diff(scores) <= 0.03), part  # monotone up to sampling noise


def test_modality_kind_and_perturbations(media_files):
    assert modality_kind([None, "a sentence"]) == "text"
    assert modality_kind([np.zeros(10, dtype=np.float32)]) == "audio"
    assert modality_kind([np.zeros((4, 4), dtype=np.uint8)]) == "image"
    assert modality_kind([media_files["tone.wav"]]) == "audio"
    assert modality_kind([media_files["red.png"]]) == "image"
    noisy = perturb_column([media_files["tone.wav"]], "audio", "noise", 0.5, 0)
    wave, sr = noisy[0]
    assert sr == 16000 and wave.dtype == np.float32
    occluded = perturb_column([np.full((10, 10), 255, np.uint8)], "image", "occlusion", 0.25, 0)[0]
    assert (occluded == 0).sum() == 25
    assert perturb_column(["a b c d"], "text", "word_drop", 1.0, 0) == [""]
    assert perturb_column([None, "x"], "text", "missing", 0.0, 0) == [None, "x"]
    with pytest.raises(InvalidInputError, match="unknown perturbation"):
        perturb_column(["x"], "text", "blur", 0.5)


def test_displays_draw(fitted, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    model, X, y = fitted
    display = ModalityImportanceDisplay.from_estimator(model, X, y, n_repeats=1, random_state=0)
    assert len(display.ax_.patches) == 3
    report = robustness_report(model, X, y, perturbations={"text": ["typos"]}, levels=(0, 1))
    curve = RobustnessDisplay(report).plot()
    assert len(curve.ax_.lines) == 1
    curve.figure_.savefig(tmp_path / "robustness.png")
    assert (tmp_path / "robustness.png").stat().st_size > 1000


def test_inputs_are_validated():
    with pytest.raises(InvalidInputError, match="DataFrame"):
        modality_importance(LogisticRegression(), np.zeros((3, 2)), [0, 1, 0])
    X = pd.DataFrame({"text": ["a", "b"]})
    with pytest.raises(InvalidInputError, match="levels"):
        robustness_report(LogisticRegression(), X, [0, 1], levels=(2.0,))


def test_training_curve_reads_a_fitted_net_history():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from skmm.evaluation import TrainingCurveDisplay
    from skmm.nets import FusionNetClassifier

    X = np.random.RandomState(0).normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    net = FusionNetClassifier(hidden_sizes=(8,), max_epochs=4, random_state=0).fit(X, y)
    display = TrainingCurveDisplay.from_estimator(make_pipeline(net))
    (line,) = display.ax_.lines
    assert list(line.get_xdata()) == [1, 2, 3, 4]
    with pytest.raises(InvalidInputError, match="no training history"):
        TrainingCurveDisplay.from_estimator(FusionNetClassifier())


@pytest.mark.slow
@pytest.mark.realdata
def test_modality_importance_on_av_digits_hard_ranks_both_modalities_above_noise(fsdd_home):
    from threadpoolctl import threadpool_limits

    from skmm import AudioLogMel, ImagePixels, make_modality_union
    from skmm.datasets import load_av_digits

    X, y = load_av_digits(data_home=fsdd_home, variant="hard", return_X_y=True)
    rows = np.random.RandomState(0).permutation(len(X))[:600]
    X, y = X.iloc[rows].reset_index(drop=True), y[rows]
    rng = np.random.RandomState(1)
    X["noise"] = [rng.normal(0, 0.1, 4000).astype(np.float32) for _ in range(len(X))]
    features = make_modality_union({
        "image": ImagePixels(size=(14, 14), mode="L"),
        "audio": AudioLogMel(sr=8000, n_fft=256, hop_length=80, n_mels=32),
        "noise": AudioLogMel(sr=8000, n_fft=256, hop_length=80, n_mels=32),
    })
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(features, StandardScaler(), LogisticRegression(C=0.05, max_iter=300))
    train, test = np.arange(400), np.arange(400, 600)
    with threadpool_limits(1):
        model.fit(X.iloc[train], y[train])
        table = modality_importance(model, X.iloc[test], y[test], n_repeats=3, random_state=0)
    noise = table.loc["noise", "importance_mean"]
    assert table.loc["image", "importance_mean"] > noise + 0.05, table
    assert table.loc["audio", "importance_mean"] > noise + 0.02, table
