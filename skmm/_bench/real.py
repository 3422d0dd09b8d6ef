"""Accuracy benchmark: the nets against the baselines users already have, on real data.

Four data sets, each with its own folds, every method fitted on the same rows and folds:

* Adult (income > 50K; accuracy and ROC AUC): ``StratifiedKFold(3, shuffle=True,
  random_state=seed)``;
* California housing (median house value; R²): ``KFold(3, shuffle=True, random_state=seed)``;
* AG News (4 topics, title and description as two text columns, the 7,600-row test set;
  accuracy): ``StratifiedKFold(3, shuffle=True, random_state=seed)``;
* AV-Digits (image + spoken digit; accuracy): speaker-held-out ``GroupKFold(3)`` over the 6
  speakers (the same partition for every seed), features extracted once as
  ``skmm/_bench/balance.py`` does (stateless extractors: nothing leaks), and the nets given the
  training fold's speakers as ``fit(..., groups=)``.

Baselines, on the features a scikit-learn user would build: for the tables
``HistGradientBoosting*(categorical_features="from_dtype")`` on the raw frame, and
``LogisticRegression`` / ``Ridge`` and ``MLP*((256,), early_stopping=True)`` on the one-hot
(``handle_unknown="ignore"``) + standardised columns; for AG News TF-IDF (1-2 grams) +
``LogisticRegression`` on the concatenated text and on the description alone, and the MLP on the
concatenated TF-IDF; for AV-Digits LR and MLP on the standardised concatenation and HGB on it.
pytabkit's RealMLP and TabM (the ``bench`` extra, never a core dependency) run on the tables
when installed, and are listed as skipped with the reason otherwise.

skmm, twice: **at its defaults** (``FusionNetClassifier`` / ``FusionNetRegressor()`` on the
user's own features as a plain array or bare CSR: one block), and with **the recipe**
(``make_modality_union`` with ``TabularEncoder`` for a table, one ``TfidfVectorizer`` block per
text column for AG News, AV-Digits' image and audio extractors as named blocks). Stateful
preprocessing is fitted inside each fold (pipelines).

Each seed's figure is the mean over its folds, then mean ± sd over seeds; fit and predict
times are per fold (one torch thread per fit, several fits at a time: indicative only). A data
set whose files are not in the data home is skipped with the reason; an accuracy benchmark:
the environment and load are recorded, no load gate applies.
"""

import importlib.util
import time
import warnings

import numpy as np

from ._harness import Skip, load_real_data, torch_threads

SIZES = {  # rows per data set (None: all), seeds, folds fitted (of 3), net epochs, workers,
    # AV-Digits variants
    "full": dict(n=dict(adult=None, california=None, ag_news=None, av_digits=None), seeds=3,
                 folds=3, epochs=None, jobs=2, variants=("clean", "hard")),
    "quick": dict(n=dict(adult=8000, california=5000, ag_news=3000, av_digits=1500), seeds=1,
                  folds=3, epochs=None, jobs=2, variants=("clean",)),
    "tiny": dict(n=dict(adult=300, california=300, ag_news=300, av_digits=150), seeds=1,
                 folds=1, epochs=2, jobs=1, variants=("clean",)),
}
N_FOLDS = 3

LR, RIDGE, HGB, MLP = "LogisticRegression", "Ridge", "HistGradientBoosting", "scikit-learn MLP"
LR_TEXT, LR_DESC = "TF-IDF + LR, title + description", "TF-IDF + LR, description alone"
REALMLP, TABM = "RealMLP (pytabkit)", "TabM (pytabkit)"
DEFAULT, RECIPE = "skmm net, defaults", "skmm net, recipe"
SKMM = (DEFAULT, RECIPE)
PYTABKIT = (REALMLP, TABM)

#: data set -> (metrics, the first is the one the summary compares; methods in table order)
DATASETS = {
    "adult": (("accuracy", "AUC"), (LR, HGB, MLP, REALMLP, TABM, DEFAULT, RECIPE)),
    "california": (("R²",), (RIDGE, HGB, MLP, REALMLP, TABM, DEFAULT, RECIPE)),
    "ag_news": (("accuracy",), (LR_TEXT, LR_DESC, MLP, DEFAULT, RECIPE)),
    "av_digits": (("accuracy",), (LR, HGB, MLP, DEFAULT, RECIPE)),
}
TITLES = {"adult": "Adult", "california": "California housing", "ag_news": "AG News",
          "av_digits": "AV-Digits"}
