"""The modality union: a ``ColumnTransformer`` whose sparse blocks stay sparse and named.

:func:`skmm.fusion.make_modality_union` builds this module's :class:`ColumnTransformer`.
With dense blocks only it is the plain ``ColumnTransformer`` it always was (pandas output,
``modality__feature`` columns). A block whose transformer returns a scipy sparse matrix
(``TfidfVectorizer``, ``CountVectorizer``, ``HashingVectorizer``, a ``Pipeline`` ending in
one, a one-hot encoder kept sparse) is never densified: the union then returns one
:class:`NamedCSR`, a CSR matrix of every block (the dense ones included) that carries its
column names, the sparse block's written ``<modality>__sparse:<feature>``
(:func:`skmm._naming.sparse_names`).

Why not a DataFrame of pandas sparse columns: at 20,000 x 100,000 with 50 non-zeros a row
``DataFrame.sparse.from_spmatrix`` takes 13x the CSR's memory, selecting half the rows (a CV
split) 60 s against 0.03 s on the CSR, and ``check_array`` turns it back into a sparse matrix
through a COO copy (5x); a table with one dense column beside them is densified by
scikit-learn. See ARCHITECTURE.md, "Sparse blocks".
"""

from itertools import chain

import numpy as np
from scipy import sparse as sp
from sklearn import compose
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils._set_output import _wrap_data_with_container

from ._naming import is_presence, sparse_names
from .exceptions import InvalidInputError

#: Values of ``ColumnTransformer(sparse=...)``.
SPARSE_MODES = ("keep", "dense")
#: How scikit-learn's text vectorisers say that no term is left.
_EMPTY_VOCABULARY = ("empty vocabulary", "no terms remain")
#: How scikit-learn's output wrapper refuses a sparse matrix under pandas output.
_REFUSED_SPARSE = "outputs a scipy sparse matrix"


class NamedCSR(sp.csr_matrix):
    """A CSR matrix with column names: the output of a union holding a sparse block.

    Any scikit-learn estimator that accepts a CSR matrix accepts it (it *is* one).
    ``feature_names`` (an object array of str, the union's ``get_feature_names_out()``)
    survives row selection (``X[rows]``, which cross-validation uses), ``copy`` and
    ``astype``; other operations return a ``NamedCSR`` whose ``feature_names`` is None.

    Examples
    --------
    >>> from scipy import sparse
    >>> X = NamedCSR.named(sparse.eye(3, format="csr"), ["t__sparse:a", "t__sparse:b", "t__c"])
    >>> X[[0, 2]].feature_names.tolist(), X[[0, 2]].shape
    (['t__sparse:a', 't__sparse:b', 't__c'], (2, 3))
    """

    #: Column names; None where an operation lost them.
    feature_names = None

    @classmethod
    def named(cls, matrix, feature_names):
        """``matrix`` as a ``NamedCSR``, sharing its arrays when it is already CSR."""
        matrix = matrix if matrix.format == "csr" else matrix.tocsr()
        out = cls((matrix.data, matrix.indices, matrix.indptr), shape=matrix.shape, copy=False)
        names = np.asarray(feature_names, dtype=object)
        if names.shape != (matrix.shape[1],):
            raise ValueError(f"{len(names)} names for {matrix.shape[1]} columns")
        out.feature_names = names
        return out

    def _keep_names(self, out):
        if isinstance(out, NamedCSR) and out.shape[1] == self.shape[1]:
            out.feature_names = self.feature_names
        return out

    def __getitem__(self, key):
        out = super().__getitem__(key)
        whole_rows = not isinstance(key, tuple) or len(key) == 1 or (
            len(key) == 2 and (key[1] is Ellipsis
                               or isinstance(key[1], slice) and key[1] == slice(None)))
        return self._keep_names(out) if whole_rows else out

    def copy(self):
        return self._keep_names(super().copy())

    def astype(self, dtype, casting="unsafe", copy=True):
        return self._keep_names(super().astype(dtype, casting=casting, copy=copy))


def _steps(estimator):
    """``estimator`` and, through pipelines and feature unions, every step inside it."""
    yield estimator
    if isinstance(estimator, Pipeline):
        inner = [step for _, step in estimator.steps]
    elif isinstance(estimator, FeatureUnion):
        inner = [step for _, step in estimator.transformer_list]
    else:
        inner = []
    for step in inner:
        if not isinstance(step, str) and step is not None:
            yield from _steps(step)


def _reads_text(estimator):
    """Whether a text vectoriser is part of ``estimator``: its feature names are words."""
    return any(hasattr(step, "build_analyzer") for step in _steps(estimator))


