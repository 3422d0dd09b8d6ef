"""What AudioLogMel and AudioMFCC share: parameter constraints, names, batched extraction.

See :mod:`skmm.audio` for the definitions the values follow and the column names, and
:mod:`skmm.audio._features` for the batched computation itself.
"""

import warnings

import numpy as np

from .._base import BaseExtractor
from .._column import effective_threads
from .._naming import band_stat_names, frame_names
from .._validation import (
    DEVICE_CONSTRAINT, InstanceOf, Integer, Options, Real, Satisfies, resolve_device,
)
from ..exceptions import InvalidInputError
from ._decode import decode_audio
from ._features import (
    STAT_CHOICES,
    FrameLayout,
    deltas,
    frames_block,
    pool,
    power_mel,
    power_to_db,
    single_torch_thread,
    split_by_samples,
)


def _as_stats(stats):
    """The stats parameter as a tuple of names (a single name is allowed), or None."""
    names = (stats,) if isinstance(stats, str) else stats
    try:
        names = tuple(names)
    except TypeError:
        return None
    if not names or any(s not in STAT_CHOICES for s in names) or len(set(names)) != len(names):
        return None
    return names


POSITIVE = Real(0, np.inf, closed="neither")
NON_NEGATIVE = Real(0, np.inf, closed="left")
FINITE = Satisfies(lambda v: Real().is_satisfied_by(v) and bool(np.isfinite(v)), "a finite number")
STATS = Satisfies(lambda s: _as_stats(s) is not None,
                  f"a non-empty list of distinct names among {STAT_CHOICES}")
_ODD = Satisfies(lambda w: Integer(3).is_satisfied_by(w) and w % 2 == 1, "an odd integer >= 3")


class _SpectralAudioExtractor(BaseExtractor):
    """Shared machinery of AudioLogMel and AudioMFCC (parameters, batching, naming)."""

    modality = "audio"

    _band_prefix = "mel"
    _parameter_constraints = {
        "sr": ([Integer(1)], "Give the sample rate in Hz, e.g. sr=16000."),
        "n_fft": ([Integer(2)], "Use e.g. n_fft=512 (32 ms at 16 kHz)."),
        "hop_length": ([Integer(1)], "Use e.g. hop_length=160 (10 ms at 16 kHz)."),
        "win_length": ([None, Integer(1)], "None uses n_fft."),
        "n_mels": ([Integer(1)], "Use e.g. n_mels=64."),
        "fmin": ([NON_NEGATIVE], "It is the mel filter bank's lowest frequency, in Hz."),
        "fmax": ([None, POSITIVE], "It is the mel filter bank's highest frequency; None: sr/2."),
        "htk": [InstanceOf(bool, np.bool_, description="True or False")],
        "top_db": (
            [None, NON_NEGATIVE],
            "None: no floor; else dB below each clip's peak (librosa's default is 80).",
        ),
        "duration": ([None, POSITIVE], "Seconds; None keeps each clip's length."),
        "output": [Options("stats", "frames")],
        "stats": ([STATS], "E.g. stats=('mean', 'std')."),
        "deltas": (
            [Options(0, 1, 2)],
            "0: none, 1: add first-order deltas, 2: first and second-order ones.",
        ),
        "delta_width": ([_ODD], "librosa's default is 9."),
        "n_frames": ([None, Integer(1)], "Use e.g. n_frames=100."),
        "pad_mode": (
            [Options("minimum", "silence", "wrap")],
            "It says how output='frames' pads a clip shorter than n_frames.",
        ),
        "device": [DEVICE_CONSTRAINT],
        "fill_value": [FINITE],
    }

    # ---- parameters ----------------------------------------------------------------
    def _n_bands(self):
        return self.n_mels

    def _validate_rules(self):
        nyquist = self.sr / 2.0
        if self.win_length is not None and self.win_length > self.n_fft:
            raise InvalidInputError(
                f"win_length={self.win_length} exceeds n_fft={self.n_fft}; use win_length <= "
                "n_fft (or None for n_fft)."
            )
        if not self.fmin < nyquist:
            raise InvalidInputError(
                f"fmin must be a number in [0, sr/2) = [0, {nyquist:g}) Hz, got {self.fmin!r}."
            )
        if self.fmax is not None and not self.fmin < self.fmax <= nyquist:
            raise InvalidInputError(
                f"fmax must be None (sr/2) or a number in (fmin, sr/2] = ({self.fmin:g}, "
                f"{nyquist:g}] Hz, got {self.fmax!r}; raise sr or lower fmax."
            )
        if self.duration is not None and self.duration * self.sr < 1:
            raise InvalidInputError(
                f"duration must be None (keep each clip's length) or a number of seconds >= "
                f"1/sr = {1 / self.sr:g}, got {self.duration!r}."
            )
        if self.output == "frames" and self.n_frames is None and self.duration is None:
            raise InvalidInputError(
                "output='frames' needs a fixed number of frames: pass n_frames=... (clips are "
                "cropped to it, or padded as pad_mode says) or duration=... seconds (waveforms "
                "are cropped or zero-padded to it, and n_frames follows)."
            )

    def _prepare_fit(self):
        self.stats_ = _as_stats(self.stats)
        self.n_frames_ = self._resolve_n_frames()
        self.device_ = resolve_device(self.device)
        self._build_transforms()

    def _resolve_n_frames(self):
        if self.output != "frames":
            return None
        if self.n_frames is not None:
            return int(self.n_frames)
        samples = int(round(self.duration * self.sr))
        pad = self.n_fft // 2
        return int(1 + (samples + 2 * pad - self.n_fft) // self.hop_length)

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
        if self.output == "frames":
            return frame_names(self._band_prefix, self._n_bands(), self.n_frames_, self.deltas)
        return band_stat_names(self._band_prefix, self._n_bands(), self.stats_, self.deltas)

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
