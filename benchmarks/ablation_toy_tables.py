"""The nets on scikit-learn's own small tables (iris, wine, breast cancer, diabetes).

Why a bare table of numbers is read as a table (each number embedded periodically, a
tabular branch) only from 1,500 rows (``skmm.nets._build.reads_as_table``): on these
tables, all smaller, the MLP over the row did as well or better. Each configuration (JSON:
label -> net parameters, after ``StandardScaler``) against LogisticRegression / Ridge and
HistGradientBoosting, 5-fold CV (stratified for classifiers) repeated with 3 shuffles;
accuracy, R² for diabetes. The embedded variant on small tables is forced by
``{"fusion": "sum", "branches__numeric_embedding": "periodic"}`` (one block, its branch
embedding each number, a linear head).

Usage::

    python benchmarks/ablation_toy_tables.py \
        '{"mlp": {}, "embedded": {"fusion": "sum", "branches__numeric_embedding": "periodic"}}'
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn import datasets
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout

from skmm.nets import FusionNetClassifier, FusionNetRegressor  # noqa: E402


def main():
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    configs = json.loads(sys.argv[1])
    for name in ["iris", "wine", "breast_cancer", "diabetes"]:
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        regression = name == "diabetes"
        Net = FusionNetRegressor if regression else FusionNetClassifier
        scores = {}
        for seed in [0, 1, 2]:
            cv = (KFold if regression else StratifiedKFold)(5, shuffle=True, random_state=seed)
            linear = Ridge() if regression else LogisticRegression(max_iter=2000)
            HGB = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
            models = {"LR/Ridge": make_pipeline(StandardScaler(), linear),
                      "HGB": HGB(random_state=seed)}
            for label, params in configs.items():
                models[label] = make_pipeline(StandardScaler(), Net(random_state=seed, **params))
            for label, model in models.items():
                scores.setdefault(label, []).append(cross_val_score(model, X, y, cv=cv).mean())
        print(name, X.shape, {k: round(float(np.mean(v)), 4) for k, v in scores.items()},
              flush=True)


if __name__ == "__main__":
    main()
