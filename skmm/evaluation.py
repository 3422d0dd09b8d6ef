"""Evaluation of multimodal models: which modality matters, and how robust the model is.

* :func:`modality_importance` — permutation importance of whole modalities (one column
  group shuffled at a time), as a DataFrame; :class:`ModalityImportanceDisplay` plots it.
* :func:`robustness_report` — score under growing perturbation (noise, occlusion, typos,
  missing cells ...) of one modality at a time, like MultiBench's robustness curves;
  :class:`RobustnessDisplay` plots it.
* :class:`TrainingCurveDisplay` — the loss curves in a fitted skorch net's history.

Plots follow scikit-learn's ``Display`` conventions (``from_estimator``, ``plot(ax=...)``)
and need matplotlib (``pip install 'skmm[plot]'``).
"""

import os

import numpy as np
import pandas as pd
from sklearn.metrics import check_scoring
from sklearn.utils import check_random_state

from ._column import is_missing
from ._deps import import_optional
from .audio import decode_audio
from .exceptions import InvalidInputError
from .image import decode_image

_AUDIO_EXT = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au"}
_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _check_frame(X):
    if not isinstance(X, pd.DataFrame):
        raise InvalidInputError(
            f"X must be a pandas DataFrame with one column per modality, got {type(X).__name__}."
        )


def _groups(X, modalities):
    if modalities is None:
        return {str(c): [c] for c in X.columns}
    groups = {}
    for name, columns in modalities.items():
        columns = [columns] if isinstance(columns, str) else list(columns)
        unknown = [c for c in columns if c not in X.columns]
        if unknown:
            raise InvalidInputError(
                f"modalities[{name!r}] names columns {unknown} that X does not have; X has "
                f"{list(X.columns)}."
            )
        groups[name] = columns
    return groups


def modality_importance(estimator, X, y, *, scoring=None, n_repeats=5, modalities=None,
                        random_state=None):
    """Permutation importance of whole modalities.

    Each modality (a column, or a group of columns given by ``modalities``) is shuffled
    across rows ``n_repeats`` times, keeping the others intact; its importance is the
    drop of the score from the unshuffled baseline.

    Parameters
    ----------
    estimator : fitted estimator taking the DataFrame ``X``
    X : DataFrame, one column per modality field
    y : array-like
    scoring : str or callable, optional
        As in scikit-learn; default is the estimator's ``score``.
    n_repeats : int, default=5
    modalities : dict {name: column or list of columns}, optional
        Column groups shuffled together; default one group per column.
    random_state : int, RandomState or None

    Returns
    -------
    DataFrame indexed by modality with ``importance_mean``, ``importance_std``,
    ``baseline_score`` and the per-repeat ``importances`` (lists), sorted by importance.

    Examples
    --------
    >>> from sklearn.compose import make_column_transformer
    >>> from sklearn.feature_extraction.text import CountVectorizer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skmm.datasets import make_multimodal_classification
    >>> X, y = make_multimodal_classification(n_samples=200, modalities=("text",),
    ...                                       random_state=0, return_X_y=True)
    >>> X["noise"] = ["lorem ipsum"] * len(X)
    >>> model = make_pipeline(make_column_transformer((CountVectorizer(), "text"),
    ...                       (CountVectorizer(), "noise")), LogisticRegression()).fit(X, y)
    >>> table = modality_importance(model, X, y, n_repeats=2, random_state=0)
    >>> table.index[0]
    'text'
    """
    _check_frame(X)
    if not isinstance(n_repeats, (int, np.integer)) or n_repeats < 1:
        raise InvalidInputError(f"n_repeats must be a positive integer, got {n_repeats!r}.")
    scorer = check_scoring(estimator, scoring=scoring)
    rng = check_random_state(random_state)
    baseline = scorer(estimator, X, y)
    rows = []
    for name, columns in _groups(X, modalities).items():
        drops = []
        for _ in range(n_repeats):
            shuffled = X.copy()
            order = rng.permutation(len(X))
            for column in columns:  # keeps each column's dtype (numbers stay numbers)
                shuffled[column] = X[column].iloc[order].set_axis(X.index)
            drops.append(baseline - scorer(estimator, shuffled, y))
        rows.append({
            "modality": name,
            "importance_mean": float(np.mean(drops)),
            "importance_std": float(np.std(drops)),
            "baseline_score": float(baseline),
            "importances": [float(d) for d in drops],
        })
    table = pd.DataFrame(rows).set_index("modality")
    return table.sort_values("importance_mean", ascending=False)


# ------------------------------------------------------------------ perturbations


