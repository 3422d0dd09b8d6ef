"""The demo's comparison over several seeds of its synthetic table.

``python -m skmm demo`` draws one table (``--random-state 0``). This script runs the same
models (``skmm._demo.build_models``, the CLI's 25 epochs, 480 rows, 3 folds) on the tables
drawn with other seeds, so that the demo's ranking can be read with its spread: for each
model the mean accuracy over seeds, and for the layer-level net against stacking the
per-seed accuracies and the seeds where the net is at or above stacking. Accuracy only
(the fit times are the demo's own). Writes ``benchmarks/results/demo_seeds.md``.

``--variants`` adds rows: the demo's layer-level net with other parameters (JSON: label ->
parameters of its ``FusionNetClassifier``). A variant holding ``"_refit": true`` is fitted
twice in each fold: with its parameters (early stopping among them), then on every training
row for the epoch count that did best on the held-out split.

Usage::

    python benchmarks/demo_seeds.py [--seeds 0 1 2 3 4 5 6 7] \
        [--variants '{"ogm-ge": {"balance": "ogm-ge"}}'] [--results PATH]
"""

import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import make_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout

from skmm._demo import build_models, load_demo_data, run_comparison  # noqa: E402
from skmm.cache import FeatureCache  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "demo_seeds.md"
NET, STACKING = "layer fusion (net)", "late fusion (stacking)"


class EpochsFromHoldout(BaseEstimator):
    """``net`` fitted with early stopping, then refitted on every row for its best epoch count
    (also used by ``ablation_small.py``'s ``"_refit"`` configurations)."""

    def __init__(self, net):
        self.net = net

    def fit(self, X, y, **fit_params):
        probe = clone(self.net).fit(X, y, **fit_params)
        self.best_epochs_ = int(np.argmin(probe.history[:, "valid_loss"])) + 1
        self.net_ = clone(self.net).set_params(max_epochs=self.best_epochs_,
                                               early_stopping=None).fit(X, y, **fit_params)
        return self

    def predict(self, X):
        return self.net_.predict(X)

    def predict_proba(self, X):
        return self.net_.predict_proba(X)


def with_variants(models, variants):
    """The demo's models, and its layer-level net once more for each variant."""
    union, net = models[NET][1].steps[0][1], models[NET][1].steps[-1][1]
    for label, params in variants.items():
        params = dict(params)
        refit = params.pop("_refit", False)
        variant = clone(net).set_params(**params)
        if refit:
            variant = EpochsFromHoldout(variant)
        models[f"{NET}, {label}"] = ("layer", make_pipeline(clone(union), variant))
    return models


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    parser.add_argument("--max-epochs", type=int, default=25)
    parser.add_argument("--variants", type=json.loads, default={})
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    load = os.getloadavg()[0]
    scores = {}
    with tempfile.TemporaryDirectory(prefix="skmm-demo-seeds-") as tmp:
        cache = FeatureCache(tmp)
        for seed in args.seeds:
            X, y, _ = load_demo_data("synthetic", 480, seed)
            models = with_variants(build_models("synthetic", args.max_epochs, 0), args.variants)
            table = run_comparison(X, y, models, cv=3, random_state=0, cache=cache,
                                   verbose=False)
            for row in table.itertuples():
                scores.setdefault(row.model, []).append(row.accuracy_mean)
            print(seed, {m: round(v[-1], 3) for m, v in scores.items()}, flush=True)
    net, stacking = np.array(scores[NET]), np.array(scores[STACKING])
    at_or_above = [s for s, a, b in zip(args.seeds, net, stacking) if a >= b - 1e-9]
    lines = [
        "# The demo over seeds of its synthetic table",
        "",
        f"Written by `benchmarks/demo_seeds.py` (seeds {' '.join(map(str, args.seeds))}; "
        f"{args.max_epochs} epochs, 480 rows, 3 folds, as `python -m skmm demo`"
        + (f"; variants {json.dumps(args.variants)}" if args.variants else "") + "). "
        f"Load average before: {load:.2f}, after: {os.getloadavg()[0]:.2f}. Accuracy only.",
        "",
        "| model | mean accuracy over seeds | sd | min |",
        "|---|---|---|---|",
        *(f"| {m} | {np.mean(v):.4f} | {np.std(v):.4f} | {np.min(v):.3f} |"
          for m, v in scores.items()),
        "",
        "| seed | " + " | ".join(map(str, args.seeds)) + " |",
        "|---|" + "---|" * len(args.seeds),
        f"| {STACKING} | " + " | ".join(f"{v:.3f}" for v in stacking) + " |",
        *(f"| {m} | " + " | ".join(f"{v:.3f}" for v in scores[m]) + " |"
          for m in scores if m.startswith(NET)),
        "",
        f"The net is at or above stacking on {len(at_or_above)} of {len(args.seeds)} seeds "
        f"({', '.join(map(str, at_or_above)) or 'none'}); mean difference "
        f"{np.mean(net - stacking):+.4f} (sd {np.std(net - stacking):.4f}).",
        "",
    ]
    args.results.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
