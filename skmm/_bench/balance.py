"""Accuracy benchmark: balanced multimodal training on AV-Digits (clean and hard).

The protocol a reviewer of the modality-imbalance literature asks for:

* features extracted ONCE per variant, ``make_modality_union({"image": ImagePixels(size=(28,
  28)), "audio": AudioMFCC(sr=8000, n_mfcc=20, output="stats")})`` with pandas output (both
  extractors are stateless: extracting before the split leaks nothing); every method is then
  cross-validated on the same cached arrays;
* two kinds of outer folds: speaker-held-out ``GroupKFold(3)`` over the 6 speakers ("group")
  and ``StratifiedKFold(3, shuffle=True, random_state=seed)`` ("shuffled");
* inner validation split the same way as the outer folds: under group folds the nets get the
  training fold's speakers as ``fit(..., groups=)`` (their held-out split for early stopping,
  G-Blend and the uni-modal ensemble's weights holds out whole speakers) and late fusion's
  out-of-fold predictions come from ``GroupKFold(3)`` over those speakers; under shuffled
  folds both are stratified and shuffled. No epoch or weight is ever picked on a test fold;
* several seeds (5; ``--quick`` 2; ``--repeats N`` sets the number): the seed drives the
  shuffled folds and every model's ``random_state`` (the group folds are the same partition
  of speakers for every seed, so their spread is the models' own);
* methods, all on the same features: the image-only and audio-only nets
  (``FusionNetClassifier`` with its defaults on one block's columns), ``LogisticRegression``
  and ``MLPClassifier((256,))`` on the standardised concatenation, late fusion (stacking of a
  standardised LogisticRegression per modality under a LogisticRegression), the layer-level
  ``FusionNetClassifier`` with its defaults, and the same with each ``balance`` option
  ("gblend", "ogm-ge", "ume").

Reported, per variant and fold kind: accuracy (each seed's figure is the mean over the outer
folds; then mean and standard deviation over seeds), accuracy on the training fold and the
train - held-out gap (for the single-modality nets: each modality's own gap), and the mean
fit time per fold; then the checks against the baselines (:func:`baseline_checks`).

Each (variant, fold kind, seed, fold, method) fit runs in its own worker on one torch thread
(two workers at once), so fit times of different methods are comparable with each other;
they mean something only when the load stayed below the cores (the file says which).
Reads ``load_av_digits`` (both variants) from the data home (skipped, with the reason, when
absent). An accuracy benchmark: the environment and load are recorded, no load gate applies.
"""

import json
import os
import time
import warnings

import numpy as np

from ._harness import load_real_data, torch_threads

SIZES = {  # rows (None: all 3,000), seeds, outer folds fitted (of 3), net epochs (None: the
    # nets' defaults; else also G-Blend's probe run), workers
    "full": dict(n=None, seeds=5, folds=3, epochs=None, jobs=2),
    "quick": dict(n=None, seeds=2, folds=3, epochs=None, jobs=2),
    "tiny": dict(n=150, seeds=1, folds=1, epochs=2, jobs=1),
}
VARIANTS = ("clean", "hard")
FOLD_KINDS = ("group", "shuffled")
N_FOLDS = 3
BALANCES = ("gblend", "ogm-ge", "ume")

IMAGE, AUDIO = "image-only net", "audio-only net"
LR, MLP, LATE = "LR on concat", "MLP on concat", "late fusion (stacked LR)"
DEFAULT = "layer-level net (balance=None)"  # files before balance="auto": "(default)"
BALANCED = {b: f"layer-level net, balance={b!r}" for b in BALANCES}
SINGLES = (IMAGE, AUDIO)
BASELINES = (IMAGE, AUDIO, LR, MLP, LATE)
LAYER = (DEFAULT, *BALANCED.values())
METHODS = (*BASELINES, *LAYER)
#: the longest fits first, so that the workers finish together
ORDER = (*BALANCED.values(), DEFAULT, IMAGE, AUDIO, MLP, LATE, LR)
FOLD_LABELS = {"group": "speaker-held-out GroupKFold(3)",
               "shuffled": "StratifiedKFold(3, shuffle=True)"}


