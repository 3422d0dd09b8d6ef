"""make_multimodal_classification: images, texts and audio whose class signal is split."""

import math

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

from ..exceptions import InvalidInputError

MODALITIES = ("image", "text", "audio")
#: The table's own columns the generator can add (not generated unless asked for).
TABULAR = ("price", "category")

_WORDS = (
    "amber basil cobalt delta ember fjord garnet harbor iris jasper kelp lumen mango nickel "
    "onyx pepper quartz raven saffron tundra umber violet willow xenon yarrow zephyr "
    "acorn birch cedar dune elm fern grove heath ivy juniper knoll larch moss nettle oak "
    "pine quince reed sage thistle"
).split()
_FILLER = (
    "the a of and to in is it that was for on with as at by this from or an be are "
    "have not but some which one all were when we there can"
).split()

_DESCR = """\
Synthetic multimodal classification
-----------------------------------
Each sample has an image (an RGB uint8 array), a short text and an audio clip (a
float32 waveform at ``audio_sr`` Hz). The class signal is split across modalities:
every modality shows only a coarse *view* of the class (one of ``n_views`` values,
a random surjection of the classes that differs per modality), and only the
combination of all views identifies the class. With probability ``1 - signal``
a modality shows a random view instead of the class's own. So each modality
alone is ambiguous and fusing them is needed.

* image: a view-specific coloured shape on a noisy background;
* text: view-specific keywords among filler words, with distractor keywords;
* audio: a view-specific tone (frequency) in white noise, random phase and gain;
* price (asked for in ``modalities``): a float, log-normal around a view-specific level;
* category (asked for in ``modalities``): a string among ``n_categories`` categories
  (e.g. ``cat_07``), each belonging to one view, drawn uniformly within the view.
  Generated together, price and category show the same view (a product's price goes with
  its category): the table's columns are one modality's share of the signal.

Missing cells (``None``; NaN for price) are drawn independently per modality with the ``missing``
rate; a sample always keeps at least one modality.

With ``shortcut=<modality>``, the samples fall into ``n_groups`` groups (think speakers)
and that modality becomes a *shortcut*: it shows a view private to the pair (group,
class), through a random class permutation per group, on every sample. A model sees a
perfect cue on the groups it was trained on, and a cue it has never seen on a new group,
where only the other modalities (which together identify the class, as above) carry
the class. Evaluate with ``GroupKFold`` over ``groups`` to see a model that trusts the
shortcut fail.
"""


def _views_per_modality(n_classes, n_modalities, rng):
    """Random surjections class -> view, one per modality, jointly injective."""
    if n_modalities == 1:
        return np.arange(n_classes)[None, :], n_classes
    n_views = max(2, math.ceil(n_classes ** (1.0 / n_modalities)))
    for _ in range(1000):
        maps = np.stack(
            [rng.permutation(np.arange(n_classes) % n_views) for _ in range(n_modalities)]
        )
        if len({tuple(col) for col in maps.T}) == n_classes:
            return maps, n_views
    raise InvalidInputError(  # pragma: no cover - only for extreme n_classes
        f"could not split {n_classes} classes over {n_modalities} modalities"
    )


