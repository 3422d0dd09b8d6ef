"""Feature-level (early) and model-level (late) fusion, built from scikit-learn parts.

* :func:`make_modality_union` puts one extractor per column into a ``ColumnTransformer``
  whose output is a DataFrame with ``modality__feature`` columns: the input of any
  estimator, e.g. :class:`~skmm.nets.FusionNetClassifier` (early fusion).
* :func:`make_late_fusion` trains one pipeline per modality and stacks their out-of-fold
  predictions under a final estimator (a ``StackingClassifier`` or ``StackingRegressor``).

Both return plain scikit-learn objects: ``clone``, ``GridSearchCV``, ``cross_val_score``
and pickling work unchanged. Importing this module does not import torch.
"""

from sklearn.base import clone, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import StackingClassifier, StackingRegressor
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags

from . import _union
from ._union import NamedCSR  # noqa: F401 (the output of a union with a sparse block)
from .exceptions import InvalidInputError

_TASKS = ("auto", "classification", "regression")


def _entries(mapping, what):
    """``[(name, estimator, columns)]`` from ``{column: estimator or (estimator, columns)}``."""
    if not isinstance(mapping, dict) or not mapping:
        raise InvalidInputError(
            f"{what} expects a non-empty dict {{column name: transformer or pipeline}}, e.g. "
            f"{{'image': ImagePixels(), 'audio': AudioLogMel()}}; got {type(mapping).__name__}."
        )
    entries = []
    for name, value in mapping.items():
        if not isinstance(name, str) or not name or "__" in name:
            raise InvalidInputError(
                f"{what}: keys name the modalities and must be non-empty strings without "
                f"'__' (they prefix the feature names as 'modality__feature'); got {name!r}."
            )
        columns = name
        if isinstance(value, tuple):
            if len(value) != 2:
                raise InvalidInputError(
                    f"{what}: the value for {name!r} must be an estimator or a pair "
                    f"(estimator, columns), got a tuple of {len(value)} items."
                )
            value, columns = value
        entries.append((name, value, columns))
    return entries


_FIXES = {
    "transform": "Use a transformer (an extractor) or a pipeline ending in one.",
    "predict": "Use a model or a pipeline ending in one, e.g. "
               "make_pipeline(ImagePixels(), LogisticRegression()).",
}


def _check_step(name, step, needs, what):
    if needs == "transform" and isinstance(step, str) and step in ("drop", "passthrough"):
        return
    if not all(hasattr(step, method) for method in ("fit", needs)):
        raise InvalidInputError(
            f"{what}: the value for {name!r} must be an estimator with fit and {needs}, got "
            f"{type(step).__name__}. {_FIXES[needs]}"
        )


def _first_step(step):
    while isinstance(step, Pipeline) and step.steps:
        step = step.steps[0][1]
    return step


def _takes_frame(step):
    """Whether ``step`` reads a 2-D table (a scaler, an encoder, "passthrough") rather than
    one column of cells (skmm's extractors, a text vectoriser)."""
    first = _first_step(step)
    if isinstance(first, str) or first is None:
        return True
    try:
        tags = get_tags(first).input_tags
    except (AttributeError, TypeError, ValueError):  # an object that predates sklearn's tags
        return False
    return tags.two_d_array and not tags.one_d_array


def _dense(step):
    """``step`` with a last step's ``sparse_output=True`` turned off (on a copy): pandas
    output, which the nets read the modality blocks from, holds dense columns only
    (``make_modality_union(sparse="auto")``, the default)."""
    last = step.steps[-1][1] if isinstance(step, Pipeline) and step.steps else step
    params = last.get_params(deep=False) if hasattr(last, "get_params") else {}
    if params.get("sparse_output") is not True:
        return step
    step = clone(step)
    last = step.steps[-1][1] if isinstance(step, Pipeline) else step
    last.set_params(sparse_output=False)
    return step