def extractor():
    """The feature union of this benchmark (pandas output: ``image__...``, ``audio__...``)."""
    from skmm import AudioMFCC, ImagePixels, make_modality_union

    union = make_modality_union({"image": ImagePixels(size=(28, 28)),
                                 "audio": AudioMFCC(sr=8000, n_mfcc=20, output="stats")})
    return union.set_output(transform="pandas")


def subsample(y, n, seed=0):
    """``n`` row indices, the same number of each class (all rows when ``n`` is None)."""
    if n is None:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per_class = n // len(classes)
    keep = [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in classes]
    return np.sort(np.concatenate(keep))


def outer_splits(kind, y, groups, seed):
    """The outer ``(train, test)`` index pairs of fold kind ``kind`` for ``seed``."""
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    if kind == "group":
        return list(GroupKFold(N_FOLDS).split(y, y, groups))
    return list(StratifiedKFold(N_FOLDS, shuffle=True, random_state=seed).split(y, y))


def inner_splits(kind, y, groups, seed):
    """Late fusion's out-of-fold split of a training fold, made the way the outer one was."""
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    if kind == "group":
        return list(GroupKFold(N_FOLDS, shuffle=True, random_state=seed).split(y, y, groups))
    return list(StratifiedKFold(N_FOLDS, shuffle=True, random_state=seed).split(y, y))


def net(seed, epochs, **params):
    """A ``FusionNetClassifier`` with its defaults (fewer epochs at tiny sizes), on the CPU."""
    from skmm.nets import FusionNetClassifier

    if epochs is not None:
        params["max_epochs"] = epochs
        if params.get("balance") == "gblend":
            params.update(balance__probe_epochs=epochs, balance__interval=1)
    return FusionNetClassifier(random_state=seed, device="cpu", **params)


