"""The tokenizer every text extractor shares, and vectorised token -> id lookup.

:class:`TextTokenizer` turns strings into lists of tokens the way scikit-learn's
``CountVectorizer`` analyzer does (lower-case, a regular expression compiled once,
optional stop words). :class:`TokenIndex` maps many token lists to integer ids in one
hash-table lookup (pandas' C hash table), so pooling and padding need no Python loop
over tokens.
"""

import re
from itertools import chain

import numpy as np

from .._validation import InstanceOf, check_param
from ..exceptions import InvalidInputError

#: scikit-learn's CountVectorizer default: words of 2 or more alphanumeric characters.
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
BOOL = InstanceOf(bool, np.bool_, description="True or False")


def check_tokenizer_params(lowercase, token_pattern, stop_words):
    """Raise :class:`InvalidInputError` unless the three make a tokenizer.

    Returns
    -------
    (compiled token pattern, frozenset of stop words)
    """
    check_param("lowercase", lowercase, [BOOL])
    return _compile(token_pattern), _stop_set(stop_words)


class TextTokenizer:
    """Split texts into tokens: optional lower-casing, a token regex, optional stop words.

    The same rules as scikit-learn's ``CountVectorizer(analyzer="word")``: the text is
    lower-cased (when ``lowercase``), every match of ``token_pattern`` is a token (the
    group's text when the pattern has one capturing group), and tokens in ``stop_words``
    are dropped. The pattern is compiled once, at construction.

    It is a plain, picklable configuration object, not an estimator: the text
    extractors (``TextWord2Vec``, ``TextDoc2Vec``, ``TextTokenIds``) take its three
    parameters as their own, so that ``GridSearchCV`` can tune them, and build one in
    ``fit`` (their ``tokenizer_`` attribute).

    Parameters
    ----------
    lowercase : bool, default=True
        Lower-case the text before matching.
    token_pattern : str, default=r"(?u)\\b\\w\\w+\\b"
        Regular expression whose matches are the tokens (at most one capturing group).
        The default keeps words of two or more letters or digits, as CountVectorizer.
    stop_words : {"english"}, list of str or None, default=None
        Tokens to drop, compared after lower-casing; ``"english"`` is scikit-learn's list.

    Examples
    --------
    >>> from skmm.datasets import make_multimodal_classification
    >>> texts = make_multimodal_classification(n_samples=2, random_state=0).data["text"]
    >>> tokenizer = TextTokenizer(stop_words="english")
    >>> tokenizer("The Cat sat, on the mat!")
    ['cat', 'sat', 'mat']
    >>> len(tokenizer.tokenize(texts))
    2
    """

    def __init__(self, lowercase=True, token_pattern=DEFAULT_TOKEN_PATTERN, stop_words=None):
        self._pattern, self._stop = check_tokenizer_params(lowercase, token_pattern, stop_words)
        self.lowercase = bool(lowercase)
        self.token_pattern = token_pattern
        self.stop_words = stop_words

    def __call__(self, text):
        """Tokens of one string, as a list of str."""
        if self.lowercase:
            text = text.lower()
        tokens = self._pattern.findall(text)
        if self._stop:
            stop = self._stop
            tokens = [t for t in tokens if t not in stop]
        return tokens

    def tokenize(self, texts):
        """Tokens of each string of ``texts``: a list of lists of str."""
        return list(map(self, texts))

    def __repr__(self):
        return (
            f"TextTokenizer(lowercase={self.lowercase!r}, token_pattern={self.token_pattern!r}, "
            f"stop_words={self.stop_words!r})"
        )


def _compile(token_pattern):
    if not isinstance(token_pattern, str):
        raise InvalidInputError(
            "token_pattern must be a regular expression string, "
            f"got {type(token_pattern).__name__}."
        )
    try:
        pattern = re.compile(token_pattern)
    except re.error as exc:
        raise InvalidInputError(
            f"token_pattern {token_pattern!r} is not a valid regular expression ({exc})."
        ) from exc
    if pattern.groups > 1:
        raise InvalidInputError(
            f"token_pattern {token_pattern!r} has {pattern.groups} capturing groups; use at most "
            "one (the token), and (?:...) for the others."
        )
    return pattern


def _stop_set(stop_words):
    if stop_words is None:
        return frozenset()
    if isinstance(stop_words, str):
        if stop_words != "english":
            raise InvalidInputError(
                f"stop_words must be 'english', a list of words or None, got {stop_words!r}."
            )
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        return frozenset(ENGLISH_STOP_WORDS)
    try:
        words = frozenset(stop_words)
    except TypeError as exc:
        raise InvalidInputError(
            "stop_words must be 'english', a list of words or None, "
            f"got {type(stop_words).__name__}."
        ) from exc
    if not all(isinstance(w, str) for w in words):
        raise InvalidInputError("stop_words must hold only str.")
    return words


class TokenIndex:
    """Vocabulary lookup: many token lists -> flat integer ids in one vectorised call.

    Parameters
    ----------
    words : sequence of str
        The vocabulary; a word's id is its position. Later duplicates are never found.
    """

    def __init__(self, words):
        import pandas as pd

        index = pd.Index(np.asarray(words, dtype=object), dtype=object)
        if not index.is_unique:
            keep = ~index.duplicated(keep="first")
            # ids stay positions: map duplicates to the first occurrence's position
            self._positions = np.flatnonzero(keep)
            index = index[keep]
        else:
            self._positions = None
        self._index = index

    def lookup(self, token_lists):
        """Flatten ``token_lists`` and look every token up.

        Returns
        -------
        ids : ndarray of int64, shape (n_tokens,)
            The id of each token, -1 when unknown.
        lengths : ndarray of int64, shape (n_docs,)
            The number of tokens of each list.
        """
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        flat = list(chain.from_iterable(token_lists))
        if not flat:
            return np.empty(0, dtype=np.int64), lengths
        ids = self._index.get_indexer(flat).astype(np.int64, copy=False)
        if self._positions is not None:
            known = ids >= 0
            ids[known] = self._positions[ids[known]]
        return ids, lengths


def count_tokens(token_lists):
    """Distinct tokens (in order of first occurrence) and their total counts.

    Returns
    -------
    words : ndarray of object
    counts : ndarray of int64
    """
    import pandas as pd

    flat = pd.Index(list(chain.from_iterable(token_lists)), dtype=object)
    codes, words = pd.factorize(flat, sort=False)
    counts = np.bincount(codes, minlength=len(words)).astype(np.int64)
    return np.asarray(words, dtype=object), counts
