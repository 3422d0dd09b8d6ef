"""Peak memory of a large sparse block through the union, the net's fit and its predict.

A TF-IDF-like block of ``--rows`` x ``--columns`` (default 200,000 x 100,000) with
``--per-row`` non-zeros a row (default 50; float64 values, int32 indices, as
``TfidfVectorizer`` writes them) enters ``make_modality_union`` as one sparse block
(a stateless transformer returns it, so that the text vectoriser's own peak, which is
scikit-learn's, is not counted), then ``FusionNetClassifier`` fits on it (one epoch:
the memory of an epoch does not grow with the number of epochs) and predicts every row;
before the measured fit, a fit on 2,000 rows warms torch and skorch up (their one-time
allocations are not the data's).

Each phase runs in a fresh process, which builds the block, resets the resident set
size's high-water mark to the RSS (Linux: ``/proc/self/clear_refs``), runs the phase and
reads the mark (``VmHWM``); the peak of a phase is the mark minus the RSS before it. The bound checked is the
issue's: peak < 3 x the CSR's bytes + the model (its parameters, their gradients and
AdamW's two moments: 4 x the parameters' bytes).

Usage::

    python benchmarks/sparse_memory.py [--rows 200000] [--columns 100000] \
        [--per-row 50] [--no-write]

Writes ``benchmarks/results/sparse_memory.md``.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sparse_memory.md"


def _block(rows, columns, per_row, seed=0):
    import numpy as np
    from scipy import sparse

    rng = np.random.default_rng(seed)
    indices = rng.integers(0, columns, rows * per_row).astype(np.int32)
    data = rng.random(rows * per_row)
    indptr = np.arange(0, rows * per_row + 1, per_row, dtype=np.int32)
    block = sparse.csr_matrix((data, indices, indptr), shape=(rows, columns))
    y = (block[:, : columns // 2].sum(axis=1).A1 > block[:, columns // 2:].sum(axis=1).A1)
    return block, y.astype(np.int64)


def _status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status (Linux only)")


def _start():
    """The RSS now, with the high-water mark reset to it (Linux's clear_refs, value 5)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_mb("VmRSS")


def phase(name, rows, columns, per_row):
    """Run one phase in this process; print a JSON line of its figures."""
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import pandas as pd
    import torch
    from sklearn.preprocessing import FunctionTransformer

    from skmm.fusion import make_modality_union
    from skmm.nets import FusionNetClassifier

    torch.set_num_threads(2)
    block, y = _block(rows, columns, per_row)
    csr_mb = (block.data.nbytes + block.indices.nbytes + block.indptr.nbytes) / 2**20
    words = [f"w{i}" for i in range(columns)]
    table = pd.DataFrame({"rows": np.arange(rows)})
    union = make_modality_union({"text": (FunctionTransformer(
        lambda _: block, feature_names_out=lambda t, f: words).set_output(transform="default"),
        ["rows"])})
    net = FusionNetClassifier(max_epochs=1, random_state=0, device="cpu")
    out = {"phase": name, "csr_mb": csr_mb}
    if name == "union":
        before = _start()
        start = time.perf_counter()
        X = union.fit_transform(table)
    else:
        X = union.fit_transform(table)
        # one fit on a few rows first: torch's and skorch's one-time allocations (thread
        # pools, kernels, lazily imported modules; ~180 MB here) are not the data's; for
        # predict, it is the model (of the same size) that predicts
        net.fit(X[:2000], y[:2000])
        before = _start()
        start = time.perf_counter()
        if name == "fit":
            net.fit(X, y)
        else:
            predicted = net.predict(X)
            assert predicted.shape == (rows,)
    out["seconds"] = time.perf_counter() - start
    out["peak_mb"] = _status_mb("VmHWM") - before
    if name != "union":
        params = sum(p.numel() * p.element_size() for p in net.module_.parameters())
        out["model_mb"] = 4 * params / 2**20
        out["train_accuracy" if name == "fit" else "rows"] = (
            float(net.score(X[:20000], y[:20000])) if name == "fit" else rows)
    print(json.dumps(out))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--columns", type=int, default=100_000)
    parser.add_argument("--per-row", type=int, default=50)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        return phase(args.phase, args.rows, args.columns, args.per_row)
    results = []
    for name in ("union", "fit", "predict"):
        command = [sys.executable, __file__, "--phase", name, "--rows", str(args.rows),
                   "--columns", str(args.columns), "--per-row", str(args.per_row)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(results[-1], flush=True)
    lines = [
        "# Peak memory of a large sparse block: union, fit, predict", "",
        "Written by `python benchmarks/sparse_memory.py` (protocol in its docstring): "
        f"a {args.rows:,} x {args.columns:,} block, {args.per_row} non-zeros a row (float64 "
        "values, int32 indices); each phase in a fresh process, its peak = RSS high-water mark "
        "(reset at its start) minus the RSS before it. Bound: peak < 3 x CSR + model (parameters x 4: weights, "
        "gradients, AdamW's two moments).", "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs; load average before "
        f"{os.getloadavg()[0]:.2f}.", "",
        "| phase | CSR (MB) | model x 4 (MB) | peak above start (MB) | peak / CSR | bound "
        "(MB) | within | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        model = r.get("model_mb", 0.0)
        bound = 3 * r["csr_mb"] + model
        lines.append(
            f"| {r['phase']} | {r['csr_mb']:.0f} | {model:.0f} | {r['peak_mb']:.0f} | "
            f"{r['peak_mb'] / r['csr_mb']:.2f} | {bound:.0f} | "
            f"{'yes' if r['peak_mb'] < bound else '**no**'} | {r['seconds']:.1f} |")
    fit = next(r for r in results if r["phase"] == "fit")
    lines += ["", f"Training accuracy after one epoch (first 20,000 rows): "
              f"{fit['train_accuracy']:.3f} (a sanity check that the net learnt, not a result)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
