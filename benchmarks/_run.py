"""What every ``benchmarks/bench_*.py`` script does: run one benchmark of ``skmm._bench``.

The benchmark code ships inside the package (``python -m skmm bench`` runs it from
anywhere); these scripts keep ``python benchmarks/bench_<name>.py [options]`` working from
a checkout, benchmark that checkout's skmm, and write into ``benchmarks/results/``.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(name):
    """Run benchmark ``name`` with the command-line options of ``python -m skmm bench``."""
    sys.path.insert(0, str(ROOT))  # this checkout's skmm, whatever else is installed
    from skmm._bench import main

    script = f"python benchmarks/bench_{name}.py"
    return main(["--only", name, *sys.argv[1:]], prog=script,
                results=ROOT / "benchmarks" / "results")
