"""RealMLP and TabM (pytabkit) beside the nets' recipe and HGB, on Adult and California.

The real-data benchmark (``python -m skmm bench --only real``) runs pytabkit's models with
its 3 seeds when pytabkit is installed (the ``bench`` extra), which at RealMLP's ~330 s a
fold on 2 cores adds hours. This script runs the same fits (``skmm._bench.real.make_model``,
the same rows and folds: ``StratifiedKFold`` / ``KFold(3, shuffle=True, random_state=seed)``)
for the seeds given, 2 fits at a time on one torch thread each, and writes the means over
folds and seeds to ``benchmarks/results/real_pytabkit.md``.

Usage::

    pip install pytabkit
    SKMM_DATA=../shared/data python benchmarks/pytabkit_reference.py [--seeds 0] \
        [--data adult california] [--methods ...] [--rows N]
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout

from skmm._bench import real  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "real_pytabkit.md"
METHODS = (real.REALMLP, real.TABM, real.HGB, real.RECIPE)


def main(argv=None):
    from joblib import Parallel, delayed

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data", nargs="+", default=["adult", "california"],
                        choices=["adult", "california"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--rows", type=int, default=None, help="a subsample (a trial run)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    missing = real.pytabkit_missing()
    if missing:
        sys.exit(missing)
    loads, lines = [os.getloadavg()[0]], []
    start = time.perf_counter()
    for name in args.data:
        X, y, groups = real.load(name, args.rows)
        jobs = [((name, seed, fold, method), train, test)
                for seed in args.seeds
                for fold, (train, test) in enumerate(real.splits(name, y, groups, seed))
                for method in args.methods]
        results = Parallel(n_jobs=2)(delayed(real.run_one)(task, X, y, groups, train, test, None)
                                     for task, train, test in jobs)
        loads.append(os.getloadavg()[0])
        metrics = real.DATASETS[name][0]
        lines += [f"### {real.TITLES[name]} ({len(y)} rows)", "",
                  "| method | " + " | ".join(f"{m} (mean)" for m in metrics)
                  + " | fit time per fold (s) |",
                  "|---|" + "---|" * (len(metrics) + 1)]
        for method in args.methods:
            mine = [r for r in results if r["method"] == method]
            values = [np.mean([r["scores"][m] for r in mine]) for m in metrics]
            fit = np.mean([r["fit_time"] for r in mine])
            lines.append(f"| {method} | " + " | ".join(f"{v:.4f}" for v in values)
                         + f" | {fit:.2f} |")
            print(lines[-1], flush=True)
        lines.append("")
    wall = time.perf_counter() - start
    noisy = max(loads) > (os.cpu_count() or 1)
    head = [
        "# RealMLP and TabM (pytabkit) beside the nets' recipe, on real tables", "",
        f"Command: `python benchmarks/pytabkit_reference.py --seeds "
        f"{' '.join(map(str, args.seeds))} --data {' '.join(args.data)} --methods "
        + " ".join(f"'{m}'" for m in args.methods)
        + (f" --rows {args.rows}" if args.rows else "") + "`",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs; every fit on one torch "
        f"thread, 2 at a time; {wall / 60:.1f} min. Seeds {args.seeds}, 3 folds each (the "
        "real-data benchmark's folds); figures are means over folds and seeds. pytabkit's "
        "`RealMLP_TD_*` and `TabM_D_*` at their defaults (`device=\"cpu\"`, `n_threads=1`). "
        f"Load average (1 min) {', '.join(f'{v:.2f}' for v in loads)}"
        + (": **NOISY**, above the cores: the times are indicative only." if noisy else "."),
        "",
    ]
    args.output.parent.mkdir(exist_ok=True)
    args.output.write_text("\n".join(head + lines))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
