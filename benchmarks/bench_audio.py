"""Benchmark: AudioLogMel / AudioMFCC against a per-clip librosa loop on the 3,000 FSDD clips.

A thin wrapper of ``skmm._bench.audio`` (see its docstring for what is measured); options are
those of ``python -m skmm bench`` (``--quick``, ``--repeats N``, ``--device``, ...), and the
results go to ``benchmarks/results/``.
"""

import sys

from _run import run

if __name__ == "__main__":
    sys.exit(run("audio"))
