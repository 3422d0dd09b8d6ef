"""gensim behind skmm's text extractors: training, loading vectors, deterministic inference.

gensim is imported lazily, here only. Errors that gensim would raise bare (an empty
vocabulary, a file it cannot parse) become :class:`InvalidInputError` with a fix.
"""

import functools
import hashlib
import os

import numpy as np

from ..exceptions import InvalidInputError


def text_seed(tokens, seed):
    """A 32-bit seed from a token list and ``seed``, the same in every process.

    (Python's ``hash`` of a str changes between processes unless PYTHONHASHSEED is set.)
    """
    digest = hashlib.blake2b(
        "\x1f".join(tokens).encode("utf-8"), digest_size=8, key=seed.to_bytes(8, "little")
    ).digest()
    return int.from_bytes(digest[:4], "little")


def _check_vocabulary(model, min_count, n_docs, what):
    if len(model.wv) == 0:
        distinct = len(model.raw_vocab)
        if distinct == 0:
            detail = "no token at all (are the texts empty, or all stop words?)"
            fix = "check the texts and the tokenizer (token_pattern, stop_words)"
        else:
            detail = f"{distinct} distinct token(s), none of them {min_count} times or more"
            fix = f"lower min_count (now {min_count}), or give more training texts"
        raise InvalidInputError(
            f"{what}: the vocabulary learned from {n_docs} training text(s) is empty: "
            f"{detail}. Expected at least one word; {fix}."
        )


def train_word2vec(token_lists, params, seed, what="TextWord2Vec"):
    """Train gensim Word2Vec on ``token_lists``; return (words, vectors as float32)."""
    from gensim.models import Word2Vec

    model = Word2Vec(seed=seed, **params)
    model.build_vocab(token_lists, keep_raw_vocab=True)
    _check_vocabulary(model, params["min_count"], len(token_lists), what)
    model.raw_vocab.clear()
    model.train(token_lists, total_examples=model.corpus_count, epochs=model.epochs)
    words = np.asarray(model.wv.index_to_key, dtype=object)
    return words, np.ascontiguousarray(model.wv.vectors, dtype=np.float32)


def train_doc2vec(token_lists, params, seed, what="TextDoc2Vec"):
    """Train gensim Doc2Vec on ``token_lists`` (tagged by position); return the model."""
    from gensim.models.doc2vec import Doc2Vec, TaggedDocument

    corpus = [TaggedDocument(words, [i]) for i, words in enumerate(token_lists)]
    model = Doc2Vec(seed=seed, **params)
    model.build_vocab(corpus, keep_raw_vocab=True)
    _check_vocabulary(model, params["min_count"], len(token_lists), what)
    model.raw_vocab.clear()
    model.train(corpus, total_examples=model.corpus_count, epochs=model.epochs)
    model.dv.vectors = np.zeros((0, model.vector_size), dtype=np.float32)  # training rows: unused
    return model


def infer_doc2vec(model, token_lists, seeds):
    """gensim's ``Doc2Vec.infer_vector`` for each token list, its randomness from its seed only.

    gensim seeds the initial vector with Python's per-process ``hash`` and draws negative
    samples and window sizes from the model's shared random state, so its result depends
    on the process and on the documents inferred before. Here both come from the
    document's seed; the model's random state is restored afterwards.

    Returns
    -------
    ndarray of float32, shape (len(token_lists), vector_size)
    """
    from gensim.models.doc2vec_inner import (
        train_document_dbow, train_document_dm, train_document_dm_concat,
    )

    size = model.dv.vector_size
    out = np.empty((len(token_lists), size), dtype=np.float32)
    epochs, alpha0, min_alpha = model.epochs, model.alpha, model.min_alpha
    alpha_delta = (alpha0 - min_alpha) / max(epochs - 1, 1)
    lockf = np.ones(1, dtype=np.float32)
    work = np.zeros(model.layer1_size, dtype=np.float32)
    neu1 = np.zeros(model.layer1_size, dtype=np.float32)
    if model.sg:
        step = train_document_dbow
    else:
        step = functools.partial(
            train_document_dm_concat if model.dm_concat else train_document_dm, neu1=neu1
        )
    shared_random = model.random
    try:
        for row, (words, seed) in enumerate(zip(token_lists, seeds)):
            words = list(words)
            doctag = (np.random.Generator(np.random.SFC64(seed)).random(size) - 0.5) / size
            doctag = doctag.astype(np.float32).reshape(1, size)
            model.random = np.random.RandomState(seed)
            alpha = alpha0
            for _ in range(epochs):
                step(model, words, [0], alpha, work, learn_words=False, learn_hidden=False,
                     doctag_vectors=doctag, doctags_lockf=lockf)
                alpha -= alpha_delta
            out[row] = doctag[0]
    finally:
        model.random = shared_random
    return out