def _images(views, n_views, size, noise, rng):
    n = len(views)
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    hues = rng.uniform(0.2, 1.0, size=(n_views, 3))
    centres = rng.uniform(0.25, 0.75, size=(n_views, 2))
    radii = rng.uniform(0.15, 0.3, size=n_views)
    masks = np.stack([
        ((yy - c[0]) ** 2 + (xx - c[1]) ** 2 <= r**2).astype(np.float32)
        for c, r in zip(centres, radii)
    ])  # (n_views, size, size)
    shift = rng.randint(-1, 2, size=(n, 2))
    shape = masks[views]
    shape = np.stack([np.roll(s, tuple(d), axis=(0, 1)) for s, d in zip(shape, shift)])
    img = 0.15 + 0.7 * shape[..., None] * hues[views][:, None, None, :]
    img = img + rng.normal(0.0, 0.25 * noise, size=img.shape)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def _texts(views, n_views, noise, rng):
    words = rng.permutation(_WORDS)
    per_view = max(1, min(5, len(words) // n_views))
    keywords = [words[v * per_view:(v + 1) * per_view] for v in range(n_views)]
    texts = []
    for v in views:
        n_key = int(rng.randint(2, 4))
        n_distract = int(rng.binomial(3, min(1.0, 0.35 * noise)))
        tokens = list(rng.choice(keywords[v], n_key))
        tokens += [rng.choice(keywords[rng.randint(n_views)]) for _ in range(n_distract)]
        tokens += list(rng.choice(_FILLER, int(rng.randint(4, 9))))
        rng.shuffle(tokens)
        texts.append(" ".join(tokens))
    return texts


def _audio(views, n_views, sr, duration, noise, rng):
    n = len(views)
    length = int(round(sr * duration))
    t = np.arange(length, dtype=np.float64) / sr
    # tones a mel band or more apart (closer when many views must fit under Nyquist)
    step = min(0.75, math.log2(0.45 * sr / 300.0) / max(n_views - 1, 1))
    freqs = 300.0 * 2.0 ** (np.arange(n_views) * step)
    f = freqs[views] * rng.uniform(0.97, 1.03, size=n)
    phase = rng.uniform(0, 2 * np.pi, size=n)
    gain = rng.uniform(0.2, 0.6, size=n)
    wave = gain[:, None] * np.sin(2 * np.pi * f[:, None] * t[None, :] + phase[:, None])
    wave += rng.normal(0.0, 0.3 * noise, size=wave.shape)
    return wave.astype(np.float32)


def _prices(views, n_views, noise, rng):
    levels = 10.0 * 2.0 ** (1.5 * rng.permutation(n_views))
    spread = np.exp(rng.normal(0.0, 0.25 * noise, size=len(views)))
    return np.round(levels[views] * spread, 2)


def _categories(views, n_views, n_categories, rng):
    owner = rng.permutation(np.arange(max(n_categories, n_views)) % n_views)
    width = len(str(len(owner) - 1))
    names = np.array([f"cat_{k:0{width}d}" for k in range(len(owner))], dtype=object)
    by_view = np.argsort(owner, kind="stable")  # the categories of view 0, then of view 1...
    counts = np.bincount(owner, minlength=n_views)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return list(names[by_view[starts[views] + rng.randint(0, counts[views])]])


def _check_groups(shortcut, n_groups, modalities):
    if shortcut is not None and (shortcut not in modalities or len(modalities) < 2):
        raise InvalidInputError(
            f"shortcut must be None or one of the generated modalities {modalities} with at "
            f"least one other modality beside it, got shortcut={shortcut!r}."
        )
    if n_groups is not None and (not isinstance(n_groups, (int, np.integer))
                                 or isinstance(n_groups, bool) or n_groups < 2):
        raise InvalidInputError(f"n_groups must be None or an integer >= 2, got {n_groups!r}.")


def make_multimodal_classification(
    n_samples=500,
    n_classes=4,
    modalities=MODALITIES,
    signal=0.85,
    noise=1.0,
    missing=0.0,
    image_size=16,
    audio_sr=16000,
    audio_duration=0.25,
    n_categories=24,
    shortcut=None,
    n_groups=None,
    return_X_y=False,
    random_state=None,
):
    """Generate a multimodal classification table whose modalities must be fused.

    Parameters
    ----------
    n_samples : int, default=500
    n_classes : int, default=4
    modalities : tuple of {"image", "text", "audio", "price", "category"}, default=the first three
        Which columns to generate (in this order): "price" (float) and "category"
        (strings) are a table's own columns, each showing a view as the others do.
    signal : float in [0, 1], default=0.85
        Probability that a modality shows its class's own view (else a random view).
    noise : float >= 0, default=1.0
        Scale of the rendering noise (pixel noise, distractor words, audio white noise).
    missing : float in [0, 1) or dict {modality: rate}, default=0.0
        Rate of missing (``None``) cells per modality.
    image_size : int, default=16
        Images are ``(image_size, image_size, 3)`` uint8 arrays.
    audio_sr : int, default=16000
        Sample rate of the float32 waveforms (the extractors' default ``sr``).
    audio_duration : float, default=0.25
        Seconds per clip.
    n_categories : int, default=24
        Number of categories of the "category" column (a high-cardinality column, which
        :class:`~skmm.tabular.TabularEncoder` codes for an embedding by default).
    shortcut : {"image", "text", "audio"} or None, default=None
        A modality that identifies (group, class) on every sample: a strong cue on the
        groups seen in training, no cue on a held-out group (see the description). Needs
        at least one other modality.
    n_groups : int >= 2 or None, default=None
        Number of groups (e.g. speakers), drawn uniformly per sample and returned as
        ``groups``; None gives 4 groups with a shortcut and no groups without one.
    return_X_y : bool, default=False
    random_state : int, RandomState or None

    Returns
    -------
    Bunch with ``data`` (DataFrame, one object column per modality), ``target``
    (int ndarray), ``target_names``, ``views`` (the view each modality showed,
    shape (n_samples, n_modalities)), ``groups`` (int ndarray, or None without groups)
    and ``DESCR``; or ``(X, y)``.

    Examples
    --------
    >>> from skmm.datasets import make_multimodal_classification
    >>> X, y = make_multimodal_classification(n_samples=20, random_state=0, return_X_y=True)
    >>> X.shape, list(X.columns)
    ((20, 3), ['image', 'text', 'audio'])
    >>> X["image"][0].shape, X["audio"][0].dtype
    ((16, 16, 3), dtype('float32'))
    >>> data = make_multimodal_classification(n_samples=20, modalities=("image", "audio"),
    ...                                       shortcut="audio", random_state=0)
    >>> sorted(set(data.groups.tolist()))
    [0, 1, 2, 3]
    """
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise InvalidInputError(f"n_samples must be a positive integer, got {n_samples!r}.")
    if not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise InvalidInputError(f"n_classes must be an integer >= 2, got {n_classes!r}.")
    modalities = tuple(modalities)
    unknown = [m for m in modalities if m not in MODALITIES + TABULAR]
    if not modalities or unknown or len(set(modalities)) != len(modalities):
        raise InvalidInputError(
            f"modalities must be distinct names among {MODALITIES + TABULAR}, got "
            f"{modalities!r}."
        )
    if not isinstance(n_categories, (int, np.integer)) or n_categories < 1:
        raise InvalidInputError(
            f"n_categories must be a positive integer, got {n_categories!r}.")
    if not 0.0 <= signal <= 1.0:
        raise InvalidInputError(f"signal must lie in [0, 1], got {signal!r}.")
    if noise < 0:
        raise InvalidInputError(f"noise must be >= 0, got {noise!r}.")
    rates = missing if isinstance(missing, dict) else {m: missing for m in modalities}
    for m, rate in rates.items():
        if not 0.0 <= rate < 1.0:
            raise InvalidInputError(f"missing rate for {m!r} must lie in [0, 1), got {rate!r}.")

    _check_groups(shortcut, n_groups, modalities)

    rng = check_random_state(random_state)
    y = np.arange(n_samples) % n_classes
    y = rng.permutation(y)
    plain = [m for m in modalities if m != shortcut]
    # a product's price and category agree: together they show one view (the table's)
    shares = "price" in plain and "category" in plain
    slots = [m for m in plain if not (shares and m == "category")]
    maps, n_views = _views_per_modality(n_classes, len(slots), rng)
    views = np.zeros((n_samples, len(modalities)), dtype=int)
    at = [modalities.index(m) for m in slots]
    shown = maps[:, y].T.copy()  # (n_samples, n_slots)
    scrambled = rng.random_sample(shown.shape) > signal
    shown[scrambled] = rng.randint(0, n_views, size=int(scrambled.sum()))
    views[:, at] = shown
    if shares:
        views[:, modalities.index("category")] = views[:, modalities.index("price")]
    view_counts = {m: n_views for m in plain}
    groups = None
    if shortcut is not None or n_groups is not None:
        n_groups = 4 if n_groups is None else int(n_groups)
        groups = rng.randint(0, n_groups, size=n_samples)
    if shortcut is not None:
        per_group = np.stack([rng.permutation(n_classes) for _ in range(n_groups)])
        views[:, modalities.index(shortcut)] = groups * n_classes + per_group[groups, y]
        view_counts[shortcut] = n_groups * n_classes

    columns = {}
    for j, m in enumerate(modalities):
        v, k = views[:, j], view_counts[m]
        if m == "image":
            columns[m] = list(_images(v, k, image_size, noise, rng))
        elif m == "text":
            columns[m] = _texts(v, k, noise, rng)
        elif m == "audio":
            columns[m] = list(_audio(v, k, audio_sr, audio_duration, noise, rng))
        elif m == "price":
            columns[m] = _prices(v, k, noise, rng)
        else:
            columns[m] = _categories(v, k, n_categories, rng)

    absent = np.stack(
        [rng.random_sample(n_samples) < rates.get(m, 0.0) for m in modalities], axis=1
    )
    all_gone = absent.all(axis=1)
    absent[all_gone, rng.randint(0, len(modalities), size=int(all_gone.sum()))] = False
    data = pd.DataFrame({m: pd.Series(columns[m], dtype=float if m == "price" else object)
                         for m in modalities})
    for j, m in enumerate(modalities):
        data.loc[absent[:, j], m] = np.nan if m == "price" else None

    if return_X_y:
        return data, y
    return Bunch(
        data=data,
        target=y,
        target_names=np.array([f"class_{k}" for k in range(n_classes)]),
        views=views,
        groups=groups,
        DESCR=_DESCR,
    )
