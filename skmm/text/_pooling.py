"""Pooling token vectors into one row per document, with sparse matrix products.

A batch of documents arrives as flat token ids (-1 for unknown words) and the number
of tokens per document (see :class:`skmm.text._tokenize.TokenIndex`). Mean and tf-idf
pooling are one sparse (documents x vocabulary) matrix times the vector table; max
pooling is one ``np.maximum.reduceat`` over the gathered rows. Unknown words are
skipped; a document without a known word gives a zero row.
"""

import numpy as np

from .._validation import Options, check_param

POOLING = Options("mean", "max", "tfidf", "mean+max")


def split_pooling(pooling):
    """The poolings that ``pooling`` names, e.g. ``["mean", "max"]`` for "mean+max"."""
    check_param("pooling", pooling, [POOLING])
    return pooling.split("+")


def smooth_idf(doc_freq, n_docs):
    """scikit-learn's smooth idf: ``log((1 + n) / (1 + df)) + 1``, as float32."""
    doc_freq = np.asarray(doc_freq, dtype=np.float64)
    return (np.log((1.0 + n_docs) / (1.0 + doc_freq)) + 1.0).astype(np.float32)


def document_frequency(ids, lengths, n_words):
    """Number of documents holding each word, from flat ids (-1: unknown) and lengths."""
    doc = np.repeat(np.arange(len(lengths)), lengths)
    known = ids >= 0
    pairs = np.unique(doc[known] * np.int64(n_words) + ids[known])
    return np.bincount(pairs % n_words, minlength=n_words) if n_words else np.zeros(0, np.int64)


def pool_vectors(ids, lengths, vectors, pooling, idf=None):
    """Pool the token vectors of each document.

    Parameters
    ----------
    ids : ndarray of int, shape (n_tokens,)
        Token ids into ``vectors``; -1 marks an unknown token (skipped).
    lengths : ndarray of int, shape (n_docs,)
        Tokens per document; ``ids`` lists the documents' tokens one after the other.
    vectors : ndarray of float32, shape (n_words, dim)
    pooling : {"mean", "max", "tfidf", "mean+max"}
        ``"tfidf"`` is the mean weighted by each word's ``idf`` (so also by its count).
    idf : ndarray of float32, shape (n_words,), optional
        Needed by ``"tfidf"``.

    Returns
    -------
    pooled : ndarray of float32, shape (n_docs, dim * n_poolings)
    has_known : ndarray of bool, shape (n_docs,)
        False where a document has no known token (its row is zero).
    """
    from scipy import sparse

    n_docs = len(lengths)
    dim = vectors.shape[1]
    doc = np.repeat(np.arange(n_docs), lengths)
    known = ids >= 0
    doc, ids = doc[known], ids[known]
    n_known = np.bincount(doc, minlength=n_docs)
    has_known = n_known > 0
    blocks = []
    for kind in split_pooling(pooling):
        if kind == "max":
            pooled = np.zeros((n_docs, dim), dtype=np.float32)
            if ids.size:
                # doc is sorted, so each present document is one contiguous run of rows
                starts = np.concatenate([[0], np.cumsum(n_known[has_known])[:-1]])
                pooled[has_known] = np.maximum.reduceat(vectors[ids], starts, axis=0)
            blocks.append(pooled)
            continue
        weights = np.ones(len(ids), dtype=np.float32) if kind == "mean" else idf[ids]
        counts = sparse.csr_matrix((weights, (doc, ids)), shape=(n_docs, vectors.shape[0]))
        total = np.asarray(counts.sum(axis=1)).ravel()
        pooled = np.asarray(counts @ vectors, dtype=np.float32)
        pooled[has_known] /= total[has_known, None]
        blocks.append(pooled)
    return np.hstack(blocks) if len(blocks) > 1 else blocks[0], has_known
