"""Benchmark: GridSearchCV over frozen extractors, with and without skmm's feature cache.

The search: ``ColumnTransformer(ImageEmbedder, AudioLogMel) -> StandardScaler ->
FusionNetClassifier`` on a stratified subsample of AV-Digits (``load_av_digits``), 5 folds
x 8 head candidates (hidden_sizes x lr x dropout), refit included: 40 + 1 fits. Measured in
one run, from cold (an empty cache folder each time):

* ``no cache``: every fit and every scoring extracts again (the baseline);
* ``Pipeline(memory=...)``: joblib caching of the feature step's ``fit_transform``;
* ``FeatureCache``: ``with skmm.config_context(cache=FeatureCache(folder))`` (the same as
  giving ``cache=`` to each extractor);
* ``FeatureCache, warm``: the cached search again, the cache already filled;
* ``ideal``: one extraction pass over the data + the same search over the head alone on
  the precomputed features (the cost the cache should approach).

Extraction counts are the rows the extractors computed (``_extract_batch`` is wrapped to
count). The goals: cached <= 1.3 x ideal, and no-cache >= 5 x cached. The best parameters
of every variant are printed (they must agree).

Run: SKMM_DATA=/work/shared/data python benchmarks/bench_search.py [--n-samples 500] [--repeats 1]
"""

import argparse
import collections
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

ROWS = collections.Counter()


def count_extractions(*classes):
    """Wrap each class's _extract_batch to count the rows it computes."""
    for cls in classes:
        original = cls._extract_batch

        def wrapped(self, decoded, _original=original, _name=cls.__name__):
            ROWS[_name] += len(decoded)
            return _original(self, decoded)

        cls._extract_batch = wrapped


def features():
    from sklearn.compose import ColumnTransformer

    from skmm.audio import AudioLogMel
    from skmm.image import ImageEmbedder

    return ColumnTransformer([
        ("image", ImageEmbedder(device="cpu"), "image"),
        ("audio", AudioLogMel(sr=8000, n_fft=256, hop_length=80, n_mels=40), "audio"),
    ])


def head(epochs):
    from sklearn.preprocessing import StandardScaler

    from skmm.nets import FusionNetClassifier

    return [("scale", StandardScaler()),
            ("net", FusionNetClassifier(max_epochs=epochs, device="cpu", random_state=0))]


GRID = {
    "net__hidden_sizes": [(32,), (128,)],
    "net__lr": [1e-3, 3e-3],
    "net__dropout": [0.0, 0.2],
}


def search(steps, memory=None):
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline

    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    return GridSearchCV(Pipeline(steps, memory=memory), GRID, cv=cv, n_jobs=1)


REPEATS = 1


