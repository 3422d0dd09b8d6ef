"""Audio extractors: librosa-compatible log-mel and MFCC features, batched in torch.

Both extractors decode a batch of cells in threads (paths, bytes, waveforms,
``(waveform, sr)`` tuples; stereo mixed to mono, other rates resampled), then
compute the spectrogram of the whole batch at once with torch on ``device``
(scipy's FFT on the CPU; the FFT in float64 as librosa's, the rest in float32),
in ``n_jobs`` threads over parts of the batch on the CPU. No clip is padded to
its batch's longest (see :mod:`skmm.audio._features`), so batching never changes
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

from ._decode import decode_audio, resample
from ._embedder import AudioEmbedder
from ._extractors import AudioLogMel, AudioMFCC

__all__ = ["AudioEmbedder", "AudioLogMel", "AudioMFCC", "decode_audio", "resample"]
