"""Ablation of the nets' tabular recipe on real tables (Adult, California housing).

One named configuration per call: ``TabularEncoder(**encoder)`` in ``make_modality_union``
-> ``FusionNet{Classifier,Regressor}(random_state=seed, **net)``, against
``HistGradientBoosting`` (categories declared) fitted on the same folds in the same run,
paired fold by fold (HGB, net, HGB, net, ...).

Protocol (the issue's): Adult with ``StratifiedKFold(3, shuffle=True, random_state=0)``
(accuracy, ROC AUC), California with ``KFold(3, shuffle=True, random_state=0)`` (R²); the
figures are means over the folds; fit seconds are per fold; the ratio to HGB's fit time is
the median of the per-fold ratios. The load average (1 min) is read before and after; a
row is marked NOISY when it went above 2 (the machine has 2 cores).

Usage::

    SKMM_DATA=../shared/data python benchmarks/ablation_tables.py NAME \
        [--data adult|california|both] [--net JSON] [--encoder JSON] [--seeds 0 1]

``--net`` takes net parameters as JSON, plus ``"lr_schedule": "onecycle"|"cosine"``
(skorch's ``LRScheduler`` callback, stepped per batch / per epoch).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

# this checkout's skmm, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).parent / "results" / "real_ablation.md"
HEADER = ("| configuration | data | seed(s) | metrics (mean over 3 folds) | fit s/fold | "
          "HGB fit s/fold | HGB metrics | ratio to HGB fit | load before/after | note |\n"
          "|---|---|---|---|---|---|---|---|---|---|\n")


def _callbacks(net_params, n_rows, batch_size, max_epochs):
    from skorch.callbacks import LRScheduler

    schedule = net_params.pop("lr_schedule", None)
    if schedule is None:
        return None
    if schedule == "onecycle":
        steps = int(np.ceil(n_rows / batch_size)) * max_epochs
        return [LRScheduler(policy=torch.optim.lr_scheduler.OneCycleLR, step_every="batch",
                            max_lr=net_params.get("lr", 1e-3), total_steps=steps + 5)]
    if schedule == "cosine":
        return [LRScheduler(policy=torch.optim.lr_scheduler.CosineAnnealingLR,
                            step_every="epoch", T_max=max_epochs)]
    raise ValueError(f"unknown lr_schedule {schedule!r}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--data", default="both", choices=["adult", "california", "both"])
    parser.add_argument("--net", default="{}")
    parser.add_argument("--encoder", default="{}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    _warm_up()
    datas = ["adult", "california"] if args.data == "both" else [args.data]
    for data in datas:
        load_before = os.getloadavg()[0]
        rows = [run_one(data, json.loads(args.net), json.loads(args.encoder), seed)
                for seed in args.seeds]
        load_after = os.getloadavg()[0]
        report(args, data, rows, load_before, load_after)


def _warm_up():
    """One tiny fit, so that no fold pays the one-off imports (torch._dynamo: ~5 s)."""
    from skmm.nets import FusionNetRegressor

    X = np.random.RandomState(0).normal(size=(64, 3)).astype(np.float32)
    FusionNetRegressor(max_epochs=1, random_state=0).fit(X, X[:, 0])


def run_one(data, net_params, encoder_params, seed):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.pipeline import make_pipeline

    from skmm.datasets import load_adult, load_california_housing
    from skmm.fusion import make_modality_union
    from skmm.nets import FusionNetClassifier, FusionNetRegressor
    from skmm.tabular import TabularEncoder

    if data == "adult":
        X, y = load_adult(return_X_y=True)
        y = np.asarray(y)
        folds = StratifiedKFold(3, shuffle=True, random_state=0).split(X, y)
        Net, HGB = FusionNetClassifier, HistGradientBoostingClassifier
    else:
        X, y = load_california_housing(return_X_y=True)
        y = np.asarray(y, dtype=float)
        folds = KFold(3, shuffle=True, random_state=0).split(X)
        Net, HGB = FusionNetRegressor, HistGradientBoostingRegressor
    out = {"net": [], "hgb": [], "net_s": [], "hgb_s": [], "epochs": []}
    for train, test in folds:
        Xtr, Xte, ytr, yte = X.iloc[train], X.iloc[test], y[train], y[test]
        hgb = HGB(categorical_features="from_dtype", random_state=seed)
        start = time.perf_counter()
        hgb.fit(Xtr, ytr)
        out["hgb_s"].append(time.perf_counter() - start)
        out["hgb"].append(_score(data, hgb, Xte, yte))
        params = dict(net_params)
        callbacks = _callbacks(params, int(0.8 * len(train)) if params.get("early_stopping")
                               else len(train), params.get("batch_size", 128),
                               params.get("max_epochs", 20))
        if callbacks:
            params["callbacks"] = callbacks
        model = make_pipeline(
            make_modality_union({"table": (TabularEncoder(**encoder_params), list(X.columns))}),
            Net(random_state=seed, **params))
        start = time.perf_counter()
        model.fit(Xtr, ytr)
        out["net_s"].append(time.perf_counter() - start)
        out["net"].append(_score(data, model, Xte, yte))
        out["epochs"].append(len(model[-1].history))
        print(f"  {data} seed {seed} fold: net {out['net'][-1]} {out['net_s'][-1]:.1f}s "
              f"({out['epochs'][-1]} epochs), hgb {out['hgb'][-1]} {out['hgb_s'][-1]:.2f}s",
              flush=True)
    return out


def _score(data, model, X, y):
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    if data == "adult":
        proba = model.predict_proba(X)
        labels = model.classes_[proba.argmax(1)]
        return (round(accuracy_score(y, labels), 4),
                round(roc_auc_score(y == model.classes_[1], proba[:, 1]), 4))
    return (round(r2_score(y, model.predict(X)), 4),)


def _fmt(values, names):
    mean = np.mean(values, axis=0)
    return ", ".join(f"{n} {m:.4f}" for n, m in zip(names, mean))


def report(args, data, rows, load_before, load_after):
    names = ("acc", "AUC") if data == "adult" else ("R2",)
    net = [v for r in rows for v in r["net"]]
    hgb = [v for r in rows for v in r["hgb"]]
    net_s = [v for r in rows for v in r["net_s"]]
    hgb_s = [v for r in rows for v in r["hgb_s"]]
    ratio = float(np.median(np.asarray(net_s) / np.asarray(hgb_s)))
    noisy = max(load_before, load_after) > 2
    epochs = [v for r in rows for v in r["epochs"]]
    note = ("NOISY " if noisy else "") + f"epochs {min(epochs)}-{max(epochs)}"
    config = f"`{args.name}` net={args.net} enc={args.encoder}"
    line = (f"| {config} | {data} | {' '.join(map(str, args.seeds))} | {_fmt(net, names)} | "
            f"{np.mean(net_s):.1f} | {np.mean(hgb_s):.2f} | {_fmt(hgb, names)} | {ratio:.1f}x | "
            f"{load_before:.2f}/{load_after:.2f} | {note} |\n")
    print(line, end="")
    if args.no_write:
        return
    RESULTS.parent.mkdir(exist_ok=True)
    if not RESULTS.exists():
        RESULTS.write_text("# Real tables: ablation of the nets' tabular recipe\n\n"
                           "Written by `benchmarks/ablation_tables.py` (protocol in its "
                           "docstring). Machine: 2 shared cores, torch on 1 thread.\n\n"
                           + HEADER)
    with RESULTS.open("a") as f:
        f.write(line)


if __name__ == "__main__":
    sys.exit(main())
