"""Extraction and training as the rows grow: one process, Dask workers, a FeatureStore.

A thin wrapper of ``skmm._bench.scale`` (see its docstring for what is measured); options are
those of ``python -m skmm bench`` (``--quick``, ``--repeats N``, ``--device``, ...), and the
results go to ``benchmarks/results/``.
"""

import sys

from _run import run

if __name__ == "__main__":
    sys.exit(run("scale"))