def make_modality_union(mapping, *, remainder="drop", sparse="auto", n_jobs=None,
                        verbose=False, **kwargs):
    """A ``ColumnTransformer`` applying one extractor per column, with pandas output.

    Parameters
    ----------
    mapping : dict
        ``{column: transformer}``: each key is a column of X (and the modality name that
        prefixes its features); the value is an extractor or a pipeline, which receives
        that single column. A value ``(transformer, columns)`` feeds other column(s) under
        the key's name. A table's own columns (numbers, categories) are modalities too:
        give them :class:`~skmm.tabular.TabularEncoder`, ``"passthrough"`` or any
        scikit-learn transformer (``StandardScaler()``, ``OneHotEncoder()``); these get
        a one-column DataFrame rather than the bare column. Text vectorisers
        (``TfidfVectorizer``, ``CountVectorizer``, ``HashingVectorizer``, a pipeline
        ending in one) get the bare column and give a sparse block (see ``sparse``).
        In a layer-level net each key becomes a block with a branch of its own; a NaN
        cell of such a numeric block reads as missing.
    remainder : {"drop", "passthrough"} or estimator, default="drop"
    sparse : {"auto", "keep", "dense"}, default="auto"
        What becomes of a block whose transformer returns a scipy sparse matrix.

        - "auto": an encoder with a ``sparse_output`` switch (``OneHotEncoder()``) is set
          to dense output (on a copy), as pandas output requires; a transformer that
          only gives sparse output (a text vectoriser) keeps its block sparse.
        - "keep": no switch is touched: every sparse block stays sparse.
        - "dense": every block is dense (a text vectoriser's block is densified): for
          estimators that need dense input, such as ``HistGradientBoostingClassifier``.

        With a sparse block kept, ``transform`` returns a
        :class:`~skmm._union.NamedCSR`: one CSR matrix of all the blocks (the dense
        ones included), never densified, which any estimator accepting sparse input
        takes (``LogisticRegression``), with the column names in its
        ``feature_names``; a sparse block's columns are named
        ``<modality>__sparse:<feature>`` (:func:`skmm._naming.sparse_names`). Dense
        blocks only: the DataFrame described below, as before.
    n_jobs : int, default=None
        Columns transformed in parallel (joblib).
    verbose : bool, default=False
    **kwargs
        Other ``ColumnTransformer`` parameters (``transformer_weights``, ...), except
        ``sparse_threshold``, which ``sparse`` replaces.

    Returns
    -------
    ColumnTransformer
        :class:`skmm._union.ColumnTransformer`, a scikit-learn ``ColumnTransformer``,
        with ``set_output(transform="pandas")``: ``transform`` returns a DataFrame
        whose columns are ``get_feature_names_out()``, named
        ``modality__feature`` (or a ``NamedCSR`` with those names, see ``sparse``).

    Examples
    --------
    >>> from skmm import ImagePixels, make_modality_union
    >>> from skmm.datasets import make_multimodal_classification
    >>> X, y = make_multimodal_classification(n_samples=8, modalities=("image",),
    ...                                       random_state=0, return_X_y=True)
    >>> union = make_modality_union({"image": ImagePixels(size=4)})
    >>> features = union.fit_transform(X)
    >>> features.shape, features.columns[0]
    ((8, 16), 'image__c0_r00_c00')

    A table's own columns beside the image:

    >>> from skmm import TabularEncoder
    >>> X["price"], X["category"] = [3.0, 5.5, None, 9.0] * 2, ["a", "b", "c", "a"] * 2
    >>> union = make_modality_union({"image": ImagePixels(size=4), "price": "passthrough",
    ...                              "shop": (TabularEncoder(), ["price", "category"])})
    >>> table = union.fit_transform(X)
    >>> table.shape, list(table.columns[16:19]), table.columns[-1]
    ((8, 20), ['price__price', 'shop__num:price', 'shop__code:category'], 'shop__present')

    A text vectoriser gives a sparse block, kept sparse:

    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> X["review"] = ["good film", "bad film", "good", "bad"] * 2
    >>> union = make_modality_union({"price": "passthrough", "review": TfidfVectorizer()})
    >>> out = union.fit_transform(X)
    >>> type(out).__name__, out.shape, out.feature_names.tolist()
    ('NamedCSR', (8, 4), ['price__price', 'review__sparse:bad', 'review__sparse:film', \
'review__sparse:good'])
    """
    what = "make_modality_union"
    if sparse not in ("auto", "keep", "dense"):
        raise InvalidInputError(
            f"{what}: sparse must be 'auto', 'keep' or 'dense', got {sparse!r}.")
    if "sparse_threshold" in kwargs:
        raise InvalidInputError(
            f"{what}: sparse_threshold is not used (the output does not depend on how "
            "dense the data are); use sparse='keep' or sparse='dense'.")
    transformers = []
    for name, transformer, columns in _entries(mapping, what):
        _check_step(name, transformer, "transform", what)
        if isinstance(columns, str) and _takes_frame(transformer):
            columns = [columns]
        if not isinstance(transformer, str) and sparse != "keep":
            transformer = _dense(transformer)
        transformers.append((name, transformer, columns))
    union = _union.ColumnTransformer(
        transformers, remainder=remainder, sparse="dense" if sparse == "dense" else "keep",
        n_jobs=n_jobs, verbose=verbose, verbose_feature_names_out=True, **kwargs,
    )
    return union.set_output(transform="pandas")


