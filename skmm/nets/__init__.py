"""skorch estimators for fused multimodal features, and the torch modules they train.

Importing this package imports torch and skorch; ``import skmm`` does not (the public
names are loaded lazily). :data:`FUSIONS`, :data:`BRANCHES` and :data:`BALANCES` are the
registries of fusion operators, branches and balance schemes that the nets' ``fusion``,
``branches`` and ``balance`` name; :func:`register_fusion`, :func:`register_branch` and
:func:`register_balance` extend them.
"""

from ._balance import BALANCES, BalanceScheme, register_balance
from ._branches import BRANCHES, register_branch
from ._estimators import FusionNetClassifier, FusionNetRegressor
from ._mlp import MLP
from ._operators import FUSIONS, register_fusion

__all__ = ["BALANCES", "BRANCHES", "FUSIONS", "MLP", "BalanceScheme", "FusionNetClassifier",
           "FusionNetRegressor", "register_balance", "register_branch", "register_fusion"]
