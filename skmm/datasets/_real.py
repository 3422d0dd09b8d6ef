"""Loaders of the real data sets: AV-Digits (FSDD + MNIST) and AG News."""

import gzip
import os
import re
import zipfile

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ._home import fetch_file, get_data_home, missing_data_error, sha256_of

MNIST_FILES = {
    "t10k-images-idx3-ubyte.gz": "167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b",
    "t10k-labels-idx1-ubyte.gz": "fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c",
}
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
AG_NEWS_SHA256 = "d2a2cef4dfeb21ca17b463fd15e9e5a639c05823d03efabb3d28a75bbfe8d915"
AG_NEWS_URL = (
    "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/test.csv"
)
AG_NEWS_CLASSES = np.array(["World", "Sports", "Business", "Sci/Tech"])
FSDD_COMMIT = "26eb9aa"
FSDD_URL = f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/{FSDD_COMMIT}.zip"
#: sha256 of all recordings concatenated in sorted name order.
FSDD_SHA256 = "ddb17656a0bca4c5ddace082be188ca630516dc2ef1110afe3c4e9cc71173de4"
FSDD_N_FILES = 3000
_FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")

AV_DIGITS_SEED = 20240501
HARD_VARIANCE_REMOVED = 0.75
HARD_SNR_DB = -6.0

_AV_DESCR = f"""\
AV-Digits: spoken and handwritten digits
----------------------------------------
3,000 samples, 10 classes (digits 0-9), 300 per class. Each recording of the Free
Spoken Digit Dataset (FSDD, {FSDD_COMMIT}; 6 speakers x 10 digits x 50 takes, 8 kHz
mono WAV; CC BY-SA 4.0) is paired with a distinct MNIST test-set image of the
same digit (28x28 uint8; CC BY-SA 3.0): for each digit, 300 of its MNIST test
images are drawn without replacement with numpy's default_rng({AV_DIGITS_SEED}),
and matched to the digit's recordings sorted by file name. No recording or image
is used twice.

Columns: ``image`` (28x28 uint8 arrays), ``audio`` (paths to the WAV files for
the clean variant; ``(waveform, 8000)`` tuples for the hard one). ``groups`` is
the speaker (for GroupKFold), ``take`` the take number (takes 0-4 are FSDD's
conventional test split).

variant="hard" (in the spirit of AV-MNIST, MultiBench):
* images: flattened to 784 floats, PCA is fitted on the 3,000 images and the
  leading principal components that together explain {HARD_VARIANCE_REMOVED:.0%} of
  the variance are projected out; the residual (plus the mean image) is
  min-max scaled over the whole set to 0-255 and rounded to uint8;
* audio: white Gaussian noise at {HARD_SNR_DB:g} dB SNR (noise power =
  clip power x 10^(-SNR/10), the clip's power taken over the whole clip) is added
  to each waveform, with numpy's default_rng({AV_DIGITS_SEED} + row index).
"""


def _read_idx(path):
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _mnist(home, download_if_missing):
    folder = home / "mnist"
    for name, digest in MNIST_FILES.items():
        if not (folder / name).exists():
            if not download_if_missing:
                raise missing_data_error("MNIST test set", folder, [name])
            fetch_file(MNIST_URL + name, folder / name, digest, f"MNIST {name}")
    images = _read_idx(folder / "t10k-images-idx3-ubyte.gz")
    labels = _read_idx(folder / "t10k-labels-idx1-ubyte.gz")
    return images, labels


def _fsdd_recordings(home, download_if_missing):
    folder = home / "fsdd" / "recordings"
    names = sorted(os.listdir(folder)) if folder.is_dir() else []
    names = [n for n in names if _FSDD_NAME.match(n)]
    if len(names) < FSDD_N_FILES:
        if not download_if_missing:
            raise missing_data_error("FSDD recordings", folder, ["0_george_0.wav"])
        _download_fsdd(home)
        names = sorted(n for n in os.listdir(folder) if _FSDD_NAME.match(n))
    return folder, names


def _download_fsdd(home):
    archive = home / "fsdd" / f"fsdd-{FSDD_COMMIT}.zip"
    if not archive.exists():
        fetch_file(FSDD_URL, archive, None, "FSDD recordings")
    folder = home / "fsdd" / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        for member in zf.namelist():
            name = os.path.basename(member)
            if "/recordings/" in member and _FSDD_NAME.match(name):
                with zf.open(member) as src, open(folder / name, "wb") as dst:
                    dst.write(src.read())
    names = sorted(n for n in os.listdir(folder) if _FSDD_NAME.match(n))
    got = sha256_of([folder / n for n in names])
    if got != FSDD_SHA256:
        raise ValueError(
            f"FSDD checksum mismatch in '{folder}': expected {FSDD_SHA256}, got {got}. "
            "Delete the folder and the archive and try again."
        )


def _remove_leading_components(images):
    flat = images.reshape(len(images), -1).astype(np.float64)
    mean = flat.mean(axis=0)
    centred = flat - mean
    # principal axes from the 784 x 784 scatter matrix (cheaper than an SVD of the data)
    eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, axes = eigenvalues[order], eigenvectors[:, order].T
    ratio = np.cumsum(eigenvalues) / np.sum(eigenvalues)
    k = int(np.searchsorted(ratio, HARD_VARIANCE_REMOVED) + 1)
    residual = centred - centred @ axes[:k].T @ axes[:k] + mean
    lo, hi = residual.min(), residual.max()
    scaled = np.rint((residual - lo) / (hi - lo) * 255.0)
    return scaled.astype(np.uint8).reshape(images.shape), k