def _selected(name, estimator, columns):
    """Pipeline: keep only ``columns`` (as a DataFrame), then ``estimator``."""
    select = ColumnTransformer(
        [(name, "passthrough", [columns] if isinstance(columns, str) else columns)],
        remainder="drop", verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    return Pipeline([("select", select), ("model", estimator)])


def _default_final_estimator(regression, random_state):
    from .nets import FusionNetClassifier, FusionNetRegressor

    net = FusionNetRegressor if regression else FusionNetClassifier
    return net(hidden_sizes=(32,), dropout=0.0, max_epochs=60, lr=0.01, batch_size=64,
               random_state=random_state)


def make_late_fusion(mapping, final_estimator=None, cv=5, *, task="auto", stack_method="auto",
                     n_jobs=None, random_state=None, verbose=0):
    """Model-level fusion: one model per modality, stacked under a final estimator.

    Parameters
    ----------
    mapping : dict
        ``{column: estimator}``: each base model (usually a pipeline, e.g.
        ``make_pipeline(ImagePixels(), LogisticRegression())``) sees only its own column
        (as a one-column DataFrame). A value ``(estimator, columns)`` gives it other
        column(s).
    final_estimator : estimator, optional
        Learns from the base models' out-of-fold predictions. Default: a small
        :class:`~skmm.nets.FusionNetClassifier` (or ``FusionNetRegressor``).
    cv : int, cross-validation generator or iterable, default=5
        How the out-of-fold predictions are made (stratified for classification).
    task : {"auto", "classification", "regression"}, default="auto"
        "auto": regression when ``final_estimator`` is a regressor, or when it is None and
        every base model is a regressor; classification otherwise.
    stack_method : str, default="auto"
        Classification only: which base model output is stacked (see
        ``StackingClassifier``).
    n_jobs : int, default=None
        Base models fitted in parallel (joblib).
    random_state : int or None, default=None
        Seeds the default final estimator.
    verbose : int, default=0

    Returns
    -------
    StackingClassifier or StackingRegressor

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skmm import ImagePixels, make_late_fusion
    >>> from skmm.datasets import make_multimodal_classification
    >>> X, y = make_multimodal_classification(n_samples=60, modalities=("image",),
    ...                                       random_state=0, return_X_y=True)
    >>> late = make_late_fusion({
    ...     "image": make_pipeline(ImagePixels(size=4), LogisticRegression()),
    ... }, final_estimator=LogisticRegression(), cv=3)
    >>> late.fit(X, y).predict(X[:2]).shape
    (2,)
    """
    what = "make_late_fusion"
    if task not in _TASKS:
        raise InvalidInputError(f"task must be one of {_TASKS}, got {task!r}.")
    entries = _entries(mapping, what)
    for name, estimator, _ in entries:
        _check_step(name, estimator, "predict", what)
    if task == "auto":
        if final_estimator is not None:
            regression = is_regressor(final_estimator)
        else:
            regression = all(is_regressor(estimator) for _, estimator, _ in entries)
    else:
        regression = task == "regression"
    if final_estimator is None:
        final_estimator = _default_final_estimator(regression, random_state)
    estimators = [(name, _selected(name, est, columns)) for name, est, columns in entries]
    if regression:
        return StackingRegressor(estimators, final_estimator=final_estimator, cv=cv,
                                 n_jobs=n_jobs, verbose=verbose)
    return StackingClassifier(estimators, final_estimator=final_estimator, cv=cv,
                              stack_method=stack_method, n_jobs=n_jobs, verbose=verbose)