NOT_RUN = {
    "ag_news": f"{HGB}: not run (it takes no sparse input; densifying 100,000+ TF-IDF columns "
               "is not what a scikit-learn user does with text). RealMLP / TabM: tables only.",
    "av_digits": "RealMLP / TabM: tables only.",
}
#: the longest fits first, so that the workers finish together
ORDER = (RECIPE, DEFAULT, TABM, REALMLP, MLP, HGB, LR_TEXT, LR, LR_DESC, RIDGE)


def pytabkit_missing():
    """Why RealMLP and TabM cannot run here (None when pytabkit is importable)."""
    if importlib.util.find_spec("pytabkit") is None:
        return ("pytabkit is not installed (it is in the benchmark's `bench` extra only: "
                "pip install pytabkit)")
    return None


# ---- data ---------------------------------------------------------------------------------


def _subsample(n_rows, n, seed=0, y=None):
    """``n`` sorted row indices (stratified by ``y`` when given); all rows when n is None."""
    if n is None or n >= n_rows:
        return np.arange(n_rows)
    if y is None:
        return np.sort(np.random.default_rng(seed).choice(n_rows, n, replace=False))
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(n_rows), train_size=n, stratify=y, random_state=seed)
    return np.sort(keep)


def load(name, n, variant="clean"):
    """``(X, y, groups or None)`` of one data set, ``n`` rows (None: all)."""
    from skmm import datasets

    if name == "adult":
        bunch = load_real_data(datasets.load_adult)
        y = (np.asarray(bunch.target) == ">50K").astype(np.int64)
        keep = _subsample(len(y), n, y=y)
        return bunch.data.iloc[keep].reset_index(drop=True), y[keep], None
    if name == "california":
        bunch = load_real_data(datasets.load_california_housing)
        y = np.asarray(bunch.target, dtype=np.float64)
        keep = _subsample(len(y), n)
        return bunch.data.iloc[keep].reset_index(drop=True), y[keep], None
    if name == "ag_news":
        bunch = load_real_data(datasets.load_ag_news)
        y = np.asarray(bunch.target)
        keep = _subsample(len(y), n, y=y)
        return bunch.data.iloc[keep].reset_index(drop=True), y[keep], None
    import pandas as pd

    from .balance import load_features

    values, names, y, groups = load_features(variant, n)  # Skip when the data is absent
    return pd.DataFrame(values, columns=names), np.asarray(y), groups


