"""The main job: compare the three fusion levels on a data set and draw the comparison.

Used by ``python -m skmm demo``. Every model is an ordinary scikit-learn estimator,
evaluated with ``cross_validate``; the layer-level net runs at its defaults (a
``GridSearchCV`` over its ``fusion`` tunes it like any estimator, at the cost of one fit
per candidate and inner fold). A feature cache (in a temporary folder unless one is given)
makes every fold reuse the extracted features.
"""

import tempfile
import time

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ._column import progress
from .exceptions import InvalidInputError

#: The synthetic table's own columns, beside its image, text and audio.
SYNTHETIC_TABLE = ["price", "category"]


def _extractors(data_name):
    from .audio import AudioLogMel
    from .image import ImagePixels
    from .tabular import TabularEncoder
    from .text import TextWord2Vec

    if data_name == "synthetic":
        return {
            "image": ImagePixels(size=(16, 16), mode="RGB"),
            "text": TextWord2Vec(vector_size=32, epochs=20, pooling="mean+max", random_state=0,
                                 workers=1),
            "audio": AudioLogMel(n_mels=32, stats=("mean", "std")),
            # the table's own columns: a price and a high-cardinality category (embedded by
            # the layer-level net, one-hot for the linear models)
            "shop": (TabularEncoder(), SYNTHETIC_TABLE),
        }
    if data_name == "av-digits":
        return {
            "image": ImagePixels(size=(28, 28), mode="L"),
            "audio": AudioLogMel(sr=8000, n_fft=256, hop_length=80, n_mels=40,
                                 stats=("mean", "std", "min", "max")),
        }
    if data_name == "ag-news":
        return {
            "title": TextWord2Vec(vector_size=64, epochs=10, pooling="mean+max", random_state=0,
                                  workers=1),
            "description": TextWord2Vec(vector_size=64, epochs=10, pooling="mean+max",
                                        random_state=0, workers=1),
        }
    raise InvalidInputError(
        f"unknown data set {data_name!r}; choose 'synthetic', 'av-digits' or 'ag-news'."
    )


def load_demo_data(data_name, n_samples, random_state):
    """(X, y, description) for the demo's data set; a clear error when data is absent."""
    from . import datasets

    if data_name == "synthetic":
        X, y = datasets.make_multimodal_classification(
            n_samples=n_samples, modalities=("image", "text", "audio", *SYNTHETIC_TABLE),
            random_state=random_state, return_X_y=True)
        return X, y, (f"synthetic image+text+audio+price+category table ({n_samples} rows, "
                      "4 classes)")
    loader = {"av-digits": datasets.load_av_digits, "ag-news": datasets.load_ag_news}.get(data_name)
    if loader is None:
        raise InvalidInputError(
            f"unknown data set {data_name!r}; choose 'synthetic', 'av-digits' or 'ag-news'.")
    try:
        X, y = loader(download_if_missing=False, return_X_y=True)
    except OSError as exc:
        raise InvalidInputError(
            f"{exc}\nSet SKMM_DATA to the folder holding the data (e.g. ../shared/data), or "
            "load it once with download_if_missing=True from Python."
        ) from exc
    if n_samples < len(X):
        rows = np.random.RandomState(random_state).permutation(len(X))[:n_samples]
        X, y = X.iloc[rows].reset_index(drop=True), y[rows]
    return X, y, f"{data_name} ({len(X)} rows, {len(np.unique(y))} classes)"


def build_models(data_name, max_epochs=30, random_state=0):
    """{label: (fusion level, estimator)} for the comparison."""
    from .fusion import make_late_fusion, make_modality_union
    from .nets import FusionNetClassifier

    extractors = _extractors(data_name)

    def net(**params):
        return FusionNetClassifier(hidden_sizes=(64,), max_epochs=max_epochs, lr=3e-3,
                                   random_state=random_state, **params)

    def linear():
        return LogisticRegression(max_iter=1000, C=0.5)

    def for_linear(extractor):  # a linear model reads categories best one-hot
        if isinstance(extractor, tuple):
            return (clone(extractor[0]).set_params(max_onehot=256), extractor[1])
        return extractor

    models = {}
    for name, extractor in extractors.items():
        models[f"{name} only"] = ("single", make_pipeline(
            make_modality_union({name: for_linear(extractor)}), StandardScaler(), linear()))
    models["early fusion (concat features)"] = ("feature", make_pipeline(
        make_modality_union({name: for_linear(e) for name, e in extractors.items()}),
        StandardScaler(), net(fusion="concat")))
    models["late fusion (stacking)"] = ("model", make_late_fusion(
        {name: _late_entry(for_linear(extractor), StandardScaler(), linear())
         for name, extractor in extractors.items()},
        final_estimator=net(), cv=3, random_state=random_state))
    # the layer-level net at its defaults (a branch per modality, fused by concatenation
    # under a linear head): one fit per fold, no search, to be compared with the others
    # at their own cost
    models["layer fusion (net)"] = ("layer", make_pipeline(
        make_modality_union(extractors),
        FusionNetClassifier(max_epochs=max_epochs, random_state=random_state)))
    return models