def _can_set_output(estimator):
    """Whether ``estimator.set_output(transform="pandas")`` may be called: every step has
    ``set_output``, no step is asked for sparse output (which pandas output refuses) and
    none was set to ``set_output(transform="default")`` by the user (a transformer that
    returns a sparse matrix without a switch, e.g. a ``FunctionTransformer``)."""
    for step in _steps(estimator):
        if getattr(step, "_sklearn_output_config", {}).get("transform") == "default":
            return False
        if isinstance(step, (Pipeline, FeatureUnion)):
            continue
        if not hasattr(step, "set_output"):
            return False
        params = step.get_params(deep=False) if hasattr(step, "get_params") else {}
        if params.get("sparse_output") is True:
            return False
    return True


class ColumnTransformer(compose.ColumnTransformer, auto_wrap_output_keys=None):
    """A ``ColumnTransformer`` whose sparse blocks stay sparse, with their names.

    Built by :func:`skmm.fusion.make_modality_union` (the "modality union"). It keeps
    scikit-learn's class name, so that ``make_pipeline`` still names its step
    ``"columntransformer"`` and parameter grids written for the plain one still apply.
    The parameters are ``ColumnTransformer``'s, but ``sparse`` replaces
    ``sparse_threshold``: the output does not depend on how dense the data happen to be.

    Parameters
    ----------
    transformers : list of (name, transformer, columns)
    remainder : {"drop", "passthrough"} or estimator, default="drop"
    sparse : {"keep", "dense"}, default="keep"
        "keep": when a block's transformer returns a sparse matrix, ``transform`` returns
        a :class:`NamedCSR` of all the blocks (dense ones included), its names
        ``get_feature_names_out()``, each sparse block's columns named
        ``<name>__sparse:<feature>``; otherwise (dense blocks only) the usual output.
        "dense": a sparse block is made dense (``toarray``) and the output is the usual
        dense one (a DataFrame under pandas output), for estimators that need dense
        input (``HistGradientBoostingClassifier``); its columns keep the sparse names.
    n_jobs, transformer_weights, verbose, verbose_feature_names_out
        As in ``ColumnTransformer``.

    Attributes
    ----------
    sparse_blocks_ : tuple of str
        The blocks whose transformer returned a sparse matrix in ``fit``.
    sparse_output_ : bool
        Whether ``transform`` returns a sparse matrix (a :class:`NamedCSR`).
    """

    sparse_threshold = 0.3  # read by ColumnTransformer.fit_transform; unused here

    def __init__(self, transformers, *, remainder="drop", sparse="keep", n_jobs=None,
                 transformer_weights=None, verbose=False, verbose_feature_names_out=True):
        super().__init__(transformers, remainder=remainder, n_jobs=n_jobs,
                         transformer_weights=transformer_weights, verbose=verbose,
                         verbose_feature_names_out=verbose_feature_names_out)
        self.sparse = sparse

    # ---- output container ------------------------------------------------------------

    def set_output(self, *, transform=None):
        """Set the output container of ``transform`` (as ``ColumnTransformer.set_output``).

        A transformer that cannot give that container (a text vectoriser without
        ``set_output``, an encoder asked for sparse output) keeps its own output: the union
        stacks it (sparse blocks) or wraps it (dense arrays).
        """
        if transform is None:
            return self
        config = dict(getattr(self, "_sklearn_output_config", {}))
        config["transform"] = transform
        self._sklearn_output_config = config
        fitted = [t for _, t, _ in getattr(self, "transformers_", [])]
        for trans in chain([t for _, t, _ in self.transformers], fitted, [self.remainder]):
            if not isinstance(trans, str) and _can_set_output(trans):
                trans.set_output(transform=transform)
        return self

    def _output(self, out, X):
        if sp.issparse(out):
            return NamedCSR.named(out, self._feature_names())
        return _wrap_data_with_container("transform", out, X, self)

    def _feature_names(self):
        if getattr(self, "_names_cache", None) is None:
            self._names_cache = self.get_feature_names_out()
        return self._names_cache

    def fit_transform(self, X, y=None, **params):
        if self.sparse not in SPARSE_MODES:
            raise InvalidInputError(
                f"make_modality_union: sparse must be one of {SPARSE_MODES}, got {self.sparse!r}. "
                "Use 'keep' (sparse blocks stay sparse) or 'dense' (for estimators that "
                "need dense input).")
        for attribute in ("sparse_blocks_", "_names_cache"):
            self.__dict__.pop(attribute, None)
        try:
            out = _unwrapped(compose.ColumnTransformer.fit_transform)(self, X, y, **params)
        except ZeroDivisionError as e:  # scikit-learn's density of outputs without a column
            raise InvalidInputError(
                "make_modality_union: no block has any column (a sparse block with a "
                "vocabulary of size 0?): check the columns and the transformers.") from e
        except ValueError as e:
            if isinstance(e, InvalidInputError):
                raise
            if _REFUSED_SPARSE in str(e):
                raise InvalidInputError(
                    "make_modality_union: a block's transformer returned a sparse matrix "
                    "under pandas output, which refuses it. Ask it for dense output, or "
                    "call set_output(transform='default') on it before building the union: "
                    "the union then keeps its block sparse.") from e
            if not any(text in str(e) for text in _EMPTY_VOCABULARY):
                raise
            readers = [name for name, trans, _ in self.transformers
                       if not isinstance(trans, str) and _reads_text(trans)]
            raise InvalidInputError(
                f"make_modality_union: the text block {' or '.join(map(repr, readers))} "
                f"learned a vocabulary of size 0 ({e}). Every document of the training rows "
                "is empty, or holds only stop words or too rare or too frequent terms: check "
                "the column, or relax min_df / max_df / stop_words.") from e
        if not hasattr(self, "sparse_blocks_"):  # no transformer at all
            self.sparse_blocks_ = ()
        return self._output(out, X)

    def fit(self, X, y=None, **params):
        self.fit_transform(X, y, **params)
        return self

    def transform(self, X, **params):
        return self._output(_unwrapped(compose.ColumnTransformer.transform)(self, X, **params), X)

    # ---- stacking and names ------------------------------------------------------------

    def _block_names(self, Xs):
        """The transformer name of each output in ``Xs`` (the order of ``output_indices_``)."""
        names = list(self.output_indices_)[:len(Xs)]
        spans = [self.output_indices_[n] for n in names]
        if len(names) != len(Xs) or any(s.stop - s.start != X.shape[1]
                                         for s, X in zip(spans, Xs)):
            return [f"block {i}" for i in range(len(Xs))]  # not expected; names for messages
        return names

    def _hstack(self, Xs, **kwargs):
        names = self._block_names(Xs)
        sparse_blocks = tuple(n for n, X in zip(names, Xs) if sp.issparse(X))
        if not hasattr(self, "sparse_blocks_"):  # fitting
            for name in sparse_blocks:
                if name in self.named_transformers_:
                    _check_sparse_names(name, self.named_transformers_[name])
            self.sparse_blocks_ = sparse_blocks
        elif sparse_blocks != self.sparse_blocks_:
            raise InvalidInputError(
                f"make_modality_union: the sparse blocks were {list(self.sparse_blocks_)} in fit "
                f"and are {list(sparse_blocks)} now; a transformer must return the same kind "
                "of matrix (sparse or dense) in fit and transform.")
        for name, X in zip(names, Xs):
            if sp.issparse(X):
                _check_sparse_block(name, X)
        if sparse_blocks and self.sparse == "keep":
            self.sparse_output_ = True
            return _stack_csr(names, Xs)
        self.sparse_output_ = False
        Xs = [X.toarray() if sp.issparse(X) else X for X in Xs]
        return super()._hstack(Xs, **kwargs)

    def get_feature_names_out(self, input_features=None):
        """Output feature names (``modality__feature``; ``modality__sparse:<feature>`` for
        the columns of a sparse block)."""
        sparse_blocks = getattr(self, "sparse_blocks_", ())
        if not sparse_blocks or self.verbose_feature_names_out is not True:
            return super().get_feature_names_out(input_features)
        # scikit-learn formats one name at a time (seconds for a 2**20 hashing block):
        # it names the dense blocks; the sparse blocks' names are joined here at once.
        self._skip_sparse_names = True
        try:
            dense = iter(super().get_feature_names_out(input_features))
        finally:
            del self._skip_sparse_names
        names = []
        for name, span in self.output_indices_.items():
            width = span.stop - span.start
            if name in sparse_blocks:
                own = sparse_names(_own_names(self.named_transformers_[name]), width)
                prefix = f"{name}__"
                names.extend([prefix + feature for feature in own])
            else:
                names.extend(next(dense) for _ in range(width))
        return np.asarray(names, dtype=object)

    def _get_feature_name_out_for_transformer(self, name, trans, *args, **kwargs):
        if name not in getattr(self, "sparse_blocks_", ()):
            return super()._get_feature_name_out_for_transformer(name, trans, *args, **kwargs)
        if getattr(self, "_skip_sparse_names", False):
            return None  # joined by get_feature_names_out
        span = self.output_indices_[name]
        return np.asarray(sparse_names(_own_names(trans), span.stop - span.start), dtype=object)


