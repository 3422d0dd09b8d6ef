"""FusionNetRegressor's target scaling against the raw target and the plain baselines.

A thin wrapper of ``skmm._bench.targets`` (see its docstring for what is measured); options are
those of ``python -m skmm bench`` (``--quick``, ``--repeats N``, ``--device``, ...), and the
results go to ``benchmarks/results/``.
"""

import sys

from _run import run

if __name__ == "__main__":
    sys.exit(run("targets"))
