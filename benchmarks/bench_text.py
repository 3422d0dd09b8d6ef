"""Text extractors on AG News, 5-fold CV, against TfidfVectorizer + LogisticRegression.

Every method sees the same text (``title + ". " + description``) and the same
stratified folds, measured in one run. In each fold the extractor is fitted on the
training texts only (Word2Vec and Doc2Vec learn their vectors there), the training and
test texts are transformed, and a LogisticRegression is fitted on the training rows.
The table gives the accuracy (mean and std over folds), the extractor's fit time, its
transform time (training + test rows), the classifier's fit time, and the ratios of
accuracy and of total time to the TF-IDF baseline's.

TextSentenceEmbedder (all-MiniLM-L6-v2, when sentence-transformers and the bundled
model are installed) learns nothing in fit, so its embeddings are computed once per
text and cross-validated with the same folds; on a CPU it encodes ~10 texts/s here,
so it runs on a stratified subsample (``--st-n``) with the TF-IDF baseline measured
again on that same subsample.

Usage::

    SKMM_DATA=/work/shared/data python benchmarks/bench_text.py
    python benchmarks/bench_text.py --n 2000 --st-n 300 --no-write   # quick look

Writes ``benchmarks/results/text.md``.
"""

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmm.datasets import load_ag_news
from skmm.text import TextDoc2Vec, TextSentenceEmbedder, TextWord2Vec

RESULTS = Path(__file__).parent / "results" / "text.md"


def methods():
    """name -> (extractor factory, classifier factory)."""
    scaled_lr = lambda: make_pipeline(  # noqa: E731
        StandardScaler(), LogisticRegression(max_iter=1000, C=0.1)
    )
    return {
        "TfidfVectorizer (baseline)": (
            lambda: TfidfVectorizer(sublinear_tf=True, min_df=2),
            lambda: LogisticRegression(max_iter=1000, C=10.0),
        ),
        "TextWord2Vec (defaults: CBOW, mean, 5 epochs)": (
            lambda: TextWord2Vec(random_state=0), scaled_lr
        ),
        "TextWord2Vec (skip-gram, tfidf pooling, 10 epochs)": (
            lambda: TextWord2Vec(sg=1, epochs=10, min_count=2, pooling="tfidf", random_state=0),
            scaled_lr,
        ),
        "TextDoc2Vec (PV-DBOW, 20 epochs)": (
            lambda: TextDoc2Vec(dm=0, epochs=20, min_count=2, random_state=0), scaled_lr
        ),
    }


def cross_validate(make_extractor, make_classifier, texts, y, folds):
    accs, fit_s, transform_s, clf_s = [], [], [], []
    for train, test in folds:
        t0 = time.perf_counter()
        extractor = make_extractor().fit(texts[train])
        t1 = time.perf_counter()
        a, b = extractor.transform(texts[train]), extractor.transform(texts[test])
        t2 = time.perf_counter()
        classifier = make_classifier().fit(a, y[train])
        t3 = time.perf_counter()
        accs.append(classifier.score(b, y[test]))
        fit_s.append(t1 - t0)
        transform_s.append(t2 - t1)
        clf_s.append(t3 - t2)
    return dict(acc=np.mean(accs), std=np.std(accs), fit=np.mean(fit_s),
                transform=np.mean(transform_s), clf=np.mean(clf_s))


def sentence_embedder_rows(texts, y, folds):
    try:
        embedder = TextSentenceEmbedder(device="cpu").fit(texts[:1])
    except ImportError as exc:
        print(f"TextSentenceEmbedder skipped: {exc}")
        return None
    t0 = time.perf_counter()
    embedded = embedder.transform(texts)
    encode = time.perf_counter() - t0
    result = cross_validate(lambda: _Precomputed(embedded),
                            lambda: LogisticRegression(max_iter=1000, C=10.0),
                            np.arange(len(texts)), y, folds)
    result["encode"] = encode
    return result


class _Precomputed:
    """Rows of an array computed once, served by index (a stateless extractor's output)."""

    def __init__(self, rows):
        self.rows = rows

    def fit(self, index):
        return self

    def transform(self, index):
        return self.rows[index]