def load_keyed_vectors(path, what="TextWord2Vec"):
    """Load word vectors from a local file: word2vec text/binary, GloVe text, or gensim's own.

    Returns (words as an object array, vectors as float32).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidInputError(
            f"{what}: pretrained must be None or the path of a local vectors file, got "
            f"{type(path).__name__}."
        )
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InvalidInputError(
            f"{what}: pretrained vectors file '{path}' not found (working directory "
            f"'{os.getcwd()}'). Expected a word2vec text/binary file, a GloVe text file or a "
            "file saved by gensim's KeyedVectors.save / Word2Vec.save."
        )
    st = os.stat(path)
    return _load_cached(os.path.realpath(path), st.st_size, st.st_mtime_ns, what)


@functools.lru_cache(maxsize=2)
def _load_cached(path, size, mtime_ns, what):
    """Load once per (file, size, mtime): each CV fold refits on the same file.

    The arrays are shared between extractors, so they are made read-only.
    """
    from gensim.models import KeyedVectors
    from gensim.utils import SaveLoad

    with open(path, "rb") as fh:
        head = fh.read(1)
    try:
        if head == b"\x80":  # a pickle: gensim's native save
            obj = SaveLoad.load(path)
            kv = getattr(obj, "wv", obj)
            if not isinstance(kv, KeyedVectors):
                raise TypeError(f"the file holds a {type(obj).__name__}, not word vectors")
        else:
            kv = _load_word2vec_format(KeyedVectors, path)
    except InvalidInputError:
        raise
    except Exception as exc:
        raise InvalidInputError(
            f"{what}: could not read pretrained vectors from '{path}' ({type(exc).__name__}: "
            f"{exc}). Expected a word2vec text file ('<count> <dim>' header, then "
            "'<word> <v1> ... <vdim>' lines), a word2vec binary file (.bin), a GloVe text file "
            "(no header), or a gensim KeyedVectors.save / Word2Vec.save file."
        ) from exc
    if len(kv.index_to_key) == 0:
        raise InvalidInputError(f"{what}: pretrained vectors file '{path}' holds no word.")
    words = np.asarray(kv.index_to_key, dtype=object)
    vectors = np.ascontiguousarray(kv.vectors, dtype=np.float32)
    words.setflags(write=False)
    vectors.setflags(write=False)
    return words, vectors


def _load_word2vec_format(KeyedVectors, path):
    from gensim.utils import open as smart_open

    binary = path.endswith((".bin", ".bin.gz", ".bin.bz2"))
    if binary:
        return KeyedVectors.load_word2vec_format(path, binary=True)
    with smart_open(path, "rb") as fh:
        first = fh.readline().split()
    has_header = len(first) == 2 and all(part.isdigit() for part in first)
    try:
        return KeyedVectors.load_word2vec_format(path, binary=False, no_header=not has_header)
    except (UnicodeDecodeError, ValueError):
        if not has_header:
            raise
        return KeyedVectors.load_word2vec_format(path, binary=True)
