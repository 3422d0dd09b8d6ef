"""skorch estimators for fused multimodal features, and the torch modules they train.

Importing this package imports torch and skorch; ``import skmm`` does not (the public
names are loaded lazily). :data:`FUSIONS` and :data:`BRANCHES` are the registries of
fusion operators and branches that the nets' ``fusion`` and ``branches`` name;
:func:`register_fusion` and :func:`register_branch` extend them.
"""

from ._branches import BRANCHES, register_branch
from ._mlp import MLP
from ._net import FusionNetClassifier, FusionNetRegressor
from ._operators import FUSIONS, register_fusion

__all__ = ["BRANCHES", "FUSIONS", "MLP", "FusionNetClassifier", "FusionNetRegressor",
           "register_branch", "register_fusion"]
