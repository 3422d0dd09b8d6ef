"""TextTokenIds: padded token ids, the input of an embedding branch of a fusion net."""

import numpy as np

from .._docs import fill_doc
from .._naming import token_names
from .._validation import Integer
from ..exceptions import InvalidInputError
from ._extractors import TEXT_PARAMS, _TextExtractor
from ._tokenize import DEFAULT_TOKEN_PATTERN, count_tokens

PAD_ID = 0
UNKNOWN_ID = 1


@fill_doc(**TEXT_PARAMS)
class TextTokenIds(_TextExtractor):
    """Padded token ids: the input of an embedding (+ Transformer) branch of a
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
    {{text_params}}

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

    _parameter_constraints = {
        "max_length": [Integer(1)],
        "max_vocab": [None, Integer(1)],
        "min_count": [Integer(1)],
    }

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
        return token_names(self.max_length)