def line(name, r, base):
    total, base_total = (
        r["fit"] + r["transform"] + r["clf"], base["fit"] + base["transform"] + base["clf"]
    )
    return (f"| {name} | {r['acc']:.4f} ± {r['std']:.4f} | {r['fit']:.2f} | {r['transform']:.2f} | "
            f"{r['clf']:.2f} | {r['acc'] / base['acc']:.3f} | {total / base_total:.1f}x |")


HEADER = ("| method | accuracy (mean ± std) | extractor fit (s/fold) | transform (s/fold) | "
          "classifier fit (s/fold) | accuracy / baseline | total time / baseline |\n"
          "|---|---:|---:|---:|---:|---:|---:|")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="subsample size (default: all 7,600)")
    parser.add_argument("--st-n", type=int, default=800,
                        help="subsample for TextSentenceEmbedder (0: skip)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    X, y = load_ag_news(return_X_y=True)
    texts = (X["title"] + ". " + X["description"]).to_numpy(dtype=object)
    if args.n is not None and args.n < len(texts):
        texts, _, y, _ = train_test_split(texts, y, train_size=args.n, stratify=y, random_state=0)
    cv = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    folds = list(cv.split(texts, y))
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    results = {}
    for name, (make_extractor, make_classifier) in methods().items():
        results[name] = cross_validate(make_extractor, make_classifier, texts, y, folds)
        print(name, {k: round(v, 4) for k, v in results[name].items()}, flush=True)
    base = results["TfidfVectorizer (baseline)"]
    rows = [line(name, r, base) for name, r in results.items()]

    st_lines = []
    if args.st_n:
        sub, _, y_sub, _ = train_test_split(texts, y, train_size=min(args.st_n, len(texts) - 4),
                                            stratify=y, random_state=1)
        sub_folds = list(cv.split(sub, y_sub))
        st = sentence_embedder_rows(sub, y_sub, sub_folds)
        if st is not None:
            sub_base = cross_validate(*methods()["TfidfVectorizer (baseline)"],
                                      sub, y_sub, sub_folds)
            st["transform"] = st["encode"]  # one pass over every text serves all folds
            st_lines = [line("TfidfVectorizer (baseline)", sub_base, sub_base),
                        line("TextSentenceEmbedder (all-MiniLM-L6-v2, cpu)", st, sub_base)]
            print("TextSentenceEmbedder", {k: round(v, 4) for k, v in st.items()},
                  f"{len(sub) / st['encode']:.1f} texts/s", flush=True)
    elapsed = time.perf_counter() - started
    load = (f"1-minute load average {load_before:.1f} at the start and "
            f"{os.getloadavg()[0]:.1f} at the end")

    import gensim
    import sklearn

    report = [
        "# Text extractors on AG News: accuracy and time against TF-IDF",
        "",
        f"Command: `SKMM_DATA=/work/shared/data python benchmarks/bench_text.py"
        f"{' --n ' + str(args.n) if args.n else ''} --st-n {args.st_n}` ({elapsed:.0f} s in all).",
        "",
        f"Machine: 2-core CPU ({platform.machine()}), no GPU; the cores may be shared with "
        "other jobs "
        f"({load}), so absolute times are noisy; ratios come from one run. No GPU was available in "
        f"this session, so there are no GPU figures. gensim {gensim.__version__}, scikit-learn "
        f"{sklearn.__version__}.",
        "",
        f"Data: `load_ag_news()`, {len(texts)} articles, text = title + '. ' + description, "
        f"{args.folds}-fold stratified CV (shuffled, seed 0). Classifier: LogisticRegression "
        "(C=10 on TF-IDF and on sentence embeddings; StandardScaler then C=0.1 on the gensim "
        "features). Each fold fits the extractor on its training texts only.",
        "",
        HEADER,
        *rows,
        "",
    ]
    if st_lines:
        report += [
            f"TextSentenceEmbedder on a stratified subsample of {len(sub)} articles (same folds "
            "scheme), with the baseline measured again on it. The model learns nothing in fit, so "
            "each text is encoded once (the transform column is that one pass over all "
            f"{len(sub)} texts, {len(sub) / st['encode']:.1f} texts/s on this CPU) and the folds "
            "reuse the rows.",
            "",
            HEADER,
            *st_lines,
            "",
        ]
    else:
        report += ["TextSentenceEmbedder: not measured (sentence-transformers or the bundled model "
                   "is not installed, or --st-n 0).", ""]
    text = "\n".join(report)
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
