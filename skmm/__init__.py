"""skmm: multimodal learning (images, text, audio) the scikit-learn way.

Each modality's feature extractor is a scikit-learn transformer, fusion is an
ordinary ``ColumnTransformer`` or ``StackingClassifier``, and the final estimator
can be a skorch-wrapped PyTorch network. Importing skmm does not import torch:
public names are loaded on first use.
"""

import importlib

from ._config import config_context, get_config, set_config  # noqa: F401 (re-exported)
from .exceptions import InvalidInputError, MissingDependencyError  # noqa: F401 (re-exported)

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily, see __getattr__)
_LAZY = {
    # each feature module adds its public names here, e.g. "AudioLogMel": "skmm.audio"
    "AudioLogMel": "skmm.audio",
    "AudioMFCC": "skmm.audio",
    "AudioEmbedder": "skmm.audio",
    "ImagePixels": "skmm.image",
    "ImageColorHistogram": "skmm.image",
    "ImageEmbedder": "skmm.image",
    "FeatureCache": "skmm.cache",
    "FusionNetClassifier": "skmm.nets",
    "FusionNetRegressor": "skmm.nets",
    "make_modality_union": "skmm.fusion",
    "make_late_fusion": "skmm.fusion",
    "TextTokenizer": "skmm.text",
    "TextWord2Vec": "skmm.text",
    "TextDoc2Vec": "skmm.text",
    "TextSentenceEmbedder": "skmm.text",
    "TextTokenIds": "skmm.text",
    "TabularEncoder": "skmm.tabular",
}

__all__ = sorted(
    ["InvalidInputError", "MissingDependencyError", "config_context", "get_config", "set_config"]
    + list(_LAZY)
)


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'skmm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
