"""Audio extractors: librosa-compatible log-mel and MFCC features, batched in torch.

Both extractors decode a batch of cells in threads (paths, bytes, waveforms,
``(waveform, sr)`` tuples; stereo mixed to mono, other rates resampled), then
compute the spectrogram of the whole batch at once with torch on ``device``
(scipy's FFT on the CPU; the FFT in float64 as librosa's, the rest in float32),
in ``n_jobs`` threads over parts of the batch on the CPU. No clip is padded to
its batch's longest (see :mod:`skmm._audio_features`), so batching never changes
a clip's features. Their values follow librosa's definitions (``center=True``, constant padding,
a periodic Hann window, ``librosa.filters.mel`` with Slaney norm,
``power_to_db(ref=1.0, amin=1e-10, top_db)`` with the ``top_db`` floor taken
per clip, ``feature.mfcc``'s orthonormal DCT-II and lifter, ``feature.delta``
with ``mode="interp"``).

Column names
------------
``output="stats"``: ``{band}{ii}[_d{k}]_{stat}``, e.g. ``mel03_mean``,
``mfcc12_d1_std``; columns ordered (delta order, stat, band), so a row reshapes
to ``(n_orders, n_stats, n_bands)``.

``output="frames"``: ``{band}{ii}[_d{k}]_t{jjj}``, e.g. ``mel03_t012``; columns
ordered (delta order, band, frame), so a row reshapes to
``(n_orders, n_bands, n_frames)``, the input of a CNN or LSTM branch. ``band``
is ``mel`` or ``mfcc``, ``_d1``/``_d2`` mark first/second-order deltas (absent
for the static features), indices are zero-padded to a fixed width.
"""

import numbers
import warnings

import numpy as np

from ._audio_features import (
    STAT_CHOICES,
    FrameLayout,
    dct_matrix,
    deltas,
    frames_block,
    lifter_weights,
    pool,
    power_mel,
    power_to_db,
    single_torch_thread,
    split_by_samples,
)
from ._base import BaseExtractor, effective_threads, resolve_device
from ._io import decode_audio
from .exceptions import InvalidInputError

_OUTPUTS = ("stats", "frames")
_PAD_MODES = ("minimum", "silence", "wrap")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)


def _check_int(name, value, low, hint, allow_none=False):
    if value is None and allow_none:
        return
    if not _is_int(value) or value < low:
        none = "None or " if allow_none else ""
        raise InvalidInputError(f"{name} must be {none}an integer >= {low}, got {value!r}. {hint}")


def _check_stats(stats):
    """The stats parameter as a tuple of names (a single name is allowed)."""
    names = (stats,) if isinstance(stats, str) else stats
    try:
        names = tuple(names)
    except TypeError:
        names = None
    if (
        not names
        or any(s not in STAT_CHOICES for s in names)
        or len(set(names)) != len(names)
    ):
        raise InvalidInputError(
            f"stats must be a non-empty list of distinct names among {STAT_CHOICES}, got "
            f"{stats!r}; e.g. stats=('mean', 'std')."
        )
    return names