def make_model(method, columns, seed, epochs, inner):
    """``(model, columns it reads, takes groups)`` for ``method``; columns None: a plain array.

    ``inner`` is late fusion's out-of-fold split of the training fold.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skmm import make_late_fusion

    def scaled_lr():
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))

    if method == IMAGE:
        return net(seed, epochs), columns["image"], True
    if method == AUDIO:
        return net(seed, epochs), columns["audio"], True
    if method == LR:
        return scaled_lr(), None, False
    if method == MLP:
        mlp = MLPClassifier((256,), random_state=seed)
        return make_pipeline(StandardScaler(), mlp), None, False
    if method == LATE:
        mapping = {m: (scaled_lr(), columns[m]) for m in ("image", "audio")}
        return (make_late_fusion(mapping, LogisticRegression(max_iter=2000), cv=inner),
                columns["all"], False)
    if method == DEFAULT:  # the unbalanced net (balance="auto" with groups would be "ume")
        return net(seed, epochs, balance=None), columns["all"], True
    balance = next(b for b, name in BALANCED.items() if name == method)
    return net(seed, epochs, balance=balance), columns["all"], True


def run_one(task, values, names, y, groups, train, test, epochs):
    """Fit one method on one outer fold; its accuracy on the training and test rows."""
    from sklearn.exceptions import ConvergenceWarning

    variant, kind, seed, fold, method = task
    columns = {"image": [c for c in names if c.startswith("image__")],
               "audio": [c for c in names if c.startswith("audio__")], "all": list(names)}
    inner = inner_splits(kind, y[train], groups[train], seed)
    model, cols, takes_groups = make_model(method, columns, seed, epochs, inner)

    def view(rows):
        import pandas as pd

        if cols is None:
            return np.asarray(values[rows], dtype=np.float32)
        return pd.DataFrame(values[rows], columns=names)[cols]

    fit_params = {"groups": groups[train]} if takes_groups and kind == "group" else {}
    X_train, X_test = view(train), view(test)
    with torch_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # MLP at 200 iterations, as used
        start = time.perf_counter()
        model.fit(X_train, y[train], **fit_params)
        fit_time = time.perf_counter() - start
        accuracy = float(np.mean(model.predict(X_test) == y[test]))
        train_accuracy = float(np.mean(model.predict(X_train) == y[train]))
    result = {"variant": variant, "kind": kind, "seed": seed, "fold": fold, "method": method,
              "accuracy": accuracy, "train_accuracy": train_accuracy, "fit_time": fit_time}
    if os.environ.get("BENCH_BALANCE_LOG"):  # progress, one JSON line per fit
        with open(os.environ["BENCH_BALANCE_LOG"], "a") as fh:
            fh.write(json.dumps(result) + "\n")
    return result


def load_features(variant, n):
    """(features as a float32 array, their names, targets, speakers) of one variant."""
    from skmm.datasets import load_av_digits

    bunch = load_real_data(load_av_digits, variant=variant)
    keep = subsample(bunch.target, n)
    X = bunch.data.iloc[keep].reset_index(drop=True)
    features = extractor().fit_transform(X)
    groups = np.asarray(bunch.groups[keep]).astype(str)
    return (features.to_numpy(np.float32), list(features.columns), bunch.target[keep], groups)


def run(session):
    """Run the balance benchmark; return (title, Markdown body lines)."""
    from joblib import Parallel, delayed

    c = session.pick(SIZES)
    seeds = list(range(session.repeats_or(c["seeds"])))
    epochs, jobs = c["epochs"], c["jobs"]
    data, extract_time = {}, {}
    for variant in VARIANTS:
        t0 = time.perf_counter()
        data[variant] = load_features(variant, c["n"])
        extract_time[variant] = time.perf_counter() - t0
        session.echo(f"{variant}: features {data[variant][0].shape} loaded and extracted in "
                     f"{extract_time[variant]:.1f} s")
    session.sample_load()

    jobs_list = []
    for variant in VARIANTS:
        values, names, y, groups = data[variant]
        for kind in FOLD_KINDS:
            for seed in seeds:
                splits = outer_splits(kind, y, groups, seed)[:c["folds"]]
                for fold, (train, test) in enumerate(splits):
                    for method in ORDER:
                        jobs_list.append(((variant, kind, seed, fold, method), train, test))
    # longest fits first over the whole run, so that the workers finish together
    jobs_list.sort(key=lambda job: ORDER.index(job[0][4]))
    session.echo(f"{len(jobs_list)} fits ({len(METHODS)} methods x {len(VARIANTS)} variants x "
                 f"{len(FOLD_KINDS)} fold kinds x {len(seeds)} seed(s) x {c['folds']} folds), "
                 f"{jobs} at a time")
    t1 = time.perf_counter()
    results = []
    for result in Parallel(n_jobs=jobs, verbose=5 if session.size != "tiny" else 0,
                           return_as="generator")(
            delayed(run_one)(task, *data[task[0]], train, test, epochs)
            for task, train, test in jobs_list):
        results.append(result)
        if len(results) % 10 == 0:  # the load while the fits run, not only around them
            session.sample_load()
    wall = time.perf_counter() - t1
    session.sample_load()

    table = summarise(results, seeds)
    checks = baseline_checks(table)
    for case, baseline, base_value, value in checks["rows"]:
        session.add_row(case, baseline, base_value, value, measure="accuracy")
    lines = report(session, table, checks, seeds, c["folds"], epochs, jobs,
                   len(data["clean"][2]), extract_time, wall, len(results))
    return "Balanced multimodal training on AV-Digits (clean and hard)", lines


def summarise(results, seeds):
    """``{(variant, kind): {method: figures}}``: accuracy mean and sd over seeds (each seed's
    accuracy the mean over its folds), training accuracy, gap, mean fit time per fold."""
    table = {}
    for variant in VARIANTS:
        for kind in FOLD_KINDS:
            cell = table.setdefault((variant, kind), {})
            for method in METHODS:
                rows = [r for r in results if (r["variant"], r["kind"], r["method"])
                        == (variant, kind, method)]
                per_seed = [np.mean([r["accuracy"] for r in rows if r["seed"] == s])
                            for s in seeds]
                train = [np.mean([r["train_accuracy"] for r in rows if r["seed"] == s])
                         for s in seeds]
                cell[method] = {
                    "mean": float(np.mean(per_seed)),
                    "sd": float(np.std(per_seed, ddof=1)) if len(seeds) > 1 else float("nan"),
                    "train": float(np.mean(train)),
                    "fit": float(np.mean([r["fit_time"] for r in rows])),
                }
    return table


def _best(cell, names):
    return max(names, key=lambda n: cell[n]["mean"])


def baseline_checks(table):
    """The fused nets against the plain baselines: lines for the file and
    ``(case, baseline, value, value)`` rows."""
    lines, rows = [], []
    for variant in VARIANTS:  # 1. default net vs the plain baselines, speaker-held-out
        cell = table[(variant, "group")]
        best = _best(cell, (LR, MLP, IMAGE, AUDIO))
        diff = 100 * (cell[DEFAULT]["mean"] - cell[best]["mean"])
        verdict = "PASS" if diff >= -1.0 else "FAIL"
        lines.append(f"- **{verdict}** {variant}, group folds: default net "
                     f"{cell[DEFAULT]['mean']:.4f} vs max(LR concat, MLP concat, best single "
                     f"modality) = {best} {cell[best]['mean']:.4f}: **{diff:+.1f} points** "
                     "(goal: >= -1).")
        rows.append((f"default net, {variant}, group folds", best, cell[best]["mean"],
                     cell[DEFAULT]["mean"]))
    for variant in VARIANTS:  # 2. best balance option vs the best baseline, everywhere
        for kind in FOLD_KINDS:
            cell = table[(variant, kind)]
            best_b, best_base = _best(cell, BALANCED.values()), _best(cell, BASELINES)
            diff = 100 * (cell[best_b]["mean"] - cell[best_base]["mean"])
            lines.append(f"- {variant}, {kind} folds: best balance option ({best_b}, "
                         f"{cell[best_b]['mean']:.4f}) - best baseline ({best_base}, "
                         f"{cell[best_base]['mean']:.4f}) = **{diff:+.1f} points**.")
            rows.append((f"best balance ({best_b.split('=')[1]}), {variant}, {kind}", best_base,
                         cell[best_base]["mean"], cell[best_b]["mean"]))
    cell = table[("hard", "shuffled")]  # 3. layer-level fusion vs one modality
    best_layer, best_single = _best(cell, LAYER), _best(cell, SINGLES)
    diff = 100 * (cell[best_layer]["mean"] - cell[best_single]["mean"])
    lines.append(f"- hard, shuffled folds: best layer-level net ({best_layer}, "
                 f"{cell[best_layer]['mean']:.4f}) - best single modality ({best_single}, "
                 f"{cell[best_single]['mean']:.4f}) = **{diff:+.1f} points**.")
    rows.append(("best layer-level net, hard, shuffled", best_single, cell[best_single]["mean"],
                 cell[best_layer]["mean"]))
    for name in BALANCED.values():  # 4. the price of balancing, in fit time
        ratios = [table[key][name]["fit"] / table[key][DEFAULT]["fit"] for key in table]
        pooled = (np.mean([table[key][name]["fit"] for key in table])
                  / np.mean([table[key][DEFAULT]["fit"] for key in table]))
        lines.append(f"- fit time of {name} / default net: **{pooled:.2f}x** over all cells "
                     f"(per cell {min(ratios):.2f}x to {max(ratios):.2f}x).")
    return {"lines": lines, "rows": rows}


def _sd(value):
    return "-" if np.isnan(value) else f"{value:.4f}"


def report(session, table, checks, seeds, folds, epochs, jobs, n_rows, extract_time, wall,
           n_fits):
    """The Markdown lines of the results: the protocol, one table per cell, the checks."""
    loaded = session.peak_load is not None and session.peak_load > session.cores
    timing = ("**The load average went above the usable cores during the run: the fit times "
              "below are indicative only** (accuracies are not affected)." if loaded else
              "The load average stayed at or below the usable cores: the fit times are "
              "comparable with each other (one torch thread per fit).")
    if session.peak_load is None:
        timing = "No load average on this system: the fit times are indicative only."
    lines = [
        f"AV-Digits, {n_rows} rows per variant (6 speakers). Features extracted once per "
        "variant: `make_modality_union({\"image\": ImagePixels(size=(28, 28)), \"audio\": "
        "AudioMFCC(sr=8000, n_mfcc=20, output=\"stats\")})` (pandas output); extraction "
        f"(with loading) took {extract_time['clean']:.0f} s (clean) and "
        f"{extract_time['hard']:.0f} s (hard).",
        "",
        f"Outer folds: {FOLD_LABELS['group']} over the speakers (group: the same partition for "
        f"every seed) and {FOLD_LABELS['shuffled']} with random_state=seed (shuffled); "
        f"{len(seeds)} seed(s) ({', '.join(map(str, seeds))}), each seed's accuracy the mean "
        + (f"over its {N_FOLDS} folds" if folds == N_FOLDS else
           f"over the first {folds} of its {N_FOLDS} folds (only those were fitted)")
        + "; mean ± sd (ddof=1) over seeds. Inner validation the same way as the "
        "outer folds: under group folds the nets get `fit(X, y, groups=<training speakers>)` "
        "and late fusion stacks out-of-fold predictions of GroupKFold(3) over the training "
        "speakers; under shuffled folds both are stratified and shuffled.",
        "",
        "Methods: single-modality nets = `FusionNetClassifier(random_state=seed)` on one "
        "block's columns; LR = `make_pipeline(StandardScaler(), LogisticRegression("
        "max_iter=2000))` and MLP = `make_pipeline(StandardScaler(), MLPClassifier((256,), "
        "random_state=seed))` on the concatenated features; late fusion = `make_late_fusion` "
        "of the standardised LR per modality under `LogisticRegression(max_iter=2000)`; "
        "layer-level = `FusionNetClassifier(random_state=seed)` on all columns, and with "
        f"`balance=` each of {', '.join(map(repr, BALANCES))}. Nets: "
        + ("their default epochs" if epochs is None else
           f"max_epochs={epochs} (and G-Blend's probe run {epochs} epochs)")
        + ", device cpu.",
        "",
        f"{n_fits} fits, each in its own worker on one torch thread, {jobs} at a time: "
        f"{wall / 60:.1f} min of wall time. {timing}",
        "",
        "Train = accuracy on the training fold; gap = train - held-out, in points (for the "
        "single-modality nets, that modality's own gap).",
    ]
    for (variant, kind), cell in table.items():
        lines += ["", f"### {variant}, {kind} folds ({FOLD_LABELS[kind]})", "",
                  "| method | accuracy (mean) | sd over seeds | train | gap (points) | "
                  "fit time per fold (s) |", "|---|---|---|---|---|---|"]
        for method in METHODS:
            row = cell[method]
            lines.append(f"| {method} | {row['mean']:.4f} | {_sd(row['sd'])} | "
                         f"{row['train']:.4f} | {100 * (row['train'] - row['mean']):+.1f} | "
                         f"{row['fit']:.2f} |")
    lines += ["", "### Checks against the baselines", "", *checks["lines"]]
    return lines
