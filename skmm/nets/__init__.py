"""skorch estimators for fused multimodal features, and the torch modules they train.

Importing this package imports torch and skorch; ``import skmm`` does not (the public
names are loaded lazily).
"""

from ._mlp import MLP
from ._net import FusionNetClassifier, FusionNetRegressor

__all__ = ["MLP", "FusionNetClassifier", "FusionNetRegressor"]
