"""Accuracy benchmark: text extractors on AG News, 5-fold CV, against TF-IDF + LogisticRegression.

Every method sees the same text (``title + ". " + description``) and the same
stratified folds, measured in one run. In each fold the extractor is fitted on the
training texts only (Word2Vec and Doc2Vec learn their vectors there), the training and
test texts are transformed, and a LogisticRegression is fitted on the training rows.
The table gives the accuracy (mean and std over folds), the extractor's fit time, its
transform time (training + test rows), the classifier's fit time, and the ratios of
accuracy and of total time to the TF-IDF baseline's.

TextSentenceEmbedder (all-MiniLM-L6-v2, when sentence-transformers and the bundled
model are installed) learns nothing in fit, so its embeddings are computed once per
text and cross-validated with the same folds; on a CPU it encodes ~10 texts/s, so it
runs on a stratified subsample with the TF-IDF baseline measured again on that same
subsample.

Reads ``load_ag_news()`` from the data home (skipped, with the reason, when absent). An
accuracy benchmark: the environment and load are recorded, the load gate does not apply.
"""

import time

import numpy as np

from ._harness import load_real_data

SIZES = {  # articles (None: all 7,600), sentence-embedder subsample (0: none), folds
    "full": dict(n=None, st_n=800, folds=5),
    "quick": dict(n=2000, st_n=300, folds=5),
    "tiny": dict(n=120, st_n=0, folds=2),
}
BASELINE = "TfidfVectorizer (baseline)"


def methods():
    """name -> (extractor factory, classifier factory)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skmm import TextDoc2Vec, TextWord2Vec

    def scaled_lr():
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, C=0.1))

    return {
        BASELINE: (
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
    """Accuracy (mean, std) and mean fit / transform / classifier times over ``folds``."""
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


def sentence_embedder_rows(texts, y, folds, echo):
    """TextSentenceEmbedder encoded once and cross-validated (None when not installed)."""
    from sklearn.linear_model import LogisticRegression

    from skmm import TextSentenceEmbedder

    try:
        embedder = TextSentenceEmbedder(device="cpu").fit(texts[:1])
    except ImportError as exc:
        echo(f"TextSentenceEmbedder skipped: {exc}")
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
    """One table line of a method against the baseline's figures."""
    total, base_total = (
        r["fit"] + r["transform"] + r["clf"], base["fit"] + base["transform"] + base["clf"]
    )
    return (f"| {name} | {r['acc']:.4f} ± {r['std']:.4f} | {r['fit']:.2f} | {r['transform']:.2f} | "
            f"{r['clf']:.2f} | {r['acc'] / base['acc']:.3f} | {total / base_total:.1f}x |")


HEADER = ["| method | accuracy (mean ± std) | extractor fit (s/fold) | transform (s/fold) | "
          "classifier fit (s/fold) | accuracy / baseline | total time / baseline |",
          "|---|---:|---:|---:|---:|---:|---:|"]


def run(session):
    """Run the text benchmark; return (title, Markdown body lines)."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    from skmm.datasets import load_ag_news

    c = session.pick(SIZES)
    X, y = load_real_data(load_ag_news, return_X_y=True)
    texts = (X["title"] + ". " + X["description"]).to_numpy(dtype=object)
    if c["n"] is not None and c["n"] < len(texts):
        texts, _, y, _ = train_test_split(texts, y, train_size=c["n"], stratify=y,
                                          random_state=0)
    cv = StratifiedKFold(c["folds"], shuffle=True, random_state=0)
    folds = list(cv.split(texts, y))
    started = time.perf_counter()
    results = {}
    for name, (make_extractor, make_classifier) in methods().items():
        results[name] = cross_validate(make_extractor, make_classifier, texts, y, folds)
        session.echo(f"{name}: {({k: round(v, 4) for k, v in results[name].items()})}")
    base = results[BASELINE]
    for name, r in results.items():
        if name != BASELINE:
            session.add_row(name, BASELINE, base["acc"], r["acc"], measure="accuracy")
    rows = [line(name, r, base) for name, r in results.items()]

    st_lines = ["TextSentenceEmbedder: not measured (sentence-transformers or the bundled model "
                "is not installed, or this size skips it).", ""]
    if c["st_n"]:
        sub, _, y_sub, _ = train_test_split(texts, y, train_size=min(c["st_n"], len(texts) - 4),
                                            stratify=y, random_state=1)
        sub_folds = list(cv.split(sub, y_sub))
        st = sentence_embedder_rows(sub, y_sub, sub_folds, session.echo)
        if st is not None:
            sub_base = cross_validate(*methods()[BASELINE], sub, y_sub, sub_folds)
            st["transform"] = st["encode"]  # one pass over every text serves all folds
            name = "TextSentenceEmbedder (all-MiniLM-L6-v2, cpu)"
            session.add_row(f"{name}, {len(sub)}-article subsample", BASELINE, sub_base["acc"],
                            st["acc"], measure="accuracy")
            st_lines = [
                f"TextSentenceEmbedder on a stratified subsample of {len(sub)} articles (same "
                "folds scheme), with the baseline measured again on it. The model learns nothing "
                "in fit, so each text is encoded once (the transform column is that one pass "
                f"over all {len(sub)} texts, {len(sub) / st['encode']:.1f} texts/s on this CPU) "
                "and the folds reuse the rows.",
                "",
                *HEADER,
                line(BASELINE, sub_base, sub_base),
                line(name, st, sub_base),
                "",
            ]
    return "Text extractors on AG News: accuracy and time against TF-IDF", [
        f"Data: `load_ag_news()`, {len(texts)} articles, text = title + '. ' + description, "
        f"{c['folds']}-fold stratified CV (shuffled, seed 0); {time.perf_counter() - started:.0f}"
        " s in all. Classifier: LogisticRegression (C=10 on TF-IDF and on sentence embeddings; "
        "StandardScaler then C=0.1 on the gensim features). Each fold fits the extractor on its "
        "training texts only. Times are single runs on this machine (see the load above).",
        "",
        *HEADER,
        *rows,
        "",
        *st_lines,
    ]
