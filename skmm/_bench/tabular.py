"""Accuracy benchmark: a table's own columns as a modality of the layer-level net.

Data: ``make_multimodal_classification(modalities=("image", "audio", "price", "category"),
missing=0.1)``: 4 classes, each of image, audio and the table (a price and a category that
agree, together) shows a coarse view of the class, and only the three together identify it.
Two scenarios:

* "plain": no shortcut; 6 groups drawn at random (they carry no shift, so the group folds are
  a control: they should agree with the shuffled ones);
* "audio shortcut": the audio identifies (group, class) on the 6 groups, a cue that misleads
  on a held-out group (see the generator's description), where image and table must carry
  the class.

Features are extracted once per scenario (stateless extractors: ``ImagePixels(size=8)``,
``AudioLogMel(n_mels=16, stats=("mean", "std"), add_indicator=True)``, and for the table
``TabularEncoder()``, the category as codes, or ``TabularEncoder(max_onehot=64)``, one-hot;
the encoders' statistics come from the whole table, which leaks nothing of the labels). Folds:
``GroupKFold(3)`` over the groups and ``StratifiedKFold(3, shuffle=True)``, over several seeds.

Methods: the layer-level ``FusionNetClassifier`` at its defaults on image + audio (no
table), on image + audio + table with the category embedded (the ``"tabular"`` branch), the
same with ``balance="ume"`` (given the groups under group folds), and with the category one-hot
(an MLP branch); and the plain baselines a user has, on the same
features concatenated: ``LogisticRegression`` and ``MLPClassifier((256,))`` after a
``StandardScaler`` (the table one-hot), and ``HistGradientBoostingClassifier`` (the table's
category as codes, declared categorical). An accuracy benchmark: the environment and load are
recorded, no load gate applies.
"""

import time
import warnings

import numpy as np

from ._harness import torch_threads

SIZES = {  # rows, seeds, net epochs (None: the nets' defaults), workers
    "full": dict(n=1200, seeds=3, epochs=None, jobs=2),
    "quick": dict(n=600, seeds=1, epochs=None, jobs=2),
    "tiny": dict(n=120, seeds=1, epochs=2, jobs=1),
}
SCENARIOS = {"plain": None, "audio shortcut": "audio"}
FOLD_KINDS = ("group", "shuffled")
N_FOLDS, N_GROUPS = 3, 6

NO_TABLE = "layer-level net, image + audio (no table)"
EMBEDDED = "layer-level net + table, category embedded"
ONEHOT = "layer-level net + table, category one-hot"
UME = "layer-level net + table, category embedded, balance='ume'"
LR, MLP, HGB = "LR on concat", "MLP on concat", "HistGradientBoosting on concat"
METHODS = (NO_TABLE, EMBEDDED, ONEHOT, UME, LR, MLP, HGB)
BASELINES = (LR, MLP, HGB)


def features(shortcut, n, seed=0):
    """``(frames by name, y, groups)``: media, coded table and one-hot table features."""
    from skmm import AudioLogMel, ImagePixels, TabularEncoder, make_modality_union
    from skmm.datasets import make_multimodal_classification

    data = make_multimodal_classification(
        n_samples=n, modalities=("image", "audio", "price", "category"), missing=0.1,
        image_size=8, audio_duration=0.1, shortcut=shortcut, n_groups=N_GROUPS,
        random_state=seed)
    media = make_modality_union({
        "image": ImagePixels(size=8),
        "audio": AudioLogMel(n_mels=16, stats=("mean", "std"), add_indicator=True)})
    table = ["price", "category"]
    coded = make_modality_union({"shop": (TabularEncoder(), table)})
    onehot = make_modality_union({"shop": (TabularEncoder(max_onehot=64), table)})
    frames = {"media": media.fit_transform(data.data), "coded": coded.fit_transform(data.data),
              "onehot": onehot.fit_transform(data.data)}
    return frames, data.target, data.groups


def splits(kind, y, groups, seed):
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    if kind == "group":
        return list(GroupKFold(N_FOLDS).split(y, y, groups))
    return list(StratifiedKFold(N_FOLDS, shuffle=True, random_state=seed).split(y, y))