def _late_entry(extractor, *steps):
    """A base model of late fusion: the extractor's pipeline, on its columns if it names any."""
    if isinstance(extractor, tuple):
        return make_pipeline(extractor[0], *steps), extractor[1]
    return make_pipeline(extractor, *steps)


def run_comparison(X, y, models, cv=3, random_state=0, cache=None, verbose=True):
    """Cross-validate every model; return a DataFrame (model, level, mean, std, fit time)."""
    from ._config import config_context
    from .cache import FeatureCache

    folds = StratifiedKFold(cv, shuffle=True, random_state=random_state)
    rows = []
    with tempfile.TemporaryDirectory(prefix="skmm-demo-cache-") as tmp:
        store = cache if cache is not None else FeatureCache(tmp)
        with config_context(cache=store):
            for label, (level, model) in progress(models.items(), verbose, total=len(models),
                                                  desc="models"):
                start = time.perf_counter()
                result = cross_validate(model, X, y, cv=folds, scoring="accuracy")
                rows.append({
                    "model": label, "level": level,
                    "accuracy_mean": float(np.mean(result["test_score"])),
                    "accuracy_std": float(np.std(result["test_score"])),
                    "fit_time_s": float(np.sum(result["fit_time"])),
                    "wall_time_s": time.perf_counter() - start,
                })
    return pd.DataFrame(rows)


def format_table(table):
    lines = [f"{'model':<38} {'level':<8} {'CV accuracy':>15} {'fit time':>9}"]
    lines.append("-" * len(lines[0]))
    for row in table.itertuples():
        lines.append(
            f"{row.model:<38} {row.level:<8} {row.accuracy_mean:>8.3f} ± {row.accuracy_std:.3f}"
            f" {row.fit_time_s:>8.1f}s"
        )
    return "\n".join(lines)


def best_line(table):
    """The sentence naming the best model, or every model tied at the best accuracy.

    Examples
    --------
    >>> table = pd.DataFrame({"model": ["a only", "b", "c"], "level": ["single", "model", "layer"],
    ...                       "accuracy_mean": [0.5, 0.8, 0.8]})
    >>> best_line(table)
    'Best: b and c, tied at 0.800, +0.300 over the best single modality.'
    """
    scores = table["accuracy_mean"].to_numpy()
    tied = table.loc[np.isclose(scores, scores.max(), rtol=0, atol=1e-9), "model"].tolist()
    names = tied[0] if len(tied) == 1 else ", ".join(tied[:-1]) + f" and {tied[-1]}, tied"
    best_single = table.loc[table["level"] == "single", "accuracy_mean"].max()
    return (f"Best: {names} at {scores.max():.3f}, {scores.max() - best_single:+.3f} over the "
            "best single modality.")


def plot_comparison(table, path, title):
    """Save a horizontal bar chart of the comparison as a PNG."""
    from ._deps import import_optional

    matplotlib = import_optional("matplotlib", "plot", "the demo's bar chart")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"single": "#9E9E9E", "feature": "#4C72B0", "model": "#DD8452", "layer": "#55A868"}
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(table) + 1.6))
    order = table.iloc[::-1]
    ax.barh(order["model"], order["accuracy_mean"], xerr=order["accuracy_std"],
            color=[colours[level] for level in order["level"]], capsize=3)
    for i, (value, std) in enumerate(zip(order["accuracy_mean"], order["accuracy_std"])):
        ax.text(value + std + 0.015, i, f"{value:.3f}", va="center", fontsize=9)
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("cross-validated accuracy (mean ± std)")
    ax.set_title(title, fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    ax.legend(handles, ["single modality", "feature level", "model level", "layer level"],
              loc="upper right", fontsize=8, framealpha=0.95)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
