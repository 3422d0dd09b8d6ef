"""AudioEmbedder: frozen pretrained audio encoders as a scikit-learn transformer.

Clips are decoded in threads (paths, bytes, waveforms, ``(waveform, sr)`` tuples, at
the model's sample rate), grouped by length inside each batch, run through the encoder
on ``device`` (bfloat16 autocast on CUDA with ``precision="auto"``), and pooled over
each clip's own time steps, so padding never enters a statistic.

Column names, written by :mod:`skmm._naming`: ``output="stats"`` gives
``band_stat_names("emb", dim, stats)`` (e.g. ``emb003_mean`` for 768 dimensions),
ordered (stat, dimension); ``output="frames"`` gives ``frame_names("emb", dim,
n_frames)`` (e.g. ``emb003_t012``), ordered (dimension, frame), so that a row reshapes
to ``(dim, n_frames)``, the layout of ``AudioLogMel(output="frames")``'s ``mel03_t012``
(and the fusion nets read it as frames); a module that pools itself gives
``indexed_names("emb", dim)``.
"""

import os

import numpy as np

from .._base import BaseExtractor
from .._docs import EXTRACTOR_PARAMS, fill_doc
from .._naming import band_stat_names, frame_names, indexed_names
from .._quiet import quiet_libraries
from .._validation import (
    DEVICE_CONSTRAINT, PRECISIONS, Integer, Options, Satisfies, resolve_device, resolve_precision,
)
from ..exceptions import InvalidInputError
from ._decode import decode_audio
from ._spectral import FINITE, POSITIVE, STATS, _as_stats


def _is_module(model):
    return hasattr(model, "state_dict") and callable(model)


MODEL = Satisfies(
    lambda m: _is_module(m) or isinstance(m, (str, os.PathLike)),
    "a transformers model name or folder, or a torch.nn.Module",
)