def timed(fn, before=None):
    """(wall seconds, CPU seconds of this process, rows extracted, result), best of REPEATS.

    ``before`` runs untimed before each repeat (e.g. to empty a cache).
    """
    best = None
    for _ in range(REPEATS):
        if before is not None:
            before()
        ROWS.clear()
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        run = (time.perf_counter() - start, time.process_time() - cpu, sum(ROWS.values()), result)
        if best is None or run[0] < best[0]:
            best = run
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1, help="best of N runs per variant")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "search.md"))
    args = parser.parse_args()
    global REPEATS
    REPEATS = args.repeats

    import torch
    from sklearn.model_selection import train_test_split

    import skmm
    from skmm.audio import AudioLogMel
    from skmm.cache import FeatureCache
    from skmm.datasets import load_av_digits
    from skmm.image import ImageEmbedder

    torch.set_num_threads(1)  # 2 shared cores: threads only oversubscribe
    count_extractions(ImageEmbedder, AudioLogMel)
    X, y = load_av_digits(return_X_y=True)
    X, _, y, _ = train_test_split(X, y, train_size=args.n_samples, stratify=y, random_state=0)
    X = X.reset_index(drop=True)
    n = len(X)

    # warm-up (library imports, torch's first-call costs), outside every timing
    search(head(1)).set_params(cv=2, param_grid={"net__lr": [1e-3]}).fit(
        features().fit_transform(X.iloc[:40]), y[:40])

    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        wall_x, cpu_x, rows_x, F = timed(lambda: features().fit_transform(X))
        wall_h, cpu_h, _, heads = timed(lambda: search(head(args.epochs)).fit(F, y))
        runs["ideal: 1 extraction + head-only search"] = (
            wall_x + wall_h, cpu_x + cpu_h, rows_x, heads.best_params_
        )
        full = [("features", features())] + head(args.epochs)
        wall, cpu, rows, s = timed(lambda: search(full).fit(X, y))
        runs["no cache"] = (wall, cpu, rows, s.best_params_)
        memory = os.path.join(tmp, "joblib")
        wall, cpu, rows, s = timed(
            lambda: search(full, memory=memory).fit(X, y),
            before=lambda: shutil.rmtree(memory, ignore_errors=True),
        )
        runs["Pipeline(memory=...)"] = (wall, cpu, rows, s.best_params_)
        cache = FeatureCache(os.path.join(tmp, "skmm"))
        with skmm.config_context(cache=cache):
            wall, cpu, rows, s = timed(lambda: search(full).fit(X, y), before=cache.clear)
            runs["FeatureCache"] = (wall, cpu, rows, s.best_params_)
            wall, cpu, rows, s = timed(lambda: search(full).fit(X, y))
            runs["FeatureCache, warm"] = (wall, cpu, rows, s.best_params_)
        stored = cache.stats()

    ideal, cached, uncached = (
        runs[k] for k in ("ideal: 1 extraction + head-only search", "FeatureCache", "no cache")
    )
    memory_run = runs["Pipeline(memory=...)"]
    lines = [
        "# GridSearchCV over frozen extractors, with and without the feature cache",
        "",
        f"Machine: {platform.machine()} {os.cpu_count()}-core CPU, no GPU. The cores are shared "
        "with other jobs, so wall times are noisy; CPU time (of this process, all its threads) "
        "is the steadier measure of work. "
        f"torch {torch.__version__} with 1 thread, skmm {skmm.__version__}.",
        "",
        f"Search: ColumnTransformer(ImageEmbedder(simple-cnn), AudioLogMel(sr=8000, n_mels=40)) "
        f"-> StandardScaler -> FusionNetClassifier(max_epochs={args.epochs}); 5 folds x 8 head "
        f"candidates + refit on a stratified subsample of {n} AV-Digits samples (a subsample "
        "and few epochs, to finish on 2 cores). Each variant starts cold (empty cache folder) "
        "except the warm one (run again in the same process: its rows come from the in-memory "
        f"layer). Times are the best of {REPEATS} run(s) per variant.",
        "",
        "| variant | wall (s) | CPU (s) | rows extracted | wall / ideal | CPU / ideal "
        "| best parameters |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for label, (wall, cpu, rows, best) in runs.items():
        lines.append(
            f"| {label} | {wall:.1f} | {cpu:.1f} | {rows} | {wall / ideal[0]:.2f} "
            f"| {cpu / ideal[1]:.2f} | {best} |"
        )
    lines += [
        "",
        f"Unique samples: {n} per extractor, so one extraction pass is {2 * n} rows. "
        f"The cache holds {stored['entries']} rows ({stored['bytes'] / 1e6:.1f} MB).",
        "",
        f"* no cache / FeatureCache: **{uncached[0] / cached[0]:.1f}x** wall, "
        f"**{uncached[1] / cached[1]:.1f}x** CPU (goal >= 5x)",
        f"* FeatureCache / ideal: **{cached[0] / ideal[0]:.2f}x** wall, "
        f"**{cached[1] / ideal[1]:.2f}x** CPU (goal <= 1.3x)",
        f"* Pipeline(memory=...) / FeatureCache: {memory_run[0] / cached[0]:.1f}x wall "
        "(memory= caches only each fold's fit_transform: every scoring transform and every "
        "new fold extracts again)",
        "",
        "Wall times vary by tens of percent between runs on this shared machine; --repeats "
        "takes the best of several runs of every variant.",
        "",
        "Run: `SKMM_DATA=/work/shared/data python benchmarks/bench_search.py "
        f"--n-samples {n} --epochs {args.epochs} --repeats {REPEATS}`",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