def make_model(method, seed, epochs):
    """``(model, feature frames it reads)``."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skmm.nets import FusionNetClassifier

    params = {} if epochs is None else {"max_epochs": epochs}
    net = FusionNetClassifier(random_state=seed, device="cpu", **params)
    if method == NO_TABLE:
        return net, ("media",)
    if method == EMBEDDED:
        return net, ("media", "coded")
    if method == UME:
        return net.set_params(balance="ume"), ("media", "coded")
    if method == ONEHOT:
        return net, ("media", "onehot")
    one_hot = ("media", "onehot")
    if method == LR:
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), one_hot
    if method == MLP:
        return make_pipeline(StandardScaler(), MLPClassifier((256,), random_state=seed)), one_hot
    return HistGradientBoostingClassifier(categorical_features=["shop__code:category"],
                                          random_state=seed), ("media", "coded")


def run_one(task, frames, y, groups, train, test, epochs):
    """Fit one method on one fold; its accuracy on the held-out rows."""
    import pandas as pd
    from sklearn.exceptions import ConvergenceWarning

    scenario, kind, seed, fold, method = task
    model, parts = make_model(method, seed, epochs)
    X = pd.concat([frames[p] for p in parts], axis=1)
    with torch_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        fit_params = {"groups": groups[train]} if method == UME and kind == "group" else {}
        model.fit(X.iloc[train], y[train], **fit_params)
        fit_time = time.perf_counter() - start
        accuracy = float(np.mean(model.predict(X.iloc[test]) == y[test]))
    return {"scenario": scenario, "kind": kind, "seed": seed, "fold": fold, "method": method,
            "accuracy": accuracy, "fit_time": fit_time}


def run(session):
    """Run the tabular benchmark; return (title, Markdown body lines)."""
    from joblib import Parallel, delayed

    c = session.pick(SIZES)
    seeds = list(range(session.repeats_or(c["seeds"])))
    data = {name: features(shortcut, c["n"]) for name, shortcut in SCENARIOS.items()}
    session.sample_load()
    jobs = [((scenario, kind, seed, fold, method), train, test)
            for scenario, (frames, y, groups) in data.items() for kind in FOLD_KINDS
            for seed in seeds
            for fold, (train, test) in enumerate(splits(kind, y, groups, seed))
            for method in METHODS]
    session.echo(f"{len(jobs)} fits, {c['jobs']} at a time")
    t0 = time.perf_counter()
    results = Parallel(n_jobs=c["jobs"])(
        delayed(run_one)(task, *data[task[0]], train, test, c["epochs"])
        for task, train, test in sorted(jobs, key=lambda job: job[0][4] != UME))
    wall = time.perf_counter() - t0
    session.sample_load()
    table = summarise(results, seeds)
    lines = report(table, seeds, c, wall)
    for (scenario, kind), cell in table.items():
        session.add_row(f"table embedded vs no table, {scenario}, {kind}", NO_TABLE,
                        cell[NO_TABLE][0], cell[EMBEDDED][0], measure="accuracy")
        best = max(BASELINES, key=lambda m: cell[m][0])
        session.add_row(f"table embedded vs best baseline, {scenario}, {kind}", best,
                        cell[best][0], cell[EMBEDDED][0], measure="accuracy")
    return "A table's own columns in the layer-level net (synthetic)", lines


def summarise(results, seeds):
    """``{(scenario, kind): {method: (mean, sd, fit time)}}``: each seed's accuracy is the mean
    over its folds; mean and sd over seeds."""
    table = {}
    for scenario in SCENARIOS:
        for kind in FOLD_KINDS:
            cell = table.setdefault((scenario, kind), {})
            for method in METHODS:
                rows = [r for r in results
                        if (r["scenario"], r["kind"], r["method"]) == (scenario, kind, method)]
                per_seed = [np.mean([r["accuracy"] for r in rows if r["seed"] == s])
                            for s in seeds]
                sd = float(np.std(per_seed, ddof=1)) if len(seeds) > 1 else float("nan")
                cell[method] = (float(np.mean(per_seed)), sd,
                                float(np.mean([r["fit_time"] for r in rows])))
    return table


def report(table, seeds, c, wall):
    lines = [
        f"{c['n']} rows per scenario, {len(seeds)} seed(s) ({', '.join(map(str, seeds))}), "
        f"{N_FOLDS} folds; each seed's accuracy is the mean over its folds, then mean ± sd "
        "(ddof=1) over seeds. Nets: " + ("their default epochs" if c["epochs"] is None else
                                         f"max_epochs={c['epochs']}")
        + f", device cpu, one torch thread per fit, {c['jobs']} fits at a time; {wall / 60:.1f} "
        "min of wall time (fit times are indicative only).",
    ]
    for (scenario, kind), cell in table.items():
        lines += ["", f"### {scenario}, {kind} folds", "",
                  "| method | accuracy (mean) | sd over seeds | fit time per fold (s) |",
                  "|---|---|---|---|"]
        for method in METHODS:
            mean, sd, fit = cell[method]
            sd = "-" if np.isnan(sd) else f"{sd:.4f}"
            lines.append(f"| {method} | {mean:.4f} | {sd} | {fit:.2f} |")
    return lines
