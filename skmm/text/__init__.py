"""Text extractors: word vectors (gensim), document vectors, sentence embedders, token ids.

Each takes one text column and returns one float32 row per document, never one row
per word. Word2Vec and Doc2Vec learn in ``fit`` from the training texts only (so each
cross-validation fold learns its own vectors, without leaking the test fold); all
extractors share :class:`~skmm.text.TextTokenizer`'s rules (``lowercase``,
``token_pattern``, ``stop_words``), which are parameters of each extractor.
"""

from ._decode import decode_text
from ._extractors import TextDoc2Vec, TextSentenceEmbedder, TextWord2Vec
from ._token_ids import TextTokenIds
from ._tokenize import TextTokenizer

__all__ = [
    "TextTokenizer", "TextWord2Vec", "TextDoc2Vec", "TextSentenceEmbedder", "TextTokenIds",
    "decode_text",
]