@fill_doc(**EXTRACTOR_PARAMS)
class AudioEmbedder(BaseExtractor):
    """Embeddings of a frozen pretrained audio encoder, pooled over time or as frames.

    Parameters
    ----------
    model : str, os.PathLike or torch.nn.Module, default="facebook/wav2vec2-base"
        A Hugging Face ``transformers`` audio model: a hub name or a local folder written
        by ``save_pretrained`` (the model and its feature extractor), loaded with
        ``AutoModel.from_pretrained`` and ``AutoFeatureExtractor.from_pretrained``
        (``pip install 'skmm[audio-transformers]'``). wav2vec 2.0, HuBERT, WavLM and
        data2vec-audio (``"facebook/hubert-base-ls960"``, ``"microsoft/wavlm-base-plus"``)
        embed 20 ms steps of the waveform; Whisper (``"openai/whisper-base"``) its
        encoder's 20 ms steps over a 30 s window (longer clips are cut); the Audio
        Spectrogram Transformer (``"MIT/ast-finetuned-audioset-10-10-0.4593"``) patch
        tokens, pooled but not time-ordered, so no ``output="frames"``. A hub name is
        downloaded once into the Hugging Face cache; offline, fit raises an
        InvalidInputError saying how to load a local folder instead. Or an
        ``nn.Module`` over ``input`` returning ``(batch, dim)`` (one embedding per
        clip) or ``(batch, steps, dim)``; a ``lengths`` argument of its ``forward``, if
        any, receives the valid input length of each clip (samples or frames). The
        module is deep-copied in fit and pickled with the estimator, as any parameter.
    input : {"waveform", "logmel"}, default="waveform"
        What an ``nn.Module`` receives: zero-padded waveforms ``(batch, n_samples)``, or
        log-mel frames ``(batch, n_mels, n_frames)`` in dB (``AudioLogMel``'s
        definition: n_fft=512, hop_length=160, top_db=80; short clips padded with each
        band's quietest value). A transformers model computes its own input.
    sr : int or None, default=None
        Sample rate the clips are decoded or resampled to. None: the model's own
        (its feature extractor's ``sampling_rate``), 16000 for a module.
    layer : int or None, default=None
        Hidden state to embed (transformers models): None the last, 0 the input
        embeddings, k the k-th layer, negative from the end. Middle layers of
        self-supervised speech models often serve downstream tasks better.
    output : {"stats", "frames"}, default="stats"
        "stats": ``stats`` of each dimension over the clip's steps, one row per clip.
        "frames": the first ``n_frames`` steps of each clip (the input of a CNN or LSTM
        branch of ``FusionNetClassifier``); shorter clips are padded as ``pad_mode`` says.
    stats : sequence of {"mean", "std", "min", "max"}, default=("mean",)
        Statistics over time for ``output="stats"``; ``("mean", "std")`` doubles the width.
    n_frames : int or None, default=None
        Steps kept per clip for ``output="frames"`` (required there).
    pad_mode : {"mean", "zero"}, default="mean"
        Padding of clips with fewer than ``n_frames`` steps: their own mean step, or zeros.
    duration : float or None, default=None
        Crop or zero-pad every waveform to this many seconds; None keeps each length.
    n_mels : int, default=64
        Mel bands of ``input="logmel"``.
    batch_size : int, default=16
        Clips decoded and encoded together.
    device : str, default="auto"
        "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:1", "mps".
    precision : {"auto", "float32", "bfloat16", "float16"}, default="auto"
        "auto" runs under bfloat16 autocast on CUDA devices that support it and in
        float32 elsewhere. The output is float32 either way.
    {{on_error}}
    {{n_jobs}}
    {{add_indicator}}
    {{fill_value}}
    {{cache}}
    {{verbose}}

    Attributes
    ----------
    model_ : torch.nn.Module
        The frozen encoder in eval mode on ``device_`` (a transformers model, or a copy
        of your module). transformers models are shared with every estimator of the
        same model and device in the process, so a grid search loads them once.
        Never pickled: reloaded from the parameters on first use.
    model_type_ : str
        The transformers ``model_type`` (e.g. "wav2vec2", "whisper"), or "module".
    sr_ : int
    device_ : str
    precision_ : str
    embedding_dim_ : int
        Width of one step (or of the module's pooled output).
    pooled_ : bool
        Whether the module returns one embedding per clip (then the columns are
        ``emb000 ...`` and ``stats``/``output`` do not apply).
    stats_ : tuple of str
    n_features_out_ : int

    See Also
    --------
    AudioLogMel, AudioMFCC : spectral features without a pretrained model.

    Notes
    -----
    Each batch is cut into groups of similar length (the longest at most 1.5 times
    the shortest), zero-padded, and encoded with an attention mask where the model's
    feature extractor asks for one; the statistics and frames read only each clip's
    valid steps (``_get_feat_extract_output_lengths`` for waveform models, Whisper's
    mask, in proportion to the input length for modules). Models trained without
    masks (wav2vec2-base) still see the zeros of a group's padding, so a clip's
    embedding may shift slightly with its batch; ``duration=`` makes every clip the
    same length, and its embedding independent of the batch. Clips shorter than a
    waveform model's receptive field are zero-padded to it.

    Examples
    --------
    >>> import torch
    >>> from skmm.datasets import make_multimodal_classification
    >>> X = make_multimodal_classification(n_samples=6, random_state=0).data
    >>> encoder = torch.nn.Sequential(torch.nn.Unflatten(1, (1, -1)),
    ...                               torch.nn.Conv1d(1, 8, 400, stride=160))
    >>> class Steps(torch.nn.Module):   # (batch, n_samples) -> (batch, steps, 8)
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.encoder = encoder
    ...     def forward(self, x):
    ...         return self.encoder(x).transpose(1, 2)
    >>> emb = AudioEmbedder(Steps(), stats=("mean", "std"), device="cpu").fit(X["audio"])
    >>> emb.transform(X["audio"]).shape
    (6, 16)
    >>> emb.get_feature_names_out()[[0, 8]].tolist()
    ['emb00_mean', 'emb00_std']

    A pretrained model: ``AudioEmbedder("facebook/wav2vec2-base")`` (downloaded on
    first use), or ``AudioEmbedder("/path/to/folder")`` saved with ``save_pretrained``.
    """

    modality = "audio"
    _parameter_constraints = {
        "model": ([MODEL], "E.g. model='facebook/wav2vec2-base' or model='/path/to/folder'."),
        "input": [Options("waveform", "logmel")],
        "sr": ([None, Integer(1)], "Hz; None: the model's own sample rate."),
        "layer": ([None, Integer()], "None: the last hidden state; 0: the input embeddings."),
        "output": [Options("stats", "frames")],
        "stats": ([STATS], "E.g. stats=('mean', 'std')."),
        "n_frames": ([None, Integer(1)], "Steps kept per clip for output='frames'."),
        "pad_mode": [Options("mean", "zero")],
        "duration": ([None, POSITIVE], "Seconds; None keeps each clip's length."),
        "n_mels": ([Integer(1)], "Use e.g. n_mels=64."),
        "device": [DEVICE_CONSTRAINT],
        "precision": [None, Options(*PRECISIONS)],
        "fill_value": [FINITE],
    }

    def __init__(
        self,
        model="facebook/wav2vec2-base",
        input="waveform",
        sr=None,
        layer=None,
        output="stats",
        stats=("mean",),
        n_frames=None,
        pad_mode="mean",
        duration=None,
        n_mels=64,
        batch_size=16,
        device="auto",
        precision="auto",
        on_error="raise",
        n_jobs=None,
        add_indicator=False,
        fill_value=0.0,
        verbose=False,
        cache=None,
    ):
        self.model = model
        self.input = input
        self.sr = sr
        self.layer = layer
        self.output = output
        self.stats = stats
        self.n_frames = n_frames
        self.pad_mode = pad_mode
        self.duration = duration
        self.n_mels = n_mels
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.on_error = on_error
        self.n_jobs = n_jobs
        self.add_indicator = add_indicator
        self.fill_value = fill_value
        self.verbose = verbose
        self.cache = cache

    # ---- parameters ------------------------------------------------------------------
    def _is_module(self):
        return _is_module(self.model)

    def _validate_rules(self):
        if self.input != "waveform" and not self._is_module():
            raise InvalidInputError(
                "input='logmel' applies to an nn.Module model; a transformers model computes "
                "its own input with its feature extractor: keep input='waveform'."
            )
        if self.layer is not None and self._is_module():
            raise InvalidInputError(
                f"layer must be None with an nn.Module model, got {self.layer!r}: it selects a "
                "transformers model's hidden state (return the states you want from forward)."
            )
        if self.output == "frames" and self.n_frames is None:
            raise InvalidInputError(
                "output='frames' needs n_frames, an integer >= 1 (steps kept per clip); pass "
                "e.g. n_frames=50 (one second of a 20 ms-step model)."
            )

    def _prepare_fit(self):
        self.stats_ = _as_stats(self.stats)
        # the model is loaded last in fit, once every parameter is valid
        self._load_model(fitting=True)

    # ---- the model ---------------------------------------------------------------------
    def _load_model(self, fitting=False):
        from . import _encoders

        device = resolve_device(self.device)
        dtype = resolve_precision(self.precision, device)
        sr = 16000 if self.sr is None else int(self.sr)
        encoder = _encoders.get_encoder(
            self.model, self.layer, device, self.input, sr, self.n_mels, self.verbose
        )
        if fitting:
            if not self._is_module():
                _encoders.check_layer(encoder, self.layer)
                if self.sr is not None and self.sr != encoder.sr:
                    raise InvalidInputError(
                        f"sr={self.sr} differs from the model's sample rate {encoder.sr} Hz; "
                        "keep sr=None (clips are resampled to the model's rate)."
                    )
            if self.output == "frames" and not encoder.framewise:
                raise InvalidInputError(
                    f"output='frames' needs time-ordered steps, but {self.model!r} "
                    "embeds spectrogram patches; use output='stats'."
                )
            self.sr_ = encoder.sr
            self.model_type_ = getattr(encoder, "model_type", "module")
            self._probe(encoder, dtype)
        self.device_ = device
        self.precision_ = str(dtype).replace("torch.", "") if dtype is not None else "float32"
        self._autocast_dtype = dtype
        self._encoder = encoder
        self._min_samples = _encoders.min_samples(encoder)
        self.model_ = encoder.module if self._is_module() else encoder.model
        return encoder

    def _probe(self, encoder, dtype):
        """Learn the embedding width (and whether the module pools) from a second of noise."""
        clip = np.random.default_rng(0).normal(0, 0.1, self.sr_).astype(np.float32)
        try:
            with quiet_libraries(not self.verbose):
                states, steps = encoder.encode([clip], dtype)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise InvalidInputError(
                f"the audio model fails on one second of audio at {self.sr_} Hz "
                f"({type(exc).__name__}: {exc}); check that it takes input={self.input!r} "
                "batches."
            ) from exc
        self.pooled_ = steps is None
        self.embedding_dim_ = int(states.shape[-1])
        if self.pooled_ and (self.output == "frames" or self.stats_ != ("mean",)):
            raise InvalidInputError(
                "the module returns one embedding per clip (batch, dim): output='frames' and "
                "stats other than ('mean',) need (batch, steps, dim) outputs."
            )

    def _encoder_ready(self):
        encoder = self.__dict__.get("_encoder")
        if encoder is None:
            encoder = self._load_model()
        return encoder

    # ---- hooks -------------------------------------------------------------------------
    def _decode_cell(self, cell):
        y = decode_audio(cell, self.sr_)
        if self.duration is not None:
            size = max(1, int(round(self.duration * self.sr_)))
            y = y[:size] if len(y) >= size else np.pad(y, (0, size - len(y)))
        return y

    def _extract_batch(self, decoded):
        from ._encoders import frame_block, length_buckets, pool_steps

        encoder = self._encoder_ready()
        shortest = self._min_samples
        decoded = [y if len(y) >= shortest else np.pad(y, (0, shortest - len(y)))
                   for y in decoded]
        out = np.empty((len(decoded), len(self._feature_names())), dtype=np.float32)
        for bucket in length_buckets([len(y) for y in decoded]):
            with quiet_libraries(not self.verbose):  # the model's own warnings
                states, steps = encoder.encode([decoded[i] for i in bucket],
                                               self._autocast_dtype)
            if steps is not None:
                if self.output == "frames":
                    states = frame_block(states, steps, self.n_frames, self.pad_mode)
                else:
                    states = pool_steps(states, steps, self.stats_)
            out[bucket] = states.float().cpu().numpy()
        return out

    def _feature_names(self):
        dim = self.embedding_dim_
        if self.pooled_:
            return indexed_names("emb", dim)
        if self.output == "frames":
            return frame_names("emb", dim, self.n_frames)
        return band_stat_names("emb", dim, self.stats_)

    def _cache_fitted_state(self):
        """A local model folder's files (name, size, mtime): a changed folder misses."""
        if not self._is_module() and os.path.isdir(os.fspath(self.model)):
            from ._encoders import folder_fingerprint

            return {"model_files": folder_fingerprint(self.model)}
        return None

    def __getstate__(self):
        state = dict(super().__getstate__())
        for key in ("model_", "_encoder", "_autocast_dtype", "_min_samples"):
            state.pop(key, None)
        return state
