"""``python -m skmm bench``: choose the benchmarks, run each in a Session, print one summary."""

import argparse
import importlib
import os
import re
import sys
import traceback
from pathlib import Path

from ._harness import ON_NOISE, Session, Skip

#: name -> (kind, protocols it has cases for). "time" benchmarks are load-gated (refused with
#: --on-noise refuse); "accuracy" ones are always written (marked NOISY all the same when the
#: load went above the cores), and run only when named with --only.
BENCHMARKS = {
    "audio": ("time", ("cpu", "gpu")),
    "head": ("time", ("cpu", "gpu")),
    "image": ("time", ("cpu", "gpu")),
    "search": ("time", ("cpu",)),
    "text": ("accuracy", ("cpu",)),
    "fusion": ("accuracy", ("cpu",)),
    "audio_embedder": ("accuracy", ("cpu", "gpu")),
    "balance": ("accuracy", ("cpu",)),
    "tabular": ("accuracy", ("cpu",)),
    "targets": ("accuracy", ("cpu",)),
    "real": ("accuracy", ("cpu",)),
    "scale": ("time", ("cpu",)),
}
#: What runs without --only, per protocol.
DEFAULTS = {"cpu": ("audio", "head", "image", "search"), "gpu": ("head", "image", "audio")}
TINY_ENV = "SKMM_BENCH_TINY"

EPILOG = """\
protocols:
  cpu   audio on the FSDD clips (log-mel and MFCC against a per-clip librosa loop); head
        (FusionNetClassifier.fit against a hand-written PyTorch loop: whole fit, MLP 256,
        20,000 x 256, 4 epochs, batch 128, Adam, 2 torch threads; and fastest-epoch cases);
        image (ImageEmbedder simple-cnn and ImageColorHistogram against hand-written loops);
        search (GridSearchCV with and without the feature cache, AV-Digits).
  gpu   (default with --device cuda) head on the device; ImageEmbedder with a ResNet-18
        (random weights, 224 px, bfloat16, channels-last) against raw batched torch on the same
        weights from host uint8 images; AudioLogMel on the device against the librosa loop,
        on synthetic clips in memory (no data needed).
accuracy benchmarks (only with --only): text (AG News), fusion (AV-Digits hard, ~8 min),
        balance (FusionNetClassifier's balance= options against the plain baselines,
        AV-Digits clean and hard, speaker-held-out and shuffled folds; --repeats N: N seeds),
        tabular (a price and a category beside image and audio in the layer-level net,
        against the net without them and the plain baselines; synthetic, no data needed),
        targets (FusionNetRegressor's target_scaling against the raw target, scikit-learn's
        TransformedTargetRegressor, Ridge and MLPRegressor; synthetic, no data needed),
        real (the nets at their defaults and with the recipe against LR/Ridge,
        HistGradientBoosting, scikit-learn's MLP, TF-IDF + LR and, when installed, RealMLP
        and TabM: Adult, California housing, AG News, AV-Digits speaker folds).
scaling benchmark (only with --only): scale (extraction in one process and on 2 Dask workers,
        training from memory and from a FeatureStore, at 10^4, 10^5 and 10^6 generated rows:
        rows/s, peak memory, growth; ~20 min, needs skmm[distributed]).
Real-data benchmarks read the data home (SKMM_DATA, see skmm.datasets) and are skipped with
a message when it lacks their data. Results are marked NOISY when the load average went
above the usable cores during the run (accuracy results too: their times are then not a
result); with --on-noise refuse, timing results are not written at all.
exit status: 0 done (skips included), 1 a benchmark failed, 2 bad arguments or no CUDA,
3 results refused by the load gate."""


