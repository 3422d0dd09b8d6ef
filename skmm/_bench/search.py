"""Benchmark: GridSearchCV over frozen extractors, with and without skmm's feature cache.

The search: ``ColumnTransformer(ImageEmbedder, AudioLogMel) -> StandardScaler ->
FusionNetClassifier`` on a stratified subsample of AV-Digits (``load_av_digits`` from the
data home; skipped, with the reason, when it is absent), 5 folds x 8 head candidates
(hidden_sizes x lr x dropout), refit included: 40 + 1 fits, one torch thread. The variants,
run in alternation, each a whole ``GridSearchCV.fit``:

* ``ideal``: one extraction pass over the data + the same search over the head alone on
  the precomputed features (the cost the cache should approach);
* ``no cache``: every fit and every scoring extracts again (the baseline);
* ``Pipeline(memory=...)``: joblib caching of the feature step's ``fit_transform`` (its
  folder emptied before each call);
* ``FeatureCache``: ``with skmm.config_context(cache=FeatureCache(folder))``, the cache
  emptied before each call (cold);
* ``FeatureCache, warm``: the cached search again, right after the cold one.

Extraction counts are the rows the extractors computed (their batch extraction is wrapped
to count). The goals: cached <= 1.3 x ideal, and no-cache >= 5 x cached. The best
parameters of every variant must agree.
"""

import collections
import contextlib
import os
import shutil
import tempfile

from ._harness import load_real_data, torch_threads

GRID = {
    "net__hidden_sizes": [(32,), (128,)],
    "net__lr": [1e-3, 3e-3],
    "net__dropout": [0.0, 0.2],
}
SIZES = {
    "full": dict(n=500, epochs=8, folds=5, grid=GRID, repeats=2),
    "quick": dict(n=150, epochs=3, folds=5, grid=GRID, repeats=1),
    "tiny": dict(n=40, epochs=1, folds=2, grid={"net__lr": [1e-3, 3e-3]}, repeats=1),
}
IDEAL = "ideal: 1 extraction + head-only search"


@contextlib.contextmanager
def count_extractions(counter, *classes):
    """Count in ``counter[class name]`` the rows each class's batch extraction computes."""
    saved = {}
    for cls in classes:
        if not hasattr(cls, "_extract_batch"):
            raise RuntimeError(f"{cls.__name__} has no _extract_batch: this benchmark counts "
                               "extracted rows through it; update count_extractions.")
        saved[cls] = vars(cls).get("_extract_batch")
        original = cls._extract_batch

        def wrapped(self, decoded, _original=original, _name=cls.__name__):
            counter[_name] += len(decoded)
            return _original(self, decoded)

        cls._extract_batch = wrapped
    try:
        yield counter
    finally:
        for cls, own in saved.items():
            if own is None:
                del cls._extract_batch
            else:
                cls._extract_batch = own


def features():
    """The frozen feature step: ImageEmbedder and AudioLogMel over their columns."""
    from sklearn.compose import ColumnTransformer

    from skmm import AudioLogMel, ImageEmbedder

    return ColumnTransformer([
        ("image", ImageEmbedder(device="cpu"), "image"),
        ("audio", AudioLogMel(sr=8000, n_fft=256, hop_length=80, n_mels=40), "audio"),
    ])


def head(epochs):
    """The head steps: StandardScaler then FusionNetClassifier."""
    from sklearn.preprocessing import StandardScaler

    from skmm.nets import FusionNetClassifier

    return [("scale", StandardScaler()),
            ("net", FusionNetClassifier(max_epochs=epochs, device="cpu", random_state=0))]


