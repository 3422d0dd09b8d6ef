"""The README's recipe averaged over several seeds, on the real tables (Adult, California).

Each fold fits the recipe (``skmm._bench.real.make_model``: ``TabularEncoder`` in
``make_modality_union`` -> ``FusionNet{Classifier,Regressor}``) ``K`` times, member ``i``
with ``random_state = seed + 1000 * i`` (member 0 is the recipe as the real-data benchmark
fits it), and scores the mean of the first 1, 2, ..., K members' predictions (the
probabilities for Adult): what ``VotingClassifier(voting="soft")`` or ``VotingRegressor``
over those members predicts. ``HistGradientBoosting*`` on the same folds for reference.
Accuracy and ROC AUC (Adult), R² (California); an ensemble of k members costs k fits.

Usage::

    SKMM_DATA=../shared/data python benchmarks/ablation_ensemble.py [--data adult california] \
        [--seeds 0 1 2] [--members 3]
"""

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import r2_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout

from skmm._bench import real  # noqa: E402


def member_predictions(name, X, y, train, test, seed, members):
    """Each member's held-out predictions (probabilities of class 1 for Adult)."""
    out = []
    for i in range(members):
        model, _ = real.make_model(name, real.RECIPE, seed + 1000 * i, None, X.columns)
        model.fit(X.iloc[train], y[train])
        out.append(model.predict(X.iloc[test]) if name == "california"
                   else model.predict_proba(X.iloc[test])[:, 1])
    return out


def metrics(name, y_test, predicted):
    if name == "california":
        return (r2_score(y_test, predicted),)
    return (float(np.mean((predicted > 0.5) == y_test)), roc_auc_score(y_test, predicted))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["adult", "california"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--members", type=int, default=3)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for name in args.data:
        X, y, groups = real.load(name, None)
        rows = {k: [] for k in ["HGB", *(f"{k} member(s)" for k in range(1, args.members + 1))]}
        for seed in args.seeds:
            for train, test in real.splits(name, y, groups, seed):
                hgb, _ = real.make_model(name, real.HGB, seed, None, X.columns)
                hgb.fit(X.iloc[train], y[train])
                rows["HGB"].append(metrics(name, y[test], hgb.predict(X.iloc[test])
                                           if name == "california"
                                           else hgb.predict_proba(X.iloc[test])[:, 1]))
                preds = member_predictions(name, X, y, train, test, seed, args.members)
                for k in range(1, args.members + 1):
                    rows[f"{k} member(s)"].append(metrics(name, y[test], np.mean(preds[:k], 0)))
            print(name, "seed", seed, {label: np.round(np.mean(v[-3:], 0), 4).tolist()
                                       for label, v in rows.items()}, flush=True)
        names = "R²" if name == "california" else "accuracy, AUC"
        print(f"MEAN {name} ({names}; seeds {args.seeds}, 3 folds each):")
        for label, v in rows.items():
            print(f"  {label:12s}", np.round(np.mean(v, 0), 4).tolist())
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
