"""A sparse X in the fusion nets: batched as sparse rows, never densified whole."""

import pickle
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

pytest.importorskip("torch")

from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skmm import make_modality_union  # noqa: E402
from skmm.exceptions import InvalidInputError  # noqa: E402
from skmm.nets import FusionNetClassifier, FusionNetRegressor  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TOPICS = {0: "goal match team score league coach season player",
          1: "market stock shares profit bank trade price investor",
          2: "planet space rocket orbit telescope nasa launch moon"}
FILLER = "the a of and to in on for with at by from says report today new".split()


def documents(n=240, seed=0):
    """Short documents whose topic words give the class, among filler words."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    docs = [" ".join(rng.choice(TOPICS[c].split(), 3).tolist() + rng.choice(FILLER, 6).tolist())
            for c in y]
    return np.array(docs, dtype=object), y


def test_a_bare_tfidf_matrix_is_one_sparse_block_and_matches_logistic_regression():
    docs, y = documents()
    net = make_pipeline(TfidfVectorizer(), FusionNetClassifier(max_epochs=30, random_state=0))
    lr = make_pipeline(TfidfVectorizer(), LogisticRegression())
    net_score = cross_val_score(net, docs, y, cv=3).mean()
    lr_score = cross_val_score(lr, docs, y, cv=3).mean()
    assert net_score >= lr_score - 0.02 and net_score > 0.9, (net_score, lr_score)
    fitted = net.fit(docs, y)[-1]
    assert [(b.kind, b.name) for b in fitted.module_.layout] == [("sparse", "x")]
    assert type(fitted.module_.branches[0]).__name__ == "SparseBranch"
    assert fitted.sparse_input_


def test_sparse_and_dense_blocks_of_the_union_are_read_by_name():
    docs, y = documents()
    price = y * 2.0 + np.random.default_rng(1).normal(size=len(y))
    X = pd.DataFrame({"review": docs, "price": price})
    union = make_modality_union({"review": TfidfVectorizer(), "shop": (StandardScaler(),
                                                                       ["price"])})
    Z = union.fit_transform(X)
    assert sparse.issparse(Z) and Z.feature_names is not None
    net = FusionNetClassifier(max_epochs=30, random_state=0).fit(Z, y)
    kinds = {b.name: b.kind for b in net.module_.layout}
    assert kinds == {"review": "sparse", "shop": "features"}
    proba = net.predict_proba(Z)
    assert proba.shape == (len(y), 3) and net.score(Z, y) > 0.9
    again = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(again.predict_proba(Z), proba)


def test_weights_early_stopping_and_balance_with_a_sparse_X():
    docs, y = documents()
    Z = TfidfVectorizer().fit_transform(docs)
    w = np.where(y == 0, 2.0, 1.0)
    net = FusionNetClassifier(max_epochs=6, early_stopping=2, random_state=0)
    net.fit(Z, y, sample_weight=w, groups=np.arange(len(y)) % 4)
    assert len(net.history) >= 1 and net.predict(Z).shape == (len(y),)
    reg = FusionNetRegressor(max_epochs=4, balance="ume", random_state=0).fit(Z, y * 1.0)
    assert reg.balance_weights_ is not None and np.isfinite(reg.predict(Z)).all()


def test_a_dense_X_at_predict_is_read_as_at_fit():
    docs, y = documents(90)
    Z = TfidfVectorizer().fit_transform(docs)
    net = FusionNetClassifier(max_epochs=3, random_state=0).fit(Z, y)
    np.testing.assert_allclose(net.predict_proba(Z.toarray()), net.predict_proba(Z), atol=1e-6)


def test_nan_in_a_sparse_block_is_refused_with_the_row():
    docs, y = documents(60)
    Z = TfidfVectorizer().fit_transform(docs).tocsr()
    Z.data[5] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        FusionNetClassifier(max_epochs=1).fit(Z, y)


def test_fit_and_predict_memory_stays_within_three_times_the_csr_plus_the_model():
    """tracemalloc sees numpy's and scipy's buffers (the CSR's row slices, the dense columns
    of a batch), not torch's own allocator: the model and AdamW's moments are counted from
    their sizes."""
    rng = np.random.default_rng(0)
    n, d, per_row = 3000, 20000, 50
    cols = rng.integers(0, d, size=n * per_row)
    X = sparse.csr_matrix((rng.random(n * per_row).astype(np.float32),
                           (np.repeat(np.arange(n), per_row), cols)), shape=(n, d))
    y = rng.integers(0, 2, n)
    csr_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    net = FusionNetClassifier(max_epochs=1, branch_width=16, random_state=0)
    tracemalloc.start()
    try:
        net.fit(X, y)
        _, fit_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        net.predict(X)
        _, predict_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    model = sum(p.numel() * p.element_size() for p in net.module_.parameters())
    optimizer = 2 * model  # AdamW's two moments
    dense = X.shape[0] * X.shape[1] * 4
    assert fit_peak < 3 * csr_bytes + model + optimizer + model, (fit_peak, csr_bytes, model)
    assert predict_peak < 3 * csr_bytes + model and predict_peak < dense / 10