def modality_kind(cells):
    """Guess 'image', 'audio' or 'text' from the first present cell of a column."""
    from PIL import Image

    for cell in cells:
        if is_missing(cell):
            continue
        if isinstance(cell, tuple):
            return "audio"
        if isinstance(cell, Image.Image):
            return "image"
        if isinstance(cell, np.ndarray):
            return "audio" if cell.ndim == 1 else "image"
        if isinstance(cell, (str, os.PathLike)):
            ext = os.path.splitext(os.fspath(cell))[1].lower()
            if ext in _AUDIO_EXT and os.path.exists(cell):
                return "audio"
            if ext in _IMAGE_EXT and os.path.exists(cell):
                return "image"
            return "text"
        raise InvalidInputError(f"cannot tell the modality of a {type(cell).__name__} cell.")
    return "text"


def _as_image(cell):
    if isinstance(cell, np.ndarray) and np.issubdtype(cell.dtype, np.floating):
        return cell.astype(np.float32)
    return decode_image(cell, mode=None).astype(np.float32) / 255.0


def _as_audio(cell):
    if isinstance(cell, tuple):
        return np.asarray(cell[0], dtype=np.float32), cell[1]
    if isinstance(cell, np.ndarray):
        return cell.astype(np.float32), None
    import soundfile

    sr = soundfile.info(os.fspath(cell)).samplerate if not isinstance(cell, bytes) else 16000
    return decode_audio(cell, sr=sr), sr


def _image_noise(cell, level, rng):
    img = _as_image(cell)
    return np.clip(img + rng.normal(0.0, level, size=img.shape), 0.0, 1.0).astype(np.float32)


def _image_occlusion(cell, level, rng):
    img = _as_image(cell).copy()
    h, w = img.shape[:2]
    side_h, side_w = int(round(h * np.sqrt(level))), int(round(w * np.sqrt(level)))
    if side_h and side_w:
        top = rng.randint(0, h - side_h + 1)
        left = rng.randint(0, w - side_w + 1)
        img[top:top + side_h, left:left + side_w] = 0.0
    return img


def _audio_noise(cell, level, rng):
    y, sr = _as_audio(cell)
    rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2))) or 1e-3
    noisy = (y + rng.normal(0.0, rms * 2.0 * level, size=y.shape)).astype(np.float32)
    return noisy if sr is None else (noisy, sr)


