"""AudioLogMel and AudioMFCC: log-mel and MFCC features of an audio column.

Their shared machinery (constraints, names, batched extraction) is
:class:`skmm.audio._spectral._SpectralAudioExtractor`.
"""

import numpy as np

from .._docs import EXTRACTOR_PARAMS, fill_doc, join_docs
from .._validation import Integer
from ..exceptions import InvalidInputError
from ._features import dct_matrix, lifter_weights
from ._spectral import NON_NEGATIVE, _SpectralAudioExtractor

_SPECTRAL_PARAMS = """\
    sr : int, default=16000
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
        Clips decoded and transformed together."""
#: Every parameter of AudioLogMel and AudioMFCC but n_mfcc and lifter, in their order.
AUDIO_PARAMS = join_docs(
    _SPECTRAL_PARAMS,
    EXTRACTOR_PARAMS["n_jobs"],
    EXTRACTOR_PARAMS["on_error"],
    EXTRACTOR_PARAMS["add_indicator"],
    EXTRACTOR_PARAMS["fill_value"],
    EXTRACTOR_PARAMS["cache"],
    EXTRACTOR_PARAMS["verbose"],
)


@fill_doc(audio_params=AUDIO_PARAMS)
class AudioLogMel(_SpectralAudioExtractor):
    """Log-mel spectrogram features of an audio column, as librosa computes them.

    For each clip: ``librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr,
    n_fft=n_fft, hop_length=hop_length, win_length=win_length, n_mels=n_mels,
    fmin=fmin, fmax=fmax, htk=htk), top_db=top_db)``, pooled over time
    (``output="stats"``) or as a fixed ``(n_mels, n_frames)`` block
    (``output="frames"``), optionally with deltas. Computed for a whole batch at once
    in torch; values agree with librosa's to 1e-4 relative (1e-3 dB absolute floor).

    Parameters
    ----------
    {{audio_params}}

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
    Column names are ``mel{band}[_d{order}]_{stat}`` (e.g. ``mel03_mean``) for
    "stats", ordered (order, stat, band), and ``mel{band}[_d{order}]_t{frame}``
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


@fill_doc(audio_params=AUDIO_PARAMS)
class AudioMFCC(_SpectralAudioExtractor):
    """MFCC features of an audio column, as ``librosa.feature.mfcc`` computes them.

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
    {{audio_params}}

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
    Column names are ``mfcc{k}[_d{order}]_{stat}`` (e.g. ``mfcc03_mean``) for
    "stats" and ``mfcc{k}[_d{order}]_t{frame}`` for "frames", in the order
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
    _parameter_constraints = {
        "n_mfcc": ([Integer(1)], "Use e.g. n_mfcc=20."),
        "lifter": ([NON_NEGATIVE], "0: no liftering."),
    }

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

    def _validate_rules(self):
        super()._validate_rules()
        if self.n_mfcc > self.n_mels:
            raise InvalidInputError(
                f"n_mfcc={self.n_mfcc} exceeds n_mels={self.n_mels}: the DCT of n_mels bands has "
                "n_mels coefficients; lower n_mfcc or raise n_mels."
            )

    def _prepare_fit(self):
        super()._prepare_fit()
        lifter = lifter_weights(self.n_mfcc, self.lifter)
        dct = dct_matrix(self.n_mels, self.n_mfcc) * lifter[:, None]
        self.dct_ = dct.astype(np.float32)

    def _bands_from_db(self, db):
        import torch

        return db @ torch.as_tensor(self.dct_.T, dtype=db.dtype, device=db.device)
