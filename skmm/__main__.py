"""Command line of skmm.

``python -m skmm demo``    compare the three fusion levels on the embedded synthetic data
                           (or ``--data av-digits|ag-news``), print a table, save a PNG chart;
``python -m skmm bench``   run the benchmarks shipped in ``skmm._bench`` (``--quick``, ``--only``,
                           ``--device cpu|cuda``, ``--repeats``, ``--results``; see
                           ``python -m skmm bench --help``) and print a summary of ratios.
"""

import argparse
import sys
import time
from pathlib import Path

INTRO = """\
skmm: multimodal learning the scikit-learn way.
The image, text, audio and plain (price, category) columns of one table go through
scikit-learn transformers, are fused at the feature level (ColumnTransformer), the model
level (StackingClassifier) or the layer level (one PyTorch network with a branch per
modality, trained through skorch), and are cross-validated (and tuned with GridSearchCV)
like any scikit-learn estimator.
"""


def _demo(args):
    from ._demo import (best_line, build_models, format_table, load_demo_data, plot_comparison,
                        run_comparison)
    from .exceptions import InvalidInputError

    print(INTRO)
    try:
        X, y, description = load_demo_data(args.data, args.n_samples, args.random_state)
    except InvalidInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Data: {description}; columns {list(X.columns)}.")
    print(f"Each model is scored by {args.cv}-fold cross-validation; extracted features are "
          "cached so that the folds reuse them.\n")
    models = build_models(args.data, max_epochs=args.max_epochs, random_state=args.random_state)
    start = time.perf_counter()
    table = run_comparison(X, y, models, cv=args.cv, random_state=args.random_state,
                           verbose=not args.quiet)
    print(format_table(table))
    print(f"\n{best_line(table)} Total {time.perf_counter() - start:.0f} s.")
    if args.output:
        try:
            path = plot_comparison(table, args.output, description)
            print(f"Chart saved to {Path(path).resolve()}")
        except ImportError as exc:
            print(f"(no chart: {exc})")
    return 0


def _bench(args):
    from ._bench import run

    return run(args)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m skmm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="compare the fusion levels and save a chart")
    demo.add_argument("--data", default="synthetic", choices=["synthetic", "av-digits", "ag-news"])
    demo.add_argument("--n-samples", type=int, default=480)
    demo.add_argument("--cv", type=int, default=3)
    demo.add_argument("--max-epochs", type=int, default=25)
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument("--output", default="skmm_demo.png", help="PNG path ('' for none)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=_demo)
    from ._bench import PARSER_KWARGS, add_arguments

    bench = sub.add_parser("bench", help="run the benchmarks and print a summary of ratios",
                           **PARSER_KWARGS)
    add_arguments(bench)
    bench.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
