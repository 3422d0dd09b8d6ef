"""Frozen audio encoders behind :class:`~skmm.audio.AudioEmbedder`.

An encoder turns a list of mono float32 waveforms (at its sample rate) into hidden
states ``(B, T, D)`` with the number of valid steps of each clip ``(B,)``, or into
pooled rows ``(B, D)``. Two kinds:

* :class:`ModuleEncoder`: a user's ``nn.Module`` over zero-padded waveforms
  ``(B, n_samples)`` or log-mel frames ``(B, n_mels, n_frames)`` (librosa's
  definitions, computed in a batch by :mod:`skmm.audio._features`);
* :class:`TransformersEncoder`: a Hugging Face ``transformers`` audio model and its
  feature extractor (``from_pretrained`` of a hub name or a local folder): wav2vec 2.0,
  HuBERT, WavLM, data2vec-audio (waveforms, with attention masks where the model's
  feature extractor asks for them), Whisper (its encoder, over 30 s log-mel windows)
  and the Audio Spectrogram Transformer (patch tokens, not time-ordered).

Loaded models are kept in a small process-wide cache, so the clones of a grid search
share one. :func:`length_buckets`, :func:`pool_steps` and :func:`frame_block` group a
batch by length and read each clip's valid steps only. This module imports torch at
import time; import it lazily.
"""

import copy
import inspect
import os
import threading
from collections import OrderedDict

import numpy as np
import torch

from .._deps import import_optional
from .._quiet import quiet_libraries
from ..exceptions import InvalidInputError

#: log-mel input of a module: AudioLogMel's defaults (32 ms windows, 10 ms hops at 16 kHz).
LOGMEL_N_FFT = 512
LOGMEL_HOP = 160
LOGMEL_TOP_DB = 80.0
#: Model types whose hidden states are patch tokens rather than time steps.
TOKEN_MODELS = ("audio-spectrogram-transformer",)
#: A batch is cut into groups whose longest clip is at most this many times the shortest.
BUCKET_RATIO = 1.5
_CACHE_SIZE = 2
_cache = OrderedDict()
_cache_lock = threading.Lock()