def splits(name, y, groups, seed):
    """The ``(train, test)`` pairs of a data set's protocol for ``seed``."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

    if name == "av_digits":
        return list(GroupKFold(N_FOLDS).split(y, y, groups))
    if name == "california":
        return list(KFold(N_FOLDS, shuffle=True, random_state=seed).split(y))
    return list(StratifiedKFold(N_FOLDS, shuffle=True, random_state=seed).split(y, y))


# ---- models -------------------------------------------------------------------------------


def joined_text(X):
    """Title and description of each row as one string (a user's single text column)."""
    return (X["title"].fillna("") + " " + X["description"].fillna("")).to_numpy()


def description(X):
    """The description column alone."""
    return X["description"].fillna("").to_numpy()


def onehot_scaled():
    """What a scikit-learn user does with a table: standardised numbers, one-hot categories."""
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return make_column_transformer(
        (StandardScaler(), make_column_selector(dtype_include="number")),
        (OneHotEncoder(handle_unknown="ignore", sparse_output=False),
         make_column_selector(dtype_exclude="number")))


def make_model(name, method, seed, epochs, columns):
    """``(model, takes groups)``: ``method`` as fitted on data set ``name``."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from skmm import TabularEncoder, make_modality_union
    from skmm.nets import FusionNetClassifier, FusionNetRegressor

    regression = name == "california"
    params = {} if epochs is None else {"max_epochs": epochs}
    Net = FusionNetRegressor if regression else FusionNetClassifier
    net = Net(random_state=seed, device="cpu", **params)
    mlp = (MLPRegressor if regression else MLPClassifier)(
        hidden_layer_sizes=(256,), early_stopping=True, random_state=seed)
    lr = LogisticRegression(max_iter=2000)

    if name == "ag_news":
        def tfidf():
            return TfidfVectorizer(ngram_range=(1, 2))

        joined = FunctionTransformer(joined_text)
        if method == LR_TEXT:
            return make_pipeline(joined, tfidf(), lr), False
        if method == LR_DESC:
            return make_pipeline(FunctionTransformer(description), tfidf(), lr), False
        if method == MLP:
            return make_pipeline(joined, tfidf(), mlp), False
        if method == DEFAULT:
            return make_pipeline(joined, tfidf(), net), False
        union = make_modality_union({"title": tfidf(), "description": tfidf()})
        return make_pipeline(union, net), False

    if name == "av_digits":  # pre-extracted named features: image__..., audio__...
        if method == LR:
            return make_pipeline(StandardScaler(), lr), False
        if method == MLP:
            return make_pipeline(StandardScaler(), mlp), False
        if method == HGB:
            return HistGradientBoostingClassifier(random_state=seed), False
        if method == DEFAULT:  # the same features as a plain array: one block
            return make_pipeline(FunctionTransformer(_as_array), net), True
        return net, True  # the named blocks, image and audio

    # the tables
    if method == HGB:
        HGBModel = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
        return HGBModel(categorical_features="from_dtype", random_state=seed), False
    if method in (LR, RIDGE):
        return make_pipeline(onehot_scaled(), Ridge() if regression else lr), False
    if method == MLP:
        return make_pipeline(onehot_scaled(), mlp), False
    if method == DEFAULT:
        return make_pipeline(onehot_scaled(), net), False
    if method == RECIPE:
        union = make_modality_union({"table": (TabularEncoder(), list(columns))})
        return make_pipeline(union, net), False
    import pytabkit

    kind = "Regressor" if regression else "Classifier"
    Model = getattr(pytabkit, f"RealMLP_TD_{kind}" if method == REALMLP else f"TabM_D_{kind}")
    return Model(device="cpu", random_state=seed, n_threads=1, verbosity=0), False


def _as_array(X):
    return np.asarray(X, dtype=np.float32)


def scores(name, model, X_test, y_test, predicted):
    """``{metric: value}`` on the held-out rows."""
    from sklearn.metrics import r2_score, roc_auc_score

    if name == "california":
        return {"R²": float(r2_score(y_test, predicted))}
    out = {"accuracy": float(np.mean(predicted == y_test))}
    if name == "adult":
        proba = model.predict_proba(X_test)[:, list(model.classes_).index(1)]
        out["AUC"] = float(roc_auc_score(y_test, proba))
    return out


def run_one(task, X, y, groups, train, test, epochs):
    """Fit one method on one fold: its scores, fit and predict times."""
    from sklearn.exceptions import ConvergenceWarning

    key, seed, fold, method = task
    name = key.split(":")[0]
    model, takes_groups = make_model(name, method, seed, epochs, X.columns)
    fit_params = {"groups": groups[train]} if takes_groups and groups is not None else {}
    if fit_params and hasattr(model, "steps"):  # a pipeline: the net is its last step
        fit_params = {f"{model.steps[-1][0]}__groups": groups[train]}
    X_train, X_test = X.iloc[train], X.iloc[test]
    with torch_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X_train, y[train], **fit_params)
        fit_time = time.perf_counter() - start
        start = time.perf_counter()
        predicted = model.predict(X_test)
        predict_time = time.perf_counter() - start
        result = scores(name, model, X_test, y[test], predicted)
    return {"key": key, "seed": seed, "fold": fold, "method": method, "scores": result,
            "fit_time": fit_time, "predict_time": predict_time}


# ---- the run ------------------------------------------------------------------------------


def run(session):
    """Run the real-data benchmark; return (title, Markdown body lines)."""
    from joblib import Parallel, delayed

    c = session.pick(SIZES)
    seeds = list(range(session.repeats_or(c["seeds"])))
    missing_pytabkit = pytabkit_missing()
    data, skipped, load_time = {}, {}, {}
    for name in DATASETS:
        keys = ([f"av_digits:{v}" for v in c["variants"]] if name == "av_digits" else [name])
        for key in keys:
            t0 = time.perf_counter()
            try:
                data[key] = load(name, c["n"][name], *key.split(":")[1:])
            except Skip as exc:
                skipped[key] = str(exc)
                session.echo(f"{key}: skipped: {exc}")
                continue
            load_time[key] = time.perf_counter() - t0
            session.echo(f"{key}: {len(data[key][1])} rows loaded in {load_time[key]:.1f} s")
    if not data:
        raise Skip("none of its data sets is in the data home: " + "; ".join(skipped.values()))
    session.sample_load()

    jobs = []
    for key, (X, y, groups) in data.items():
        methods = _methods(key, missing_pytabkit)
        for seed in seeds:
            folds = splits(key.split(":")[0], y, groups, seed)[:c["folds"]]
            for fold, (train, test) in enumerate(folds):
                jobs += [((key, seed, fold, m), train, test) for m in methods]
    jobs.sort(key=lambda job: ORDER.index(job[0][3]))
    session.echo(f"{len(jobs)} fits, {c['jobs']} at a time")
    t1 = time.perf_counter()
    results = []
    for result in Parallel(n_jobs=c["jobs"], return_as="generator")(
            delayed(run_one)(task, *data[task[0]], train, test, c["epochs"])
            for task, train, test in jobs):
        results.append(result)
        if len(results) % 10 == 0:
            session.sample_load()
    wall = time.perf_counter() - t1
    session.sample_load()

    table = summarise(results, seeds)
    rows = summary_rows(table)
    for case, baseline, base_value, value, measure in rows:
        session.add_row(case, baseline, base_value, value, measure=measure)
    lines = report(session, table, rows, data, skipped, missing_pytabkit, seeds, c, wall,
                   len(results))
    return "The nets against the baselines users already have, on real data", lines


def _methods(key, missing_pytabkit):
    name = key.split(":")[0]
    return [m for m in DATASETS[name][1] if not (m in PYTABKIT and missing_pytabkit)]


def summarise(results, seeds):
    """``{key: {method: {metric: (mean, sd), "fit": s, "predict": s}}}``: each seed's figure is
    the mean over its folds; mean and sd (ddof=1) over seeds; times are means per fold."""
    table = {}
    for r in results:
        table.setdefault(r["key"], {}).setdefault(r["method"], []).append(r)
    out = {}
    for key, by_method in table.items():
        metrics = DATASETS[key.split(":")[0]][0]
        for method, rows in by_method.items():
            cell = {}
            for metric in metrics:
                per_seed = [np.mean([r["scores"][metric] for r in rows if r["seed"] == s])
                            for s in seeds]
                sd = float(np.std(per_seed, ddof=1)) if len(seeds) > 1 else float("nan")
                cell[metric] = (float(np.mean(per_seed)), sd)
            cell["fit"] = float(np.mean([r["fit_time"] for r in rows]))
            cell["predict"] = float(np.mean([r["predict_time"] for r in rows]))
            out.setdefault(key, {})[method] = cell
    return out


def summary_rows(table):
    """``(case, baseline, baseline value, skmm value, measure)``: each skmm variant against the
    best baseline of its data set, on every metric (the best chosen on that metric)."""
    rows = []
    for key, cell in table.items():
        for metric in DATASETS[key.split(":")[0]][0]:
            baselines = [m for m in cell if m not in SKMM]
            best = max(baselines, key=lambda m: cell[m][metric][0])
            for method in SKMM:
                if method in cell:
                    label = "defaults" if method == DEFAULT else "recipe"
                    rows.append((f"{_title(key)}: skmm {label} vs best baseline", best,
                                 cell[best][metric][0], cell[method][metric][0], metric))
    return rows


def _title(key):
    name, *variant = key.split(":")
    return TITLES[name] + (f" ({variant[0]})" if variant else "")


def _figure(mean_sd):
    mean, sd = mean_sd
    return f"{mean:.4f}" if np.isnan(sd) else f"{mean:.4f} ± {sd:.4f}"


PROTOCOLS = {
    "adult": "StratifiedKFold(3, shuffle=True, random_state=seed); income > 50K as class 1",
    "california": "KFold(3, shuffle=True, random_state=seed)",
    "ag_news": "StratifiedKFold(3, shuffle=True, random_state=seed) on the 7,600-row test set "
               "(or a stratified subsample of it)",
    "av_digits": "speaker-held-out GroupKFold(3) over the 6 speakers (the same partition for "
                 "every seed); the nets get fit(..., groups=<training speakers>)",
}
RECIPES = {
    "adult": "defaults = `make_pipeline(<one-hot + scaled>, FusionNetClassifier())`; recipe = "
             "`make_pipeline(make_modality_union({\"table\": (TabularEncoder(), <all 14 "
             "columns>)}), FusionNetClassifier())`",
    "california": "defaults = `make_pipeline(StandardScaler(), FusionNetRegressor())` (the "
                  "one-hot + scaled transformer, all columns numeric); recipe = "
                  "`make_pipeline(make_modality_union({\"table\": (TabularEncoder(), <all 8 "
                  "columns>)}), FusionNetRegressor())`",
    "ag_news": "defaults = `make_pipeline(<title + ' ' + description>, TfidfVectorizer("
               "ngram_range=(1, 2)), FusionNetClassifier())` (one sparse block); recipe = "
               "`make_pipeline(make_modality_union({\"title\": TfidfVectorizer(ngram_range=(1, "
               "2)), \"description\": TfidfVectorizer(ngram_range=(1, 2))}), "
               "FusionNetClassifier())` (a named CSR: two sparse blocks)",
    "av_digits": "features once: `make_modality_union({\"image\": ImagePixels(size=(28, 28)), "
                 "\"audio\": AudioMFCC(sr=8000, n_mfcc=20, output=\"stats\")})` (as "
                 "balance.py); defaults = `FusionNetClassifier()` on them as a plain array (one "
                 "block); recipe = the same net on the named frame (image and audio blocks)",
}


def report(session, table, rows, data, skipped, missing_pytabkit, seeds, c, wall, n_fits):
    """The Markdown lines of the results: the protocol, one table per data set, the checks."""
    loaded = session.peak_load is not None and session.peak_load > session.cores
    timing = ("**The load average went above the usable cores during the run: fit and predict "
              "times are indicative only** (the scores are not affected)." if loaded else
              "The load average stayed at or below the usable cores.")
    lines = [
        f"{len(seeds)} seed(s) ({', '.join(map(str, seeds))}); "
        + (f"{N_FOLDS} folds" if c["folds"] == N_FOLDS else
           f"the first {c['folds']} of {N_FOLDS} folds (only those fitted)")
        + " per seed, each seed's figure the mean over its folds, then mean ± sd (ddof=1) over "
        "seeds. Every method is fitted on the same rows and folds; stateful preprocessing "
        "inside each fold. Nets: " + ("their default epochs" if c["epochs"] is None else
                                      f"max_epochs={c['epochs']}")
        + ", random_state=seed, device cpu.",
        "",
        "Baselines: HistGradientBoosting* with `categorical_features=\"from_dtype\"` on the raw "
        "frame (on the features for AV-Digits); LogisticRegression(max_iter=2000) / Ridge() and "
        "MLP*((256,), early_stopping=True, random_state=seed) after one-hot "
        "(`handle_unknown=\"ignore\"`) + StandardScaler (AV-Digits: StandardScaler); AG News: "
        "TF-IDF (ngram_range=(1, 2)) + LR on title + description joined and on the description "
        "alone, the MLP on the joined TF-IDF.",
        "",
        f"{n_fits} fits, each on one torch thread, {c['jobs']} at a time: {wall / 60:.1f} min "
        f"of wall time. Fit and predict times are means per fold. {timing}",
    ]
    if missing_pytabkit:
        lines += ["", f"RealMLP and TabM: **skipped**: {missing_pytabkit}."]
    for key, reason in skipped.items():
        lines += ["", f"{_title(key)}: **skipped**: {reason}"]
    for key, cell in table.items():
        name = key.split(":")[0]
        metrics = DATASETS[name][0]
        n_rows = len(data[key][1])
        lines += ["", f"### {_title(key)}", "",
                  f"{n_rows} rows; folds: {PROTOCOLS[name]}. skmm: {RECIPES[name]}."]
        if name in NOT_RUN:
            lines += ["", NOT_RUN[name]]
        lines += ["", "| method | " + " | ".join(f"{m} (mean ± sd)" for m in metrics)
                  + " | fit time per fold (s) | predict time per fold (s) |",
                  "|---|" + "---|" * (len(metrics) + 2)]
        for method in DATASETS[name][1]:
            if method in cell:
                row = cell[method]
                lines.append(f"| {method} | " + " | ".join(_figure(row[m]) for m in metrics)
                             + f" | {row['fit']:.2f} | {row['predict']:.3f} |")
    lines += ["", "### skmm against the best baseline", "",
              "| case | metric | best baseline | baseline | skmm | difference |",
              "|---|---|---|---|---|---|"]
    for case, baseline, base_value, value, metric in rows:
        lines.append(f"| {case} | {metric} | {baseline} | {base_value:.4f} | {value:.4f} | "
                     f"{value - base_value:+.4f} |")
    return lines
