"""Accuracy benchmark: FusionNetRegressor's target scaling.

A multimodal regression: two blocks of standardised features (``image__f00..f15`` and
``audio__f0..f7``, so the net builds one branch per block), and a target that adds a
nonlinear function of each block plus noise, rescaled to a given mean and standard deviation:
mean 10 and std 5 ("units"), and the same times 1000 plus 500 ("thousands"). The regressor
with its defaults is trained with ``target_scaling=True`` (the default) and ``False``, and
against scikit-learn's ``TransformedTargetRegressor(StandardScaler())`` around the unscaled net
and the plain ``Ridge`` and ``MLPRegressor((256,))`` after a ``StandardScaler``. R² on the
training rows and on held-out rows (``KFold(3, shuffle=True)``), mean over the folds and seeds.
No data needed; an accuracy benchmark (no load gate).
"""

import numpy as np

from ._harness import torch_threads

SIZES = {  # rows, seeds, net epochs (None: the nets' defaults)
    "full": dict(n=1500, seeds=3, epochs=None),
    "quick": dict(n=600, seeds=1, epochs=None),
    "tiny": dict(n=90, seeds=1, epochs=2),
}
TARGETS = {"units": (10.0, 5.0), "thousands": (10_500.0, 5_000.0)}
SCALED = "FusionNetRegressor (target_scaling=True)"
RAW = "FusionNetRegressor (target_scaling=False)"
TTR = "TransformedTargetRegressor(StandardScaler) around target_scaling=False"
RIDGE, MLP = "Ridge on the features", "MLPRegressor((256,)) on the features"
METHODS = (SCALED, RAW, TTR, RIDGE, MLP)


def make_data(n, mean, std, seed):
    """A DataFrame of two prefixed blocks and a target of the given mean and std."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    image, audio = rng.normal(size=(n, 16)), rng.normal(size=(n, 8))
    signal = (np.tanh(image[:, :4] @ rng.normal(size=4)) + np.sin(audio[:, :3] @ rng.normal(size=3))
              + 0.5 * image[:, 5] * audio[:, 2] + 0.2 * rng.normal(size=n))
    y = mean + std * (signal - signal.mean()) / signal.std()
    columns = [f"image__f{i:02d}" for i in range(16)] + [f"audio__f{i}" for i in range(8)]
    return pd.DataFrame(np.hstack([image, audio]).astype(np.float32), columns=columns), y


def make_model(method, seed, epochs):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import Ridge
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skmm.nets import FusionNetRegressor

    params = dict(random_state=seed, device="cpu")
    if epochs is not None:
        params["max_epochs"] = epochs
    if method == SCALED:
        return FusionNetRegressor(**params)
    if method == RAW:
        return FusionNetRegressor(target_scaling=False, **params)
    if method == TTR:
        return TransformedTargetRegressor(FusionNetRegressor(target_scaling=False, **params),
                                          transformer=StandardScaler())
    if method == RIDGE:
        return make_pipeline(StandardScaler(), Ridge())
    return make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(256,),
                                                        random_state=seed, max_iter=500))


def run(session):
    """Run the target-scaling benchmark; return (title, Markdown body lines)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold

    c = session.pick(SIZES)
    seeds = list(range(session.repeats_or(c["seeds"])))
    scores = {(t, m): {"train": [], "test": []} for t in TARGETS for m in METHODS}
    session.sample_load()
    for target, (mean, std) in TARGETS.items():
        for seed in seeds:
            X, y = make_data(c["n"], mean, std, seed)
            for train, test in KFold(3, shuffle=True, random_state=seed).split(X):
                for method in METHODS:
                    model = make_model(method, seed, c["epochs"])
                    with torch_threads(1), warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        model.fit(X.iloc[train], y[train])
                    cell = scores[(target, method)]
                    cell["train"].append(r2_score(y[train], model.predict(X.iloc[train])))
                    cell["test"].append(r2_score(y[test], model.predict(X.iloc[test])))
        session.sample_load()
    lines = [f"{c['n']} rows, seeds {seeds}, KFold(3, shuffle=True); nets: "
             + ("their default epochs" if c["epochs"] is None else f"max_epochs={c['epochs']}")
             + ", device cpu, one torch thread. R² is the mean over folds and seeds."]
    for target, (mean, std) in TARGETS.items():
        lines += ["", f"### target of mean {mean:g} and std {std:g} ({target})", "",
                  "| method | train R² | held-out R² |", "|---|---|---|"]
        for method in METHODS:
            cell = scores[(target, method)]
            lines.append(f"| {method} | {np.mean(cell['train']):.3f} | "
                         f"{np.mean(cell['test']):.3f} |")
        session.add_row(f"held-out R², {target}", RAW, np.mean(scores[(target, RAW)]["test"]),
                        np.mean(scores[(target, SCALED)]["test"]), measure="R²")
    return "FusionNetRegressor's target scaling (synthetic multimodal regression)", lines