def _noisy_audio(paths):
    import soundfile

    clips = []
    for i, path in enumerate(paths):
        y, sr = soundfile.read(path, dtype="float32", always_2d=True)
        y = y.mean(axis=1)
        power = float(np.mean(y.astype(np.float64) ** 2))
        noise_power = power * 10.0 ** (-HARD_SNR_DB / 10.0)
        rng = np.random.default_rng(AV_DIGITS_SEED + i)
        noisy = y + rng.normal(0.0, np.sqrt(noise_power), size=y.shape)
        clips.append((noisy.astype(np.float32), int(sr)))
    return clips


def load_av_digits(data_home=None, variant="clean", download_if_missing=True, return_X_y=False):
    """Load AV-Digits: 3,000 pairs of a spoken digit (FSDD) and a handwritten one (MNIST).

    Parameters
    ----------
    data_home : str or path, optional
        Folder holding ``fsdd/recordings/`` and ``mnist/``; default ``$SKMM_DATA``,
        else ``~/skmm_data``.
    variant : {"clean", "hard"}, default="clean"
        "hard" removes the image principal components holding 75 % of the variance and
        adds white noise to the audio (see ``DESCR`` for the exact recipe).
    download_if_missing : bool, default=True
        Fetch the files (with checksums) into the data home when absent.
    return_X_y : bool, default=False

    Returns
    -------
    Bunch with ``data`` (DataFrame with ``image`` and ``audio``), ``target`` (digits),
    ``groups`` (speaker names), ``take``, ``filenames``, ``mnist_index`` and ``DESCR``;
    or ``(X, y)``.

    Examples
    --------
    >>> from skmm.datasets import load_av_digits
    >>> bunch = load_av_digits()  # doctest: +SKIP
    >>> bunch.data.shape  # doctest: +SKIP
    (3000, 2)
    """
    if variant not in ("clean", "hard"):
        raise ValueError(f"variant must be 'clean' or 'hard', got {variant!r}.")
    home = get_data_home(data_home)
    folder, names = _fsdd_recordings(home, download_if_missing)
    images, labels = _mnist(home, download_if_missing)
    parsed = [_FSDD_NAME.match(n).groups() for n in names]
    digits = np.array([int(p[0]) for p in parsed])
    speakers = np.array([p[1] for p in parsed], dtype=object)
    takes = np.array([int(p[2]) for p in parsed])

    rng = np.random.default_rng(AV_DIGITS_SEED)
    mnist_index = np.empty(len(names), dtype=np.int64)
    for d in range(10):
        rows = np.flatnonzero(digits == d)
        candidates = np.flatnonzero(labels == d)
        mnist_index[rows] = rng.choice(candidates, size=len(rows), replace=False)
    paired = images[mnist_index]
    paths = [str(folder / n) for n in names]
    if variant == "hard":
        paired, _ = _remove_leading_components(paired)
        audio = _noisy_audio(paths)
    else:
        audio = paths
    data = pd.DataFrame({
        "image": pd.Series(list(paired), dtype=object),
        "audio": pd.Series(audio, dtype=object),
    })
    if return_X_y:
        return data, digits
    return Bunch(
        data=data, target=digits, target_names=np.arange(10), groups=speakers, take=takes,
        filenames=np.array(paths, dtype=object), mnist_index=mnist_index, DESCR=_AV_DESCR,
    )


_AG_DESCR = """\
AG News topic classification, test set
--------------------------------------
7,600 news articles, 4 balanced classes (1,900 each): World, Sports, Business,
Sci/Tech. Columns ``title`` and ``description`` (str). Source: Zhang, Zhao and LeCun
(2015), "Character-level Convolutional Networks for Text Classification"; for
research and non-commercial use. ``target`` is 0-3 (the file's classes 1-4).
"""


def load_ag_news(data_home=None, download_if_missing=True, return_X_y=False):
    """Load the AG News test set: 7,600 articles with ``title`` and ``description``.

    Parameters
    ----------
    data_home : str or path, optional
        Folder holding ``ag_news/test.csv``; default ``$SKMM_DATA``, else ``~/skmm_data``.
    download_if_missing : bool, default=True
    return_X_y : bool, default=False

    Returns
    -------
    Bunch with ``data`` (DataFrame with ``title``, ``description``), ``target`` (0-3),
    ``target_names`` and ``DESCR``; or ``(X, y)``.

    Examples
    --------
    >>> from skmm.datasets import load_ag_news
    >>> X, y = load_ag_news(return_X_y=True)  # doctest: +SKIP
    """
    home = get_data_home(data_home)
    path = home / "ag_news" / "test.csv"
    if not path.exists():
        if not download_if_missing:
            raise missing_data_error("AG News test set", path.parent, ["test.csv"])
        fetch_file(AG_NEWS_URL, path, AG_NEWS_SHA256, "AG News test.csv")
    frame = pd.read_csv(path, header=None, names=["class", "title", "description"],
                        dtype={"title": object, "description": object}, keep_default_na=False)
    # the source escapes newlines as a literal backslash
    data = pd.DataFrame({
        "title": frame["title"].str.replace("\\", " ", regex=False).astype(object),
        "description": frame["description"].str.replace("\\", " ", regex=False).astype(object),
    })
    target = frame["class"].to_numpy(dtype=np.int64) - 1
    if return_X_y:
        return data, target
    return Bunch(data=data, target=target, target_names=AG_NEWS_CLASSES, DESCR=_AG_DESCR)
