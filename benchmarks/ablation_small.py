"""The nets' recipe on small subsamples of the real sets, against candidate settings.

Each configuration (JSON: label -> net parameters) is fitted as the real-data benchmark's
"recipe" (``skmm._bench.real.make_model``) on ``N`` rows drawn from each data set (5 draws),
with that benchmark's folds (speaker-held-out for AV-Digits); LogisticRegression / Ridge
and HistGradientBoosting on the same rows and folds. Prints each draw and the mean (sd)
over draws. Accuracy (R² for California) only: no times.

A configuration holding ``"_refit": true`` is fitted twice: with its parameters (early
stopping among them, to choose the number of epochs on a held-out split), then again on
every training row for the epoch count that did best on that split
(``max_epochs=<best epoch>, early_stopping=None``).

Usage::

    SKMM_DATA=../shared/data python benchmarks/ablation_small.py \
        '{"base": {}, "narrow": {"branches__hidden": 64, "dropout": 0.3}}' \
        adult,california,av_digits [N=480] [DRAWS=5]
"""
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout
from skmm._bench import real  # noqa: E402

from demo_seeds import EpochsFromHoldout  # noqa: E402  (this folder is on sys.path)


def main():
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    configs = json.loads(sys.argv[1])
    names = sys.argv[2].split(",")
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 480
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    for name in names:
        res = {k: [] for k in ["LR/Ridge", "HGB", *configs]}
        for rep in range(reps):
            if name == "av_digits":
                X, y, groups = real.load(name, None)
                keep = np.sort(np.random.default_rng(rep).choice(len(y), n, replace=False))
                X, y, groups = X.iloc[keep].reset_index(drop=True), y[keep], groups[keep]
            else:
                X, y, groups = real.load(name, None)
                keep = real._subsample(len(y), n, seed=rep, y=None if name == "california" else y)
                X, y = X.iloc[keep].reset_index(drop=True), y[keep]
            folds = real.splits(name, y, groups, rep)
            for label in res:
                vals = []
                for train, test in folds:
                    if label == "HGB":
                        model, tg = real.make_model(name, real.HGB, rep, None, X.columns)
                    elif label == "LR/Ridge":
                        model, tg = real.make_model(name, real.RIDGE if name == "california" else real.LR, rep, None, X.columns)
                    else:
                        model, tg = real.make_model(name, real.RECIPE, rep, None, X.columns)
                        net = model.steps[-1][1] if hasattr(model, "steps") else model
                        params = dict(configs[label])
                        refit = params.pop("_refit", False)
                        net.set_params(**params)
                        if refit and hasattr(model, "steps"):
                            model.steps[-1] = (model.steps[-1][0], EpochsFromHoldout(net))
                        elif refit:
                            model = EpochsFromHoldout(net)
                    if name == "ag_news" and label == "HGB":
                        continue
                    fp = {}
                    if tg and groups is not None:
                        fp = {"groups": groups[train]} if not hasattr(model, "steps") else {f"{model.steps[-1][0]}__groups": groups[train]}
                    model.fit(X.iloc[train], y[train], **fp)
                    pred = model.predict(X.iloc[test])
                    s = real.scores(name, model, X.iloc[test], y[test], pred)
                    vals.append(list(s.values())[0])
                if vals:
                    res[label].append(np.mean(vals))
            print(name, rep, {k: round(v[-1], 4) for k, v in res.items() if v}, flush=True)
        print("MEAN", name, n, {k: (round(float(np.mean(v)), 4), round(float(np.std(v)), 4)) for k, v in res.items() if v}, flush=True)


if __name__ == "__main__":
    main()
