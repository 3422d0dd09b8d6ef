"""Data sets: a synthetic multimodal generator and loaders for real benchmarks.

The loaders follow :mod:`sklearn.datasets`: they return a :class:`~sklearn.utils.Bunch`
with ``data`` (a DataFrame, one column per modality), ``target``, ``DESCR`` and, with
``return_X_y=True``, the pair ``(X, y)``.
"""

from ._home import get_data_home
from ._real import load_ag_news, load_av_digits
from ._synthetic import make_multimodal_classification
from ._tables import load_adult, load_california_housing

__all__ = [
    "get_data_home",
    "load_adult",
    "load_ag_news",
    "load_av_digits",
    "load_california_housing",
    "make_multimodal_classification",
]