class _SpectralAudioExtractor(BaseExtractor):
    """Shared machinery of AudioLogMel and AudioMFCC (parameters, batching, naming)."""

    _band_prefix = "mel"

    # ---- parameters ----------------------------------------------------------------
    def _n_bands(self):
        return self.n_mels

    def _check_spectral_params(self):
        sr = self.sr
        _check_int("sr", sr, 1, "Give the sample rate in Hz, e.g. sr=16000.")
        _check_int("n_fft", self.n_fft, 2, "Use e.g. n_fft=512 (32 ms at 16 kHz).")
        _check_int("hop_length", self.hop_length, 1, "Use e.g. hop_length=160 (10 ms at 16 kHz).")
        _check_int("win_length", self.win_length, 1, "None uses n_fft.", allow_none=True)
        if self.win_length is not None and self.win_length > self.n_fft:
            raise InvalidInputError(
                f"win_length={self.win_length} exceeds n_fft={self.n_fft}; use win_length <= "
                "n_fft (or None for n_fft)."
            )
        _check_int("n_mels", self.n_mels, 1, "Use e.g. n_mels=64.")
        nyquist = sr / 2.0
        if not _is_number(self.fmin) or not 0.0 <= self.fmin < nyquist:
            raise InvalidInputError(
                f"fmin must be a number in [0, sr/2) = [0, {nyquist:g}) Hz, got {self.fmin!r}."
            )
        if self.fmax is not None and (
            not _is_number(self.fmax) or not self.fmin < self.fmax <= nyquist
        ):
            raise InvalidInputError(
                f"fmax must be None (sr/2) or a number in (fmin, sr/2] = ({self.fmin:g}, "
                f"{nyquist:g}] Hz, got {self.fmax!r}; raise sr or lower fmax."
            )
        if not isinstance(self.htk, (bool, np.bool_)):
            raise InvalidInputError(f"htk must be True or False, got {self.htk!r}.")
        if self.top_db is not None and (not _is_number(self.top_db) or self.top_db < 0):
            raise InvalidInputError(
                f"top_db must be None (no floor) or a number >= 0 (dB below each clip's peak), "
                f"got {self.top_db!r}; librosa's default is 80."
            )
        if self.duration is not None and (
            not _is_number(self.duration) or self.duration * sr < 1
        ):
            raise InvalidInputError(
                f"duration must be None (keep each clip's length) or a number of seconds >= "
                f"1/sr = {1 / sr:g}, got {self.duration!r}."
            )
        if self.output not in _OUTPUTS:
            raise InvalidInputError(f"output must be one of {_OUTPUTS}, got {self.output!r}.")
        self.stats_ = _check_stats(self.stats)
        if self.deltas not in (0, 1, 2) or isinstance(self.deltas, bool):
            raise InvalidInputError(
                f"deltas must be 0 (none), 1 (add first-order deltas) or 2 (first and second), "
                f"got {self.deltas!r}."
            )
        if not _is_int(self.delta_width) or self.delta_width < 3 or self.delta_width % 2 != 1:
            raise InvalidInputError(
                f"delta_width must be an odd integer >= 3 (librosa's default is 9), got "
                f"{self.delta_width!r}."
            )
        _check_int("n_frames", self.n_frames, 1, "Use e.g. n_frames=100.", allow_none=True)
        if self.pad_mode not in _PAD_MODES:
            raise InvalidInputError(
                f"pad_mode must be one of {_PAD_MODES} (how output='frames' pads a clip shorter "
                f"than n_frames), got {self.pad_mode!r}."
            )
        if not _is_number(self.fill_value):
            raise InvalidInputError(f"fill_value must be a finite number, got {self.fill_value!r}.")

    def _check_params(self):
        self._check_spectral_params()
        self.n_frames_ = self._resolve_n_frames()
        self.device_ = resolve_device(self.device)
        self._build_transforms()

    def _resolve_n_frames(self):
        if self.output != "frames":
            return None
        if self.n_frames is not None:
            return int(self.n_frames)
        if self.duration is not None:
            samples = int(round(self.duration * self.sr))
            pad = self.n_fft // 2
            return int(1 + (samples + 2 * pad - self.n_fft) // self.hop_length)
        raise InvalidInputError(
            "output='frames' needs a fixed number of frames: pass n_frames=... (clips are "
            "cropped to it, or padded as pad_mode says) or duration=... seconds (waveforms "
            "are cropped or zero-padded to it, and n_frames follows)."
        )

    def _build_transforms(self):
        import librosa

        win_length = self.n_fft if self.win_length is None else self.win_length
        window = librosa.filters.get_window("hann", win_length, fftbins=True)
        self.window_ = librosa.util.pad_center(window, size=self.n_fft).astype(np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # empty filters: raised below instead
            mel = librosa.filters.mel(
                sr=self.sr, n_fft=self.n_fft, n_mels=self.n_mels, fmin=self.fmin,
                fmax=self.fmax, htk=bool(self.htk),
            )
        empty = np.flatnonzero(mel.max(axis=1) <= 0)
        if empty.size:
            raise InvalidInputError(
                f"{len(empty)} of the n_mels={self.n_mels} mel bands (e.g. band {empty[0]}) "
                f"hold no FFT bin with n_fft={self.n_fft} at sr={self.sr}; lower n_mels or "
                "raise n_fft."
            )
        self.mel_basis_ = mel

    # ---- names ---------------------------------------------------------------------
    def _feature_names(self):
        n_bands = self._n_bands()
        width = max(2, len(str(n_bands - 1)))
        bands = [f"{self._band_prefix}{b:0{width}d}" for b in range(n_bands)]
        orders = [""] + [f"_d{k}" for k in range(1, self.deltas + 1)]
        if self.output == "frames":
            t_width = max(3, len(str(self.n_frames_ - 1)))
            return [
                f"{band}{order}_t{t:0{t_width}d}"
                for order in orders for band in bands for t in range(self.n_frames_)
            ]
        return [
            f"{band}{order}_{stat}" for order in orders for stat in self.stats_ for band in bands
        ]

    # ---- decoding and extraction -----------------------------------------------------
    def _decode_cell(self, cell):
        y = decode_audio(cell, self.sr)
        if self.duration is not None:
            size = int(round(self.duration * self.sr))
            y = y[:size] if len(y) >= size else np.pad(y, (0, size - len(y)))
        return y

    def _bands_from_db(self, db):
        """Map dB mel values (n, n_mels) to the extractor's bands (identity for log-mel)."""
        return db

    def _extract_batch(self, decoded):
        n_threads = effective_threads(self.n_jobs) if self.device_ == "cpu" else 1
        parts = split_by_samples([len(y) for y in decoded], n_threads)
        if len(parts) == 1:
            return self._extract_rows(decoded)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(parts)) as pool_:
            blocks = list(pool_.map(lambda p: self._extract_rows([decoded[i] for i in p]), parts))
        return np.vstack(blocks)

    def _extract_rows(self, decoded):
        import torch

        layout = FrameLayout([len(y) for y in decoded], self.n_fft, self.hop_length)
        device = self.device_
        fft_dtype = torch.float32 if device.startswith("mps") else torch.float64
        with torch.no_grad(), single_torch_thread(device):
            mel = power_mel(
                decoded, layout, self.window_, self.mel_basis_, self.hop_length, device, fft_dtype
            )
            db, silence = power_to_db(mel, layout, self.top_db)
            static = self._bands_from_db(db)
            channels = [static]
            for order in range(1, self.deltas + 1):
                channels.append(deltas(static, layout, self.delta_width, order))
            if self.output == "stats":
                rows = torch.cat([pool(c, layout, self.stats_) for c in channels], dim=1)
            else:
                pads = self._frame_pads(db, silence, layout)
                blocks = [
                    frames_block(c, layout, self.n_frames_, p) for c, p in zip(channels, pads)
                ]
                rows = torch.cat(blocks, dim=1).reshape(len(decoded), -1)
        return rows.to("cpu", torch.float32).numpy()

    def _frame_pads(self, db, silence, layout):
        """Per channel, the (b, n_bands) row that pads short clips, or None to wrap them."""
        import torch

        if self.pad_mode == "wrap":
            return [None] * (1 + self.deltas)
        if self.pad_mode == "silence":
            level = silence[:, None].expand(-1, self.n_mels)
        else:  # "minimum": each mel band's quietest value over the clip's own frames
            level = pool(db, layout, ("min",))
        static = self._bands_from_db(level)
        return [static] + [torch.zeros_like(static)] * self.deltas


_SHARED_PARAMS_DOC = """sr : int, default=16000
        Sample rate (Hz) the clips are decoded or resampled to; a bare 1-D array is
        taken to be at ``sr`` already.
    n_fft : int, default=512
        FFT size (samples).
    hop_length : int, default=160
        Samples between frames.
    win_length : int or None, default=None
        Hann window length (<= n_fft, centred in it); None uses n_fft.
    n_mels : int, default=64
        Number of mel bands (``librosa.filters.mel``, Slaney norm).
    fmin, fmax : float, default=0.0 and None (sr/2)
        Frequency range of the mel filter bank, Hz.
    htk : bool, default=False
        HTK mel scale instead of Slaney's.
    top_db : float or None, default=80.0
        ``power_to_db`` floor: values are clipped at each clip's own peak minus
        ``top_db`` (librosa's default behaviour, per clip). None disables it.
    duration : float or None, default=None
        Crop or zero-pad every waveform (at its end) to this many seconds before the
        spectrogram; None keeps each clip's length. The zero padding is silence (see
        ``pad_mode`` for why frames are better padded with ``n_frames``).
    output : {"stats", "frames"}, default="stats"
        "stats" pools each band over the clip's frames into ``stats``; "frames" gives
        the first ``n_frames`` frames of each band (clips with fewer frames are
        padded as ``pad_mode`` says).
    stats : sequence of {"mean", "std", "min", "max"}, default=("mean", "std")
        Statistics over time for ``output="stats"`` (std is the population std).
    deltas : {0, 1, 2}, default=0
        Add ``librosa.feature.delta`` of order 1 (and 2) as extra channels. A clip
        with fewer than ``delta_width`` frames gets zero deltas (librosa raises).
    delta_width : int, default=9
        Odd window of the delta filter, in frames.
    n_frames : int or None, default=None
        Frames kept per band for ``output="frames"``; None derives it from
        ``duration`` (one of the two is needed).
    pad_mode : {"minimum", "silence", "wrap"}, default="minimum"
        How ``output="frames"`` pads a clip shorter than ``n_frames``. "minimum": each
        mel band gets its own quietest value over the clip (the clip's background
        level: its silence when it has some, its noise floor when it is noisy; MFCCs
        pad with the cepstrum of that quietest mel frame), and deltas get 0.
        "silence": the value a frame of zeros gets under the clip's ``top_db`` floor
        (what zero-padding the waveform gives), deltas 0. "wrap": the clip's frames
        repeated. With ``duration`` the waveform itself is zero-padded first, so short
        clips are padded with silence whatever ``pad_mode`` says: give ``n_frames``
        instead for frames. In a noisy clip "silence" lies far below every real
        frame, and a network's input scaling then squeezes the speech into a sliver of
        its range: on AV-Digits (hard) a 1-D CNN on 40 x 48 log-mel frames reaches 0.42
        accuracy with "silence" padding and 0.73 with "minimum" (5-fold, 20 epochs,
        ``benchmarks/bench_fusion.py``).
    device : str, default="cpu"
        Torch device of the spectrogram ("cpu", "cuda", "cuda:1", "mps" or "auto").
        The FFT runs in float64 (as librosa's does) except on MPS (float32); the
        rest in float32.
    batch_size : int, default=256
        Clips decoded and transformed together.
    n_jobs : int or None, default=None
        Decoding threads (None: up to 4; -1: all cores).
    on_error : {"raise", "warn", "ignore"}, default="raise"
        What an undecodable cell does: raise (listing every bad row), or become a
        missing row (filled and flagged) with or without a warning.
    add_indicator : bool, default=False
        Append a ``present`` column (1.0 for decoded cells, 0.0 for missing ones).
    fill_value : float, default=0.0
        Value of every feature of a missing row.
    cache : None, False, str, os.PathLike or skmm.FeatureCache, default=None
        Feature cache (see :mod:`skmm.cache`): rows of cells seen before are read back
        instead of recomputed. None uses ``skmm.get_config()["cache"]``; False turns it off.
    verbose : bool, default=False
        Show a progress bar over batches."""


class AudioLogMel(_SpectralAudioExtractor):
    __doc__ = f"""Log-mel spectrogram features of an audio column, as librosa computes them.

    For each clip: ``librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr,
    n_fft=n_fft, hop_length=hop_length, win_length=win_length, n_mels=n_mels,
    fmin=fmin, fmax=fmax, htk=htk), top_db=top_db)``, pooled over time
    (``output="stats"``) or as a fixed ``(n_mels, n_frames)`` block
    (``output="frames"``), optionally with deltas. Computed for a whole batch at once
    in torch; values agree with librosa's to 1e-4 relative (1e-3 dB absolute floor).

    Parameters
    ----------
    {_SHARED_PARAMS_DOC}

    Attributes
    ----------
    device_ : str
        The resolved torch device.
    n_frames_ : int or None
        Frames per band of ``output="frames"``.
    stats_ : tuple of str
        The statistics, as a tuple.
    window_ : ndarray of shape (n_fft,)
    mel_basis_ : ndarray of shape (n_mels, 1 + n_fft // 2)
    n_features_out_ : int

    See Also
    --------
    AudioMFCC : MFCCs, the DCT of these log-mel values.

    Notes
    -----
    Column names are ``mel{{band}}[_d{{order}}]_{{stat}}`` (e.g. ``mel03_mean``) for
    "stats", ordered (order, stat, band), and ``mel{{band}}[_d{{order}}]_t{{frame}}``
    (e.g. ``mel03_t012``) for "frames", ordered (order, band, frame) so that a row
    reshapes to ``(1 + deltas, n_mels, n_frames)``.

    Examples
    --------
    >>> from skmm import AudioLogMel
    >>> from skmm.datasets import make_multimodal_classification
    >>> X, y = make_multimodal_classification(n_samples=6, random_state=0, return_X_y=True)
    >>> features = AudioLogMel(n_mels=32).fit_transform(X[["audio"]])
    >>> features.shape
    (6, 64)
    >>> AudioLogMel(n_mels=32).fit(X[["audio"]]).get_feature_names_out()[[0, 32]].tolist()
    ['mel00_mean', 'mel00_std']
    >>> frames = AudioLogMel(n_mels=32, output="frames", n_frames=20).fit_transform(X[["audio"]])
    >>> frames.reshape(6, 32, 20).shape
    (6, 32, 20)
    """

    def __init__(
        self,
        sr=16000,
        n_fft=512,
        hop_length=160,
        win_length=None,
        n_mels=64,
        fmin=0.0,
        fmax=None,
        htk=False,
        top_db=80.0,
        duration=None,
        output="stats",
        stats=("mean", "std"),
        deltas=0,
        delta_width=9,
        n_frames=None,
        pad_mode="minimum",
        device="cpu",
        batch_size=256,
        n_jobs=None,
        on_error="raise",
        add_indicator=False,
        fill_value=0.0,
        verbose=False,
        cache=None,
    ):
        self.sr = sr
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.htk = htk
        self.top_db = top_db
        self.duration = duration
        self.output = output
        self.stats = stats
        self.deltas = deltas
        self.delta_width = delta_width
        self.n_frames = n_frames
        self.pad_mode = pad_mode
        self.device = device
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.on_error = on_error
        self.add_indicator = add_indicator
        self.fill_value = fill_value
        self.verbose = verbose
        self.cache = cache


class AudioMFCC(_SpectralAudioExtractor):
    __doc__ = f"""MFCC features of an audio column, as ``librosa.feature.mfcc`` computes them.

    For each clip: ``librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc, lifter=lifter,
    n_fft=n_fft, hop_length=hop_length, win_length=win_length, n_mels=n_mels,
    fmin=fmin, fmax=fmax, htk=htk)`` (the orthonormal DCT-II of
    ``power_to_db(melspectrogram, top_db=top_db)``), pooled over time or as a fixed
    ``(n_mfcc, n_frames)`` block, optionally with deltas. Computed for a whole
    batch at once in torch; values agree with librosa's to 1e-4 relative (1e-3
    absolute floor).

    Parameters
    ----------
    n_mfcc : int, default=20
        Number of cepstral coefficients kept (<= n_mels).
    lifter : float, default=0
        Cepstral liftering (librosa's ``lifter``); 0 disables it.
    {_SHARED_PARAMS_DOC}

    Attributes
    ----------
    device_ : str
    n_frames_ : int or None
    stats_ : tuple of str
    window_ : ndarray of shape (n_fft,)
    mel_basis_ : ndarray of shape (n_mels, 1 + n_fft // 2)
    dct_ : ndarray of shape (n_mfcc, n_mels)
        DCT-II rows times the lifter weights.
    n_features_out_ : int

    See Also
    --------
    AudioLogMel : the log-mel values these are computed from.

    Notes
    -----
    Column names are ``mfcc{{k}}[_d{{order}}]_{{stat}}`` (e.g. ``mfcc03_mean``) for
    "stats" and ``mfcc{{k}}[_d{{order}}]_t{{frame}}`` for "frames", in the order
    described for :class:`AudioLogMel`.

    Examples
    --------
    >>> from skmm import AudioMFCC
    >>> from skmm.datasets import make_multimodal_classification
    >>> X, y = make_multimodal_classification(n_samples=6, random_state=0, return_X_y=True)
    >>> mfcc = AudioMFCC(n_mfcc=13, deltas=1).fit(X[["audio"]])
    >>> mfcc.transform(X[["audio"]]).shape
    (6, 52)
    >>> mfcc.get_feature_names_out()[[0, 26]].tolist()
    ['mfcc00_mean', 'mfcc00_d1_mean']
    """

    _band_prefix = "mfcc"

    def __init__(
        self,
        sr=16000,
        n_mfcc=20,
        lifter=0.0,
        n_fft=512,
        hop_length=160,
        win_length=None,
        n_mels=64,
        fmin=0.0,
        fmax=None,
        htk=False,
        top_db=80.0,
        duration=None,
        output="stats",
        stats=("mean", "std"),
        deltas=0,
        delta_width=9,
        n_frames=None,
        pad_mode="minimum",
        device="cpu",
        batch_size=256,
        n_jobs=None,
        on_error="raise",
        add_indicator=False,
        fill_value=0.0,
        verbose=False,
        cache=None,
    ):
        self.sr = sr
        self.n_mfcc = n_mfcc
        self.lifter = lifter
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.htk = htk
        self.top_db = top_db
        self.duration = duration
        self.output = output
        self.stats = stats
        self.deltas = deltas
        self.delta_width = delta_width
        self.n_frames = n_frames
        self.pad_mode = pad_mode
        self.device = device
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.on_error = on_error
        self.add_indicator = add_indicator
        self.fill_value = fill_value
        self.verbose = verbose
        self.cache = cache

    def _n_bands(self):
        return self.n_mfcc

    def _check_params(self):
        super()._check_params()
        _check_int("n_mfcc", self.n_mfcc, 1, "Use e.g. n_mfcc=20.")
        if self.n_mfcc > self.n_mels:
            raise InvalidInputError(
                f"n_mfcc={self.n_mfcc} exceeds n_mels={self.n_mels}: the DCT of n_mels bands has "
                "n_mels coefficients; lower n_mfcc or raise n_mels."
            )
        if not _is_number(self.lifter) or self.lifter < 0:
            raise InvalidInputError(f"lifter must be a number >= 0 (0: none), got {self.lifter!r}.")
        lifter = lifter_weights(self.n_mfcc, self.lifter)
        dct = dct_matrix(self.n_mels, self.n_mfcc) * lifter[:, None]
        self.dct_ = dct.astype(np.float32)

    def _bands_from_db(self, db):
        import torch

        return db @ torch.as_tensor(self.dct_.T, dtype=db.dtype, device=db.device)
