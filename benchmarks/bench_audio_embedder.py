"""Benchmark: AudioEmbedder (a pretrained speech encoder) against AudioMFCC on FSDD digits.

A thin wrapper of ``skmm._bench.audio_embedder`` (see its docstring for what is measured). Its own
options choose the model; the others are those of ``python -m skmm bench`` (``--quick``,
``--tiny``, ``--device``, ...), and the results go to ``benchmarks/results/``.

Run: SKMM_DATA=/path/to/data python benchmarks/bench_audio_embedder.py \
         --model facebook/wav2vec2-base --layer 6
     SKMM_DATA=/path/to/data python benchmarks/bench_audio_embedder.py \
         --random-init tiny --quick      # checks the pipeline; writes nothing
"""

import argparse
import os
import sys

from _run import ROOT, run

sys.path.insert(0, str(ROOT))  # this checkout's skmm, as run() uses
from skmm._bench.audio_embedder import ENV  # noqa: E402 (after the path is set)


def parse(argv):
    """Set the benchmark's variables from its own options; return the other arguments."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--model", help="transformers hub name or local folder (save_pretrained)")
    parser.add_argument("--random-init", choices=("tiny", "base"),
                        help="a randomly initialised wav2vec 2.0 instead of --model (writes "
                             "nothing: random weights measure nothing)")
    parser.add_argument("--layer", type=int, help="hidden state to embed (default: the last)")
    parser.add_argument("--stats", help="statistics over time, e.g. mean,std")
    parser.add_argument("--batch-size", type=int, help="clips per batch (default 16)")
    args, rest = parser.parse_known_args(argv)
    if args.random_init and args.model:
        parser.error("--model and --random-init exclude each other")
    if "-h" in rest or "--help" in rest:
        parser.print_help()
    values = {"model": f"random:{args.random_init}" if args.random_init else args.model,
              "layer": args.layer, "stats": args.stats, "batch_size": args.batch_size}
    for key, value in values.items():
        if value is not None:
            os.environ[ENV[key]] = str(value)
    return rest


if __name__ == "__main__":
    sys.argv[1:] = parse(sys.argv[1:])
    sys.exit(run("audio_embedder"))