def _own_names(transformer):
    """The transformer's feature names, or None where it has none (``HashingVectorizer``,
    a pipeline with a step that names nothing)."""
    try:
        return transformer.get_feature_names_out()
    except (AttributeError, NotFittedError, TypeError, ValueError):
        return None


# The union wraps its output itself (a sparse block is not refused under pandas output),
# yet ``set_output`` must stay available to Pipeline.set_output: declare the key it wraps.
ColumnTransformer._sklearn_auto_wrap_output_keys = {"transform"}


def _unwrapped(method):
    """A scikit-learn ``ColumnTransformer`` method without its output wrapper (which
    refuses a sparse matrix under pandas output): one level of ``functools.wraps``."""
    return getattr(method, "__wrapped__", method)


def _check_sparse_names(name, transformer):
    """A sparse block carries no presence column: its columns are renamed
    ``sparse:<feature>``, so a net could never read such a column as a mask."""
    if _reads_text(transformer):
        return  # a vocabulary's words or hashed slots: "present" is a word there
    names = _own_names(transformer)
    flagged = [str(f) for f in (() if names is None else names) if is_presence(f)]
    if flagged:
        raise InvalidInputError(
            f"make_modality_union: the block {name!r} is sparse and has a presence column "
            f"{flagged[0]!r}. A presence indicator must be a dense column (the fusion nets "
            "read it as the block's mask, and a sparse block's columns are renamed "
            f"'{name}__sparse:<feature>'): give it its own dense block, e.g. "
            f"{{'{name}': <sparse transformer>, '{name}_seen': (<indicator>, '{name}')}}, "
            "or use make_modality_union(..., sparse='dense').")


