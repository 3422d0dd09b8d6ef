"""Command line: ``python -m skmm demo``."""

import argparse
import sys


def _demo(args):
    from .datasets import make_multimodal_classification

    print("skmm: multimodal learning the scikit-learn way.")
    print("Image, text and audio columns of one table go through scikit-learn transformers,")
    print("are fused at the feature, model or layer level, and train a PyTorch net via skorch.\n")
    bunch = make_multimodal_classification(n_samples=args.n_samples, random_state=args.random_state)
    X, y = bunch.data, bunch.target
    print(f"Generated a synthetic table: {X.shape[0]} rows x {X.shape[1]} modality columns "
          f"({', '.join(X.columns)}), {len(bunch.target_names)} classes.")
    for column in X.columns:
        cell = X[column].iloc[0]
        shape = getattr(cell, "shape", None)
        kind = f"array {shape} {cell.dtype}" if shape is not None else f"{type(cell).__name__}"
        print(f"  {column:<6} first cell: {kind}")
    print(f"  classes: {dict(zip(*__import__('numpy').unique(y, return_counts=True)))}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m skmm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the main job on the embedded synthetic data")
    demo.add_argument("--n-samples", type=int, default=600)
    demo.add_argument("--random-state", type=int, default=0)
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