#: How the ``bench`` parser describes itself (here and as a subcommand of ``python -m skmm``).
PARSER_KWARGS = dict(description="Run skmm's benchmarks and print a summary of ratios.",
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_arguments(parser):
    """Add the ``bench`` options to an argparse parser."""
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: a few minutes in all on 2 cores")
    parser.add_argument("--tiny", action="store_true",
                        help=f"test sizes (seconds; figures meaningless, files marked TINY); "
                             f"also {TINY_ENV}=1")
    parser.add_argument("--only", default=None, metavar="NAMES",
                        help=f"comma-separated benchmarks among {', '.join(BENCHMARKS)}, or "
                             "'all' (default: the protocol's timing benchmarks)")
    parser.add_argument("--device", default="cpu", metavar="{cpu,cuda,cuda:N}",
                        help="torch device of the skmm side and of the torch baselines "
                             "(default cpu)")
    parser.add_argument("--protocol", default="auto", choices=["auto", "cpu", "gpu"],
                        help="set of cases (auto: gpu with --device cuda, else cpu)")
    parser.add_argument("--repeats", type=int, default=None, metavar="N",
                        help="best of N whole calls per side (default: per benchmark and size)")
    parser.add_argument("--results", default=None, metavar="DIR",
                        help="where to write <benchmark>.md (default: benchmarks/results inside "
                             "an skmm checkout, else ./skmm_bench_results)")
    parser.add_argument("--on-noise", default="mark", choices=ON_NOISE,
                        help="timing results of a run whose load average exceeded the usable "
                             "cores: write them marked NOISY (default) or refuse to write them")
    return parser


def default_results_dir(cwd=None):
    """``benchmarks/results`` of the skmm checkout holding ``cwd``, else ``cwd/skmm_bench_results``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     default_results_dir(tmp).name
    'skmm_bench_results'
    """
    cwd = Path(cwd or os.getcwd()).resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / "benchmarks").is_dir() and _is_skmm_checkout(folder):
            return folder / "benchmarks" / "results"
    return cwd / "skmm_bench_results"


def _is_skmm_checkout(folder):
    try:
        text = (folder / "pyproject.toml").read_text()
    except OSError:
        return False
    return re.search(r'^name\s*=\s*"skmm"\s*$', text, flags=re.M) is not None


def _selected(only, protocol):
    """The benchmark names to run, or raise ValueError naming the valid ones."""
    if only is None:
        return list(DEFAULTS[protocol])
    names = [n.strip() for n in only.split(",") if n.strip()]
    if names == ["all"]:
        return [n for n, (_, protocols) in BENCHMARKS.items() if protocol in protocols]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        raise ValueError(f"--only takes comma-separated names among {', '.join(BENCHMARKS)} "
                         f"(or 'all'), got {only!r}; unknown: {unknown or 'none given'}.")
    return list(dict.fromkeys(names))


def _check_device(device):
    """Raise ValueError unless ``device`` is cpu, or a CUDA device that torch can see."""
    if not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        raise ValueError(f"--device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}.")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(
                f"--device {device} was asked for, but torch {torch.__version__} sees no CUDA "
                "device (torch.cuda.is_available() is False: a CPU-only torch build, or no "
                "GPU). Run with --device cpu here, or on a GPU machine as benchmarks/GPU.md of "
                "the skmm repository says.")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"--device {device} was asked for, but torch sees "
                             f"{torch.cuda.device_count()} CUDA device(s).")


def _command(name, args, protocol, size):
    """The command line that reruns benchmark ``name`` as this run did."""
    parts = ["python -m skmm bench", f"--only {name}"]
    parts += {"full": [], "quick": ["--quick"], "tiny": ["--tiny"]}[size]
    if args.device != "cpu":
        parts.append(f"--device {args.device}")
    if args.protocol != "auto" and protocol != ("gpu" if args.device != "cpu" else "cpu"):
        parts.append(f"--protocol {protocol}")
    if args.repeats is not None:
        parts.append(f"--repeats {args.repeats}")
    return " ".join(parts)


def _say(message):
    print(message, flush=True)