def _autocast(device, dtype):
    return torch.autocast(device_type=torch.device(device).type,
                          dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def _pad(waveforms):
    """Zero-padded float32 batch (B, N) and the lengths (B,)."""
    lengths = np.array([len(w) for w in waveforms], dtype=np.int64)
    batch = np.zeros((len(waveforms), int(lengths.max())), dtype=np.float32)
    mask = np.arange(batch.shape[1])[None, :] < lengths[:, None]
    batch[mask] = np.concatenate(waveforms)
    return batch, lengths


def proportional_steps(lengths, n_steps):
    """Valid output steps of each clip when a padded batch of ``max(lengths)`` gave ``n_steps``."""
    lengths = torch.as_tensor(lengths, dtype=torch.float64)
    steps = torch.ceil(lengths * n_steps / lengths.max().clamp(min=1))
    return steps.clamp(1, n_steps).long()


class ModuleEncoder:
    """A user's module over padded waveforms or log-mel frames (see the module docstring)."""

    framewise = True

    def __init__(self, module, input, sr, n_mels, device):
        self.module = copy.deepcopy(module).eval().requires_grad_(False).to(device)
        self.input = input
        self.sr = sr
        self.device = device
        self.takes_lengths = "lengths" in inspect.signature(self.module.forward).parameters
        if input == "logmel":
            self._mel_setup(n_mels)

    def _mel_setup(self, n_mels):
        import librosa

        window = librosa.filters.get_window("hann", LOGMEL_N_FFT, fftbins=True)
        self.window = window.astype(np.float64)
        self.mel_basis = librosa.filters.mel(sr=self.sr, n_fft=LOGMEL_N_FFT, n_mels=n_mels)

    def _logmel(self, waveforms):
        """(B, n_mels, T_max) dB frames, short clips padded with each band's minimum."""
        from ._features import FrameLayout, frames_block, pool, power_mel, power_to_db

        layout = FrameLayout([len(w) for w in waveforms], LOGMEL_N_FFT, LOGMEL_HOP)
        fft_dtype = torch.float32 if self.device.startswith("mps") else torch.float64
        mel = power_mel(waveforms, layout, self.window, self.mel_basis, LOGMEL_HOP,
                        self.device, fft_dtype)
        db, _ = power_to_db(mel, layout, LOGMEL_TOP_DB)
        n_max = int(layout.n_valid.max())
        block = frames_block(db, layout, n_max, pool(db, layout, ("min",)))
        return block, layout.n_valid

    def encode(self, waveforms, dtype):
        with torch.inference_mode():
            if self.input == "logmel":
                x, lengths = self._logmel(waveforms)
            else:
                batch, lengths = _pad(waveforms)
                x = torch.from_numpy(batch).to(self.device)
            kwargs = {}
            if self.takes_lengths:
                kwargs["lengths"] = torch.as_tensor(lengths, device=self.device)
            with _autocast(self.device, dtype):
                out = self.module(x, **kwargs)
        if not isinstance(out, torch.Tensor) or out.ndim not in (2, 3):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise InvalidInputError(
                f"the audio module returned {shape}; expected a tensor (batch, dim) (one "
                "embedding per clip) or (batch, steps, dim) (one per time step)."
            )
        out = out.float()
        if out.ndim == 2:
            return out, None
        return out, proportional_steps(lengths, out.shape[1]).to(out.device)


def _transformers():
    return import_optional("transformers", "audio-transformers",
                           purpose="AudioEmbedder(model=<a transformers model>)")


def _hf_cache():
    try:
        from huggingface_hub import constants

        return constants.HF_HUB_CACHE
    except Exception:  # pragma: no cover - transformers always has huggingface_hub
        return "~/.cache/huggingface/hub"


def load_error(name, exc):
    """InvalidInputError for a model that could not be loaded (offline, or not an audio model)."""
    local = os.path.isdir(os.fspath(name))
    where = (
        f"the folder '{name}' holds no loadable transformers audio model"
        if local else
        f"it is neither a local folder nor a model in the Hugging Face cache ({_hf_cache()}), "
        "and downloading it failed (no network?)"
    )
    return InvalidInputError(
        f"AudioEmbedder: could not load the transformers model {os.fspath(name)!r} "
        f"({type(exc).__name__}: {exc}); {where}. Save the model where a network is available "
        "with AutoModel.from_pretrained(name).save_pretrained(folder) and "
        "AutoFeatureExtractor.from_pretrained(name).save_pretrained(folder), copy the folder "
        "here and pass model='/path/to/folder'. HF_HUB_OFFLINE=1 skips the network retries "
        "on a machine without network."
    )


class TransformersEncoder:
    """A transformers audio model and its feature extractor (see the module docstring)."""

    def __init__(self, name, layer, device, quiet=True):
        transformers = _transformers()
        try:
            with quiet_libraries(quiet):  # no "Loading weights" bar, no download bar
                self.extractor = transformers.AutoFeatureExtractor.from_pretrained(name)
                model = transformers.AutoModel.from_pretrained(name)
        except Exception as exc:
            raise load_error(name, exc) from exc
        self.model_type = getattr(model.config, "model_type", type(model).__name__)
        if self.model_type == "whisper" or getattr(model.config, "is_encoder_decoder", False):
            model = model.get_encoder()
        self.model = model.eval().requires_grad_(False).to(device)
        self.device = device
        self.layer = layer
        self.sr = int(getattr(self.extractor, "sampling_rate", 16000))
        self.framewise = self.model_type not in TOKEN_MODELS
        self.input_name = self.extractor.model_input_names[0]
        self.masks = bool(getattr(self.extractor, "return_attention_mask", False))
        n_layers = getattr(self.model.config, "num_hidden_layers", None)
        if n_layers is None:
            n_layers = getattr(self.model.config, "encoder_layers", None)
        self.n_layers = n_layers

    def _steps(self, inputs, lengths, n_steps):
        if self.model_type == "whisper":  # 2 input frames per step, the rest is padding
            frames = inputs["attention_mask"].sum(1)
            return ((frames + 1) // 2).clamp(1, n_steps)
        counts = getattr(self.model, "_get_feat_extract_output_lengths", None)
        if counts is not None and self.input_name == "input_values":
            return counts(torch.as_tensor(lengths)).long().clamp(1, n_steps)
        if not self.framewise:
            return torch.full((len(lengths),), n_steps, dtype=torch.long)
        return proportional_steps(lengths, n_steps)

    def encode(self, waveforms, dtype):
        lengths = [len(w) for w in waveforms]
        whisper = self.model_type == "whisper"
        options = {} if whisper else {"padding": True}  # Whisper pads to its 30 s window
        inputs = self.extractor(waveforms, sampling_rate=self.sr, return_tensors="pt",
                                return_attention_mask=self.masks or whisper, **options)
        feed = {self.input_name: inputs[self.input_name].to(self.device)}
        if self.masks and not whisper and "attention_mask" in inputs:
            feed["attention_mask"] = inputs["attention_mask"].to(self.device)
        hidden = self.layer is not None
        with torch.inference_mode(), _autocast(self.device, dtype):
            out = self.model(**feed, output_hidden_states=hidden)
        states = out.hidden_states[self.layer] if hidden else out.last_hidden_state
        states = states.float()
        steps = self._steps(inputs, lengths, states.shape[1]).to(states.device)
        return states, steps


def check_layer(encoder, layer):
    n = getattr(encoder, "n_layers", None)
    if layer is not None and n is not None and not -(n + 1) <= layer <= n:
        raise InvalidInputError(
            f"layer={layer} is out of range for a model with {n} layers: hidden states "
            f"0 (the input embeddings) to {n} (the last layer), or negative from the end."
        )


def folder_fingerprint(path):
    """((file, size, mtime ns), ...) of a local model folder, for the feature cache."""
    path = os.fspath(path)
    entries = []
    for root, _, files in os.walk(path):
        for name in sorted(files):
            full = os.path.join(root, name)
            stat = os.stat(full)
            entries.append((os.path.relpath(full, path), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))


def get_encoder(model, layer, device, input="waveform", sr=16000, n_mels=64, verbose=False):
    """The encoder of ``model`` on ``device``; transformers models are loaded once per process
    (quietly unless ``verbose``)."""
    if isinstance(model, torch.nn.Module):
        return ModuleEncoder(model, input, sr, n_mels, device)
    name = os.fspath(model)
    local = os.path.isdir(name)
    key = (os.path.abspath(name) if local else name,
           folder_fingerprint(name) if local else None, str(device))
    with _cache_lock:
        encoder = _cache.get(key)
        if encoder is None:
            encoder = TransformersEncoder(name, None, device, quiet=not verbose)
            _cache[key] = encoder
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        _cache.move_to_end(key)
    if encoder.layer != layer:  # one loaded model, a light view per layer
        encoder = copy.copy(encoder)
        encoder.layer = layer
    return encoder


def clear_cache():
    """Forget every cached model (the next fit or transform reloads it)."""
    with _cache_lock:
        _cache.clear()


# --------------------------------------------------------------------------- pooling


def length_buckets(lengths, ratio=BUCKET_RATIO):
    """Groups of indices, by increasing length, each within ``ratio`` of its shortest clip.

    Examples
    --------
    >>> [b.tolist() for b in length_buckets([100, 1000, 120, 900])]
    [[0, 2], [3, 1]]
    """
    lengths = np.asarray(lengths)
    order = np.argsort(lengths, kind="stable")
    buckets, start = [], 0
    for i in range(1, len(order) + 1):
        if i == len(order) or lengths[order[i]] > ratio * max(lengths[order[start]], 1):
            buckets.append(order[start:i])
            start = i
    return buckets


def pool_steps(states, steps, stats):
    """Statistics over each clip's valid steps: (B, T, D), (B,) -> (B, len(stats) * D)."""
    mask = torch.arange(states.shape[1], device=states.device)[None, :] < steps[:, None]
    weights = mask[..., None].to(states.dtype)
    counts = steps[:, None].to(states.dtype)
    mean = (states * weights).sum(1) / counts
    blocks = {"mean": mean}
    if "std" in stats:
        blocks["std"] = (((states - mean[:, None]) ** 2 * weights).sum(1) / counts).sqrt()
    if "min" in stats:
        blocks["min"] = states.masked_fill(~mask[..., None], float("inf")).amin(1)
    if "max" in stats:
        blocks["max"] = states.masked_fill(~mask[..., None], float("-inf")).amax(1)
    return torch.cat([blocks[s] for s in stats], dim=1)


def frame_block(states, steps, n_frames, pad_mode):
    """The first ``n_frames`` steps of each clip, (B, D * n_frames) dimension-major.

    Steps past a clip's end are its mean step (``pad_mode="mean"``) or zeros.
    """
    batch, n_steps, dim = states.shape
    if n_steps < n_frames:
        states = torch.cat([states, states.new_zeros(batch, n_frames - n_steps, dim)], dim=1)
    states = states[:, :n_frames]
    inside = torch.arange(n_frames, device=states.device)[None, :] < steps[:, None]
    pad = pool_steps(states, steps.clamp(max=n_frames), ("mean",)) if pad_mode == "mean" else (
        states.new_zeros(batch, dim)
    )
    block = torch.where(inside[..., None], states, pad[:, None, :])
    return block.transpose(1, 2).reshape(batch, -1)


def min_samples(encoder):
    """The shortest waveform the encoder takes (its receptive field), 1 if unknown."""
    counts = getattr(getattr(encoder, "model", None), "_get_feat_extract_output_lengths", None)
    if counts is None or getattr(encoder, "input_name", None) != "input_values":
        return 1
    steps = counts(torch.arange(1, 4 * encoder.sr + 1))
    valid = torch.nonzero(steps >= 1)
    return int(valid[0, 0]) + 1 if len(valid) else 1