def _check_sparse_block(name, X):
    """A sparse block has columns and finite values (no NaN, no inf)."""
    if X.shape[1] == 0:
        raise InvalidInputError(
            f"make_modality_union: the sparse block {name!r} has no columns (a vocabulary "
            "of size 0): its transformer learned no feature from the training rows. Check "
            "the column, or relax the transformer's min_df / max_df / stop_words.")
    data = X.data
    if data.dtype.kind in "fc" and not np.isfinite(data).all():
        X = X.tocsr()
        bad = np.flatnonzero(~np.isfinite(X.data))
        rows = np.unique(np.searchsorted(X.indptr, bad, side="right") - 1)
        what = "NaN" if np.isnan(X.data[bad]).any() else "infinite values"
        raise InvalidInputError(
            f"make_modality_union: the sparse block {name!r} has {what} in "
            f"{len(rows)} row(s), first {rows[:5].tolist()}. A sparse block has no missing "
            "value: an absent document or category is an empty row (all zeros). Replace "
            "them in the transformer (e.g. SimpleImputer before it, or fill the column), "
            "or give this column a dense transformer.", rows=rows)


def _numbers(name, X):
    """A dense block (an array or a DataFrame) as a 2-D array of numbers, NaN kept."""
    try:
        if hasattr(X, "to_numpy"):  # pandas: nullable dtypes' NA become NaN
            kinds = {np.dtype(getattr(t, "numpy_dtype", t)).kind for t in X.dtypes}
            # nullable dtypes (Float64, Int64) hold pd.NA: converted with NaN for it
            plain = all(isinstance(t, np.dtype) for t in X.dtypes)
            exact = plain and len(kinds) == 1 and kinds <= set("biuf")
            return X.to_numpy() if exact else X.to_numpy(dtype=np.float64, na_value=np.nan)
        X = np.asarray(X)
        return X if X.dtype.kind in "biuf" else X.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(
            f"make_modality_union: the block {name!r} is not numeric ({e}), so it cannot be "
            "stacked beside a sparse block: give its column(s) a transformer that outputs "
            "numbers (an encoder), or drop them.") from e


def _stack_csr(names, Xs):
    """One CSR of every block, in order; a lone CSR block is used as it is (no copy)."""
    blocks = []
    for name, X in zip(names, Xs):
        if X.shape[1] == 0:
            continue
        if sp.issparse(X):
            blocks.append(X if X.format == "csr" else X.tocsr())
        else:
            blocks.append(sp.csr_matrix(_numbers(name, X)))
    if len(blocks) == 1:
        return blocks[0]
    return sp.hstack(blocks, format="csr")
