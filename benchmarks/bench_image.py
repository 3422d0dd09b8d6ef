"""Benchmark: ImageEmbedder and ImageColorHistogram against hand-written loops, in one run.

A thin wrapper of ``skmm._bench.image`` (see its docstring for what is measured); options are
those of ``python -m skmm bench`` (``--quick``, ``--repeats N``, ``--device``, ...), and the
results go to ``benchmarks/results/``.
"""

import sys

from _run import run

if __name__ == "__main__":
    sys.exit(run("image"))