def run(args, echo=_say, load=None):
    """Run the benchmarks ``args`` selects (parsed by :func:`add_arguments`); return the status.

    ``load`` replaces the load-average function (tests).
    """
    import skmm

    tiny = args.tiny or os.environ.get(TINY_ENV) == "1"
    size = "tiny" if tiny else ("quick" if args.quick else "full")
    protocol = args.protocol
    if protocol == "auto":
        protocol = "gpu" if args.device.startswith("cuda") else "cpu"
    try:
        if args.repeats is not None and args.repeats < 1:
            raise ValueError(f"--repeats must be a positive integer, got {args.repeats}.")
        names = _selected(args.only, protocol)
        _check_device(args.device)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results_dir = Path(args.results) if args.results else default_results_dir()
    echo(f"skmm {skmm.__version__} benchmarks: {', '.join(names)}; {size} sizes, {protocol} "
         f"protocol, device {args.device}; results in {results_dir}")
    extra = {} if load is None else {"load": load}
    rows, skipped, failed, refused = [], [], [], []
    for name in names:
        kind, protocols = BENCHMARKS[name]
        why = None
        if protocol not in protocols:
            why = f"no case in the {protocol} protocol (it has: {', '.join(protocols)})"
        elif args.device != "cpu" and "gpu" not in protocols:
            why = "it runs on the CPU only (its models are pinned there); use --device cpu"
        if why:
            skipped.append(f"{name}: {why}")
            echo(f"\n== {name}: skipped: {why}")
            continue
        echo(f"\n== {name} ({kind} benchmark)")
        session = Session(name, device=args.device, size=size, protocol=protocol,
                          repeats=args.repeats, results_dir=results_dir,
                          command=_command(name, args, protocol, size), gated=kind == "time",
                          on_noise=args.on_noise, echo=echo, **extra)
        try:
            module = importlib.import_module(f"{__package__}.{name}")
            with skmm.config_context(cache=None):  # SKMM_CACHE must not serve timed rows
                title, body = module.run(session)
        except Skip as exc:
            skipped.append(f"{name}: {exc}")
            echo(f"{name}: skipped: {exc}")
            continue
        except Exception:  # report, and go on with the other benchmarks
            failed.append(name)
            print(f"{name}: FAILED\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            continue
        session.sample_load("after")
        path = session.write(title, body)
        rows += session.rows
        if path is None:
            refused.append(name)
        else:
            echo(f"{name}: wrote {path}" + (" (marked NOISY)" if session.noisy else ""))
    echo("\n" + format_summary(rows, skipped, failed, refused))
    if failed:
        return 1
    return 3 if refused else 0


def format_summary(rows, skipped=(), failed=(), refused=()):
    """The summary table of ratios (and what was skipped, failed or refused), as text.

    Examples
    --------
    >>> from skmm._bench._harness import Row
    >>> print(format_summary([Row("head", "fit", "time (s)", "loop", 2.0, 1.0)]))
    ... # doctest: +NORMALIZE_WHITESPACE
    == summary: ratio = skmm / baseline (time: below 1 = skmm faster; accuracy: above 1 = skmm
       more accurate)
    benchmark | case | measure  | baseline | baseline value | skmm value | ratio | note
    ----------+------+----------+----------+----------------+------------+-------+-----
    head      | fit  | time (s) | loop     | 2              | 1          | 0.50x |
    """
    header = ("benchmark", "case", "measure", "baseline", "baseline value", "skmm value",
              "ratio", "note")
    table = [header] + [
        (r.benchmark, r.case, r.measure, r.baseline, _value(r.baseline_value, r.measure),
         _value(r.skmm_value, r.measure), f"{r.ratio:.2f}x", r.note)
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["== summary: ratio = skmm / baseline (time: below 1 = skmm faster; accuracy: "
             "above 1 = skmm more accurate)"]
    for k, line in enumerate(table):
        lines.append(" | ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())
        if k == 0:
            lines.append("-+-".join("-" * w for w in widths))
    if not rows:
        lines.append("(no figures)")
    lines += [f"skipped: {s}" for s in skipped]
    lines += [f"FAILED: {name} (traceback above)" for name in failed]
    lines += [f"NOT WRITTEN (load above the cores): {name}" for name in refused]
    return "\n".join(lines)


def _value(value, measure):
    return f"{value:.4f}" if measure == "accuracy" else f"{value:.4g}"


def main(argv=None, prog="python -m skmm bench", results=None):
    """Parse ``argv`` and run; ``results`` overrides the default results folder (wrappers)."""
    parser = add_arguments(argparse.ArgumentParser(prog=prog, **PARSER_KWARGS))
    args = parser.parse_args(argv)
    if args.results is None and results is not None:
        args.results = str(results)
    return run(args)
