"""The recipe's fit time against HGB's on Adult and California, paired, on a quiet machine.

The real-data benchmark runs two fits at a time to get through its 225 fits, so its times
move with whatever else the machine does. This script times only the two sides that the
issue's bound compares (``HistGradientBoosting*`` and the README's recipe,
``skmm._bench.real.make_model``), one fit at a time on one thread each, alternating the sides
on the same folds (HGB, recipe, HGB, recipe...), and prints the median of the per-pair ratios
with the load average before and after. It writes ``benchmarks/results/real_fit_time.md``.

Usage::

    SKMM_DATA=../shared/data python benchmarks/real_fit_time.py [--seeds 0 1 2] \
        [--data adult california]
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
from skmm._bench._harness import torch_threads  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "real_fit_time.md"


def fit_seconds(name, method, seed, X, y, train):
    model, _ = real.make_model(name, method, seed, None, X.columns)
    start = time.perf_counter()
    model.fit(X.iloc[train], y[train])
    return time.perf_counter() - start


def main(argv=None):
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data", nargs="+", default=["adult", "california"],
                        choices=["adult", "california"])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    loads = [os.getloadavg()[0]]
    lines = ["# Real tables: the recipe's fit time against HGB's, paired", "",
             f"`python benchmarks/real_fit_time.py --seeds {' '.join(map(str, args.seeds))} "
             f"--data {' '.join(args.data)}`: one fit at a time, one thread each (torch and "
             "OpenMP), the two sides alternating on the same folds; ratio = recipe / HGB per "
             "pair, the median over pairs.", "",
             "| data | pairs | HGB fit, median s | recipe fit, median s | median ratio | "
             "ratio range |", "|---|---:|---:|---:|---:|---|"]
    for name in args.data:
        X, y, groups = real.load(name, None)
        hgb, recipe = [], []
        with torch_threads(1), threadpool_limits(1):
            for seed in args.seeds:
                for train, _ in real.splits(name, y, groups, seed):
                    hgb.append(fit_seconds(name, real.HGB, seed, X, y, train))
                    recipe.append(fit_seconds(name, real.RECIPE, seed, X, y, train))
                    print(f"{name} seed {seed}: HGB {hgb[-1]:.2f} s, recipe {recipe[-1]:.2f} s",
                          flush=True)
        ratios = np.array(recipe) / np.array(hgb)
        lines.append(f"| {real.TITLES[name]} | {len(ratios)} | {np.median(hgb):.2f} | "
                     f"{np.median(recipe):.2f} | **{np.median(ratios):.1f}x** | "
                     f"{ratios.min():.1f}x to {ratios.max():.1f}x |")
        loads.append(os.getloadavg()[0])
    lines += ["", f"Load average (1 min): {loads[0]:.2f} before, "
              f"{', '.join(f'{v:.2f}' for v in loads[1:])} after each data set "
              f"({os.cpu_count()} cores); {platform.processor() or platform.machine()}, "
              f"Python {platform.python_version()}."]
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