def _audio_dropout(cell, level, rng):
    y, sr = _as_audio(cell)
    y = y.copy()
    chunk = max(1, len(y) // 50)
    n_chunks = int(np.ceil(len(y) / chunk))
    for k in np.flatnonzero(rng.random_sample(n_chunks) < level):
        y[k * chunk:(k + 1) * chunk] = 0.0
    return y if sr is None else (y, sr)


def _text_typos(cell, level, rng):
    chars = list(cell)
    for i in range(len(chars) - 1):
        if chars[i].isalpha() and rng.random_sample() < level * 0.5:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return "".join(chars)


def _text_word_drop(cell, level, rng):
    words = cell.split()
    return " ".join(w for w in words if rng.random_sample() >= level)


PERTURBATIONS = {
    "image": {"noise": _image_noise, "occlusion": _image_occlusion},
    "audio": {"noise": _audio_noise, "dropout": _audio_dropout},
    "text": {"typos": _text_typos, "word_drop": _text_word_drop},
}


def perturb_column(cells, kind, perturbation, level, random_state=None):
    """Return the cells of one column perturbed at ``level`` in [0, 1].

    ``perturbation`` is one of ``PERTURBATIONS[kind]`` or ``"missing"`` (cells set to
    None with probability ``level``). Missing cells stay missing.
    """
    rng = check_random_state(random_state)
    if perturbation == "missing":
        return [None if rng.random_sample() < level else c for c in cells]
    try:
        fn = PERTURBATIONS[kind][perturbation]
    except KeyError:
        raise InvalidInputError(
            f"unknown perturbation {perturbation!r} for {kind} columns; choose from "
            f"{sorted(PERTURBATIONS[kind]) + ['missing']}."
        ) from None
    if level == 0:
        return list(cells)
    return [c if is_missing(c) else fn(c, level, rng) for c in cells]


def robustness_report(estimator, X, y, *, perturbations=None, levels=(0.0, 0.25, 0.5, 0.75, 1.0),
                      scoring=None, random_state=0):
    """Score of a fitted model as one modality at a time is perturbed more and more.

    Parameters
    ----------
    estimator : fitted estimator taking the DataFrame ``X``
    X : DataFrame, one column per modality field
    y : array-like
    perturbations : dict {column: list of perturbation names}, optional
        Default: every column with all perturbations of its kind (image: noise, occlusion;
        audio: noise, dropout; text: typos, word_drop) plus ``"missing"``.
    levels : sequence of float in [0, 1]
    scoring : str or callable, optional
    random_state : int

    Returns
    -------
    DataFrame with columns ``modality``, ``perturbation``, ``level``, ``score``.

    Examples
    --------
    >>> from skmm.datasets import make_multimodal_classification
    >>> X, y = make_multimodal_classification(n_samples=200, modalities=("text",),
    ...                                       random_state=0, return_X_y=True)
    >>> from sklearn.compose import make_column_transformer
    >>> from sklearn.feature_extraction.text import CountVectorizer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> model = make_pipeline(make_column_transformer((CountVectorizer(), "text")),
    ...                       LogisticRegression()).fit(X, y)
    >>> report = robustness_report(model, X, y, perturbations={"text": ["word_drop"]},
    ...                            levels=(0.0, 1.0))
    >>> bool(report["score"].iloc[0] > report["score"].iloc[-1])
    True
    """
    _check_frame(X)
    levels = [float(v) for v in levels]
    if any(not 0.0 <= v <= 1.0 for v in levels):
        raise InvalidInputError(f"levels must lie in [0, 1], got {levels}.")
    scorer = check_scoring(estimator, scoring=scoring)
    if perturbations is None:
        perturbations = {
            c: sorted(PERTURBATIONS[modality_kind(X[c])]) + ["missing"] for c in X.columns
        }
    rows = []
    for column, names in perturbations.items():
        if column not in X.columns:
            raise InvalidInputError(f"column {column!r} is not in X (columns {list(X.columns)}).")
        kind = modality_kind(X[column])
        for name in ([names] if isinstance(names, str) else names):
            for level in levels:
                perturbed = X.copy()
                cells = perturb_column(list(X[column]), kind, name, level, random_state)
                perturbed[column] = pd.Series(cells, index=X.index, dtype=object)
                rows.append({"modality": column, "perturbation": name, "level": level,
                             "score": float(scorer(estimator, perturbed, y))})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ displays


class _Display:
    """Shared ``plot(ax=None)``: draw on ``ax`` (a new figure by default), keep
    ``ax_``/``figure_``; and ``from_estimator``, for displays of a ``_compute`` function."""

    @classmethod
    def from_estimator(cls, estimator, X, y, *, ax=None, **kwargs):
        """Compute the table from a fitted estimator and data, then plot it."""
        return cls(cls._compute(estimator, X, y, **kwargs)).plot(ax=ax)

    def plot(self, ax=None):
        if ax is None:
            plt = import_optional("matplotlib.pyplot", "plot", "plots")
            _, ax = plt.subplots(figsize=(6, 4))
        self._draw(ax)
        self.ax_, self.figure_ = ax, ax.figure
        return self


class ModalityImportanceDisplay(_Display):
    """Bar chart of :func:`modality_importance`.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"importance_mean": [0.3, 0.1], "importance_std": [0.02, 0.01]},
    ...                      index=pd.Index(["image", "audio"], name="modality"))
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> display = ModalityImportanceDisplay(table).plot()
    >>> [label.get_text() for label in display.ax_.get_yticklabels()]
    ['audio', 'image']
    """

    _compute = staticmethod(modality_importance)

    def __init__(self, importances):
        self.importances = importances

    def _draw(self, ax):
        table = self.importances.iloc[::-1]
        ax.barh(table.index.astype(str), table["importance_mean"], xerr=table["importance_std"],
                color="#4C72B0")
        ax.set_xlabel("score drop when the modality is shuffled")
        ax.set_title("Modality importance")


class RobustnessDisplay(_Display):
    """Line plot of :func:`robustness_report`: score against perturbation level."""

    _compute = staticmethod(robustness_report)

    def __init__(self, report):
        self.report = report

    def _draw(self, ax):
        for (modality, name), part in self.report.groupby(["modality", "perturbation"], sort=False):
            ax.plot(part["level"], part["score"], marker="o", label=f"{modality}: {name}")
        ax.set_xlabel("perturbation level")
        ax.set_ylabel("score")
        ax.set_title("Robustness")
        ax.legend(fontsize="small")


class TrainingCurveDisplay(_Display):
    """Training (and validation) loss per epoch from a fitted skorch net's history."""

    def __init__(self, history):
        self.history = history

    @classmethod
    def from_estimator(cls, estimator, *, ax=None):
        net = estimator[-1] if hasattr(estimator, "steps") else estimator
        history = getattr(net, "history_", None) or getattr(net, "history", None)
        if not history:
            raise InvalidInputError(
                "the estimator has no training history: fit a FusionNetClassifier/Regressor first."
            )
        return cls(history).plot(ax=ax)

    def _draw(self, ax):
        epochs = [row["epoch"] for row in self.history]
        for key in ("train_loss", "valid_loss"):
            values = [row.get(key) for row in self.history]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker=".", label=key)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend()