def search(steps, grid, folds, memory=None):
    """GridSearchCV over ``Pipeline(steps)`` with stratified shuffled folds, one job."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline

    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    return GridSearchCV(Pipeline(steps, memory=memory), grid, cv=cv, n_jobs=1)


def run(session):
    """Run the search benchmark; return (title, Markdown body lines)."""
    from sklearn.model_selection import train_test_split

    import skmm
    from skmm import AudioLogMel, FeatureCache, ImageEmbedder
    from skmm.datasets import load_av_digits

    c = session.pick(SIZES)
    repeats = session.repeats_or(c["repeats"])
    X, y = load_real_data(load_av_digits, return_X_y=True)
    X, _, y, _ = train_test_split(X, y, train_size=c["n"], stratify=y, random_state=0)
    X = X.reset_index(drop=True)
    n, grid, folds, epochs = len(X), c["grid"], c["folds"], c["epochs"]
    rows = collections.Counter()

    def measured(fn):
        def call():
            rows.clear()
            best = fn().best_params_
            return sum(rows.values()), best
        return call

    with tempfile.TemporaryDirectory() as tmp, torch_threads(1), \
            count_extractions(rows, ImageEmbedder, AudioLogMel):
        # warm-up (library imports, torch's first-call costs), outside every timing
        search(head(1), {"net__lr": [1e-3]}, 2).fit(features().fit_transform(X.iloc[:40]),
                                                    y[:40])
        full = [("features", features())] + head(epochs)
        memory = os.path.join(tmp, "joblib")
        cache = FeatureCache(os.path.join(tmp, "skmm"))

        def cached():
            with skmm.config_context(cache=cache):
                return search(full, grid, folds).fit(X, y)

        timed = session.interleave({
            IDEAL: measured(lambda: search(head(epochs), grid, folds).fit(
                features().fit_transform(X), y)),
            "no cache": measured(lambda: search(full, grid, folds).fit(X, y)),
            "Pipeline(memory=...)": measured(
                lambda: search(full, grid, folds, memory=memory).fit(X, y)),
            "FeatureCache": measured(cached),
            "FeatureCache, warm": measured(cached),
        }, repeats, before={
            "Pipeline(memory=...)": lambda: shutil.rmtree(memory, ignore_errors=True),
            "FeatureCache": cache.clear,
        })
        stored = cache.stats()

    ideal, cold, uncached = timed[IDEAL], timed["FeatureCache"], timed["no cache"]
    session.add_row("GridSearchCV with FeatureCache (cold)", "no cache", uncached.best,
                    cold.best)
    session.add_row("GridSearchCV with FeatureCache (cold)", IDEAL, ideal.best, cold.best)
    table = [
        "| variant | wall (s) | CPU (s) | rows extracted | wall / ideal | CPU / ideal "
        "| best parameters |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, t in timed.items():
        extracted, best = t.result
        table.append(f"| {name} | {t.best:.2f} | {t.best_cpu:.2f} | {extracted} | "
                     f"{t.best / ideal.best:.2f} | {t.best_cpu / ideal.best_cpu:.2f} | {best} |")
    agree = len({str(t.result[1]) for t in timed.values()}) == 1
    return "GridSearchCV over frozen extractors, with and without the feature cache", [
        f"Search: ColumnTransformer(ImageEmbedder(simple-cnn), AudioLogMel(sr=8000, "
        f"n_mels=40)) -> StandardScaler -> FusionNetClassifier(max_epochs={epochs}); {folds} "
        f"folds x {len(list(_candidates(grid)))} head candidates + refit on a stratified "
        f"subsample of {n} AV-Digits samples, 1 torch thread. " + session.method(repeats, "search"),
        "",
        *table,
        "",
        f"Unique samples: {n} per extractor, so one extraction pass is {2 * n} rows. "
        f"The cache holds {stored['entries']} rows ({stored['bytes'] / 1e6:.1f} MB). "
        f"Best parameters {'agree' if agree else 'DIFFER'} across variants.",
        "",
        f"* no cache / FeatureCache: **{uncached.best / cold.best:.1f}x** wall, "
        f"**{uncached.best_cpu / cold.best_cpu:.1f}x** CPU (goal >= 5x)",
        f"* FeatureCache / ideal: **{cold.best / ideal.best:.2f}x** wall, "
        f"**{cold.best_cpu / ideal.best_cpu:.2f}x** CPU (goal <= 1.3x)",
        f"* Pipeline(memory=...) / FeatureCache: "
        f"{timed['Pipeline(memory=...)'].best / cold.best:.1f}x wall (memory= caches only each "
        "fold's fit_transform: every scoring transform and every new fold extracts again)",
    ]


def _candidates(grid):
    """The parameter combinations of ``grid``."""
    from sklearn.model_selection import ParameterGrid

    return ParameterGrid(grid)
