"""The nets against the baselines users already have, on real data (Adult, California housing,
AG News, AV-Digits).

A thin wrapper of ``skmm._bench.real`` (see its docstring for what is measured); options are
those of ``python -m skmm bench`` (``--quick``, ``--repeats N``, ``--device``, ...), and the
results go to ``benchmarks/results/``.
"""

import sys

from _run import run

if __name__ == "__main__":
    sys.exit(run("real"))
