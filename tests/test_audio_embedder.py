"""AudioEmbedder: modules over waveforms and log-mels, tiny transformers models saved locally.

No download: every transformers model here is a randomly initialised tiny configuration
written with ``save_pretrained`` into a temporary folder and loaded from there.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

import skmm
from skmm import AudioEmbedder
from skmm.audio import _encoders as _audio_encoders
from skmm.audio._encoders import length_buckets
from skmm.exceptions import InvalidInputError

from _media import tiny_wav2vec2_folder

transformers = pytest.importorskip(
    "transformers", reason="AudioEmbedder's named models need skmm[audio-transformers]"
)
transformers.utils.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()


@pytest.fixture(autouse=True)
def fresh_model_cache():
    _audio_encoders.clear_cache()
    yield
    _audio_encoders.clear_cache()


def save(model, extractor, folder):
    model.save_pretrained(folder)
    extractor.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def wav2vec2_folder():
    """A tiny wav2vec 2.0 with layer norms and attention masks (as wav2vec2-large-lv60)."""
    return tiny_wav2vec2_folder()


@pytest.fixture(scope="module")
def whisper_folder(tmp_path_factory):
    config = transformers.WhisperConfig(
        d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=16, decoder_ffn_dim=16, vocab_size=100,
        max_target_positions=8, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        decoder_start_token_id=1,
    )
    torch.manual_seed(0)
    return save(transformers.WhisperModel(config), transformers.WhisperFeatureExtractor(),
                tmp_path_factory.mktemp("whisper"))


@pytest.fixture(scope="module")
def ast_folder(tmp_path_factory):
    config = transformers.ASTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=16, max_length=64, num_mel_bins=32)
    extractor = transformers.ASTFeatureExtractor(num_mel_bins=32, max_length=64)
    torch.manual_seed(0)
    return save(transformers.ASTModel(config), extractor, tmp_path_factory.mktemp("ast"))


def clips(lengths, seed=0, sr=16000):
    rng = np.random.default_rng(seed)
    t = [np.arange(n) / sr for n in lengths]
    return [(0.3 * np.sin(2 * np.pi * rng.uniform(200, 800) * x) + 0.01 * rng.normal(size=len(x)))
            .astype(np.float32) for x in t]


class Blocks(torch.nn.Module):
    """(batch, n_samples) -> (batch, n_samples // 160, 2): each 10 ms block's mean and max."""

    def forward(self, x):
        blocks = x[:, : x.shape[1] // 160 * 160].reshape(x.shape[0], -1, 160)
        return torch.stack([blocks.mean(-1), blocks.amax(-1)], dim=-1)


class Pooled(torch.nn.Module):
    """(batch, n_mels, n_frames) -> (batch, n_mels): the mean over the valid frames."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x, lengths):
        self.seen.append((tuple(x.shape), lengths.tolist()))
        mask = torch.arange(x.shape[2])[None, :] < lengths[:, None]
        return (x * mask[:, None]).sum(-1) / lengths[:, None]


# --------------------------------------------------------------------------- modules


def test_statistics_read_only_each_clips_own_steps():
    """Constant clips of different lengths: padding never enters a statistic."""
    levels = [0.1, -0.2, 0.3]
    cells = [np.full(n, v, dtype=np.float32) for n, v in zip((1600, 4800, 3200), levels)]
    emb = AudioEmbedder(Blocks(), stats=("mean", "std", "min", "max"), device="cpu",
                        batch_size=3).fit(cells)
    out = emb.transform(cells)
    names = list(emb.get_feature_names_out())
    assert names == [f"emb0{d}_{s}" for s in ("mean", "std", "min", "max") for d in range(2)]
    frame = pd.DataFrame(out, columns=names)
    np.testing.assert_allclose(frame["emb00_mean"], levels, rtol=1e-6)
    np.testing.assert_allclose(frame["emb00_std"], 0, atol=1e-6)
    np.testing.assert_allclose(frame["emb01_min"], levels, rtol=1e-6)
    assert emb.model_type_ == "module" and emb.sr_ == 16000 and not emb.pooled_


def test_frames_keep_n_frames_steps_and_pad_short_clips():
    cells = [np.full(1600, 0.5, dtype=np.float32), np.linspace(0, 1, 3200, dtype=np.float32)]
    emb = AudioEmbedder(Blocks(), output="frames", n_frames=15, device="cpu").fit(cells)
    out = emb.transform(cells).reshape(2, 2, 15)  # (clip, dim, frame)
    assert emb.get_feature_names_out()[[0, 15]].tolist() == ["emb00_t000", "emb01_t000"]
    np.testing.assert_allclose(out[0, 0], 0.5, rtol=1e-6)  # 10 steps, padded with its mean
    assert np.all(np.diff(out[1, 0]) > 0)  # a ramp: 15 of its 20 steps, in order
    zeros = AudioEmbedder(Blocks(), output="frames", n_frames=15, pad_mode="zero", device="cpu")
    padded = zeros.fit(cells).transform(cells).reshape(2, 2, 15)
    np.testing.assert_array_equal(padded[0, 0, 10:], 0)


def test_frames_are_recognised_by_the_fusion_nets_as_a_time_series():
    from skmm._naming import grid_layout

    emb = AudioEmbedder(Blocks(), output="frames", n_frames=12, device="cpu")
    names = emb.fit(clips([3200])).get_feature_names_out()
    kind, shape, order = grid_layout([f"audio__{n}" for n in names])
    assert kind == "frames" and shape == (emb.embedding_dim_, 12)
    np.testing.assert_array_equal(order, np.arange(len(names)))  # already (dim, frame) order


def test_logmel_input_gives_the_module_mel_frames_and_lengths():
    module = Pooled()
    cells = clips([16000, 4000])
    emb = AudioEmbedder(module, input="logmel", n_mels=20, device="cpu", batch_size=2).fit(cells)
    out = emb.transform(cells)
    assert emb.pooled_ and out.shape == (2, 20)
    assert emb.get_feature_names_out()[0] == "emb000"
    shapes, lengths = emb.model_.seen[-1]
    assert shapes == (1, 20, 101) and lengths == [101]  # 1 s and 0.25 s: two length groups
    from skmm import AudioLogMel

    reference = AudioLogMel(n_mels=20).fit(cells).transform(cells)[:, :20]
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-3)
    assert not module.seen  # the estimator's module is a copy


def test_the_module_is_copied_cloned_and_pickled_as_a_parameter():
    cells = clips([3000, 5000])
    emb = AudioEmbedder(Blocks(), device="cpu").fit(cells)
    restored = pickle.loads(pickle.dumps(emb))
    np.testing.assert_array_equal(restored.transform(cells), emb.transform(cells))
    assert "model_" not in clone(emb).__dict__


# --------------------------------------------------------------------------- transformers


def test_a_local_wav2vec2_folder_embeds_each_clip_independently_of_its_batch(wav2vec2_folder):
    cells = clips([16000, 3000, 9000, 12000, 700])
    emb = AudioEmbedder(wav2vec2_folder, stats=("mean", "std"), device="cpu", batch_size=5)
    out = emb.fit(cells).transform(cells)
    assert out.shape == (5, 32) and emb.model_type_ == "wav2vec2" and emb.sr_ == 16000
    alone = np.vstack([emb.transform([c]) for c in cells])
    np.testing.assert_allclose(out, alone, rtol=1e-4, atol=1e-4)
    model = transformers.AutoModel.from_pretrained(wav2vec2_folder).eval()
    extractor = transformers.AutoFeatureExtractor.from_pretrained(wav2vec2_folder)
    with torch.no_grad():
        states = model(**extractor(cells[0], sampling_rate=16000, return_tensors="pt"))
    np.testing.assert_allclose(out[0, :16], states.last_hidden_state[0].mean(0), rtol=1e-4,
                               atol=1e-5)
    # a clip shorter than the receptive field (10 samples) is padded up to it
    assert np.isfinite(emb.transform([np.ones(3, dtype=np.float32)])).all()


def test_layers_frames_and_sharing_between_clones(wav2vec2_folder):
    cells = clips([8000, 4000])
    last = AudioEmbedder(wav2vec2_folder, device="cpu").fit(cells)
    first = clone(last).set_params(layer=1).fit(cells)
    assert first.model_ is last.model_  # one loaded model in the process
    assert not np.allclose(first.transform(cells), last.transform(cells))
    model = transformers.AutoModel.from_pretrained(wav2vec2_folder).eval()
    extractor = transformers.AutoFeatureExtractor.from_pretrained(wav2vec2_folder)
    with torch.no_grad():
        hidden = model(**extractor(cells[0], sampling_rate=16000, return_tensors="pt"),
                       output_hidden_states=True).hidden_states[1]
    np.testing.assert_allclose(first.transform(cells[:1])[0], hidden[0].mean(0), rtol=1e-4,
                               atol=1e-5)
    frames = AudioEmbedder(wav2vec2_folder, output="frames", n_frames=30, device="cpu")
    out = frames.fit(cells).transform(cells)
    assert out.shape == (2, 16 * 30)
    with pytest.raises(InvalidInputError, match="out of range"):
        AudioEmbedder(wav2vec2_folder, layer=9, device="cpu").fit(cells)
    with pytest.raises(InvalidInputError, match="differs from the model's sample rate"):
        AudioEmbedder(wav2vec2_folder, sr=8000, device="cpu").fit(cells)


def test_pickles_hold_no_weights_and_reload_lazily(wav2vec2_folder):
    cells = clips([6000, 2000])
    emb = AudioEmbedder(wav2vec2_folder, device="cpu").fit(cells)
    blob = pickle.dumps(emb)
    assert len(blob) < 3000 and b"Wav2Vec2Model" not in blob
    _audio_encoders.clear_cache()
    np.testing.assert_allclose(pickle.loads(blob).transform(cells), emb.transform(cells),
                               rtol=1e-6, atol=1e-6)


def test_whisper_embeds_its_encoder_steps_of_the_clip(whisper_folder):
    cells = clips([16000, 8000])
    emb = AudioEmbedder(whisper_folder, output="frames", n_frames=60, device="cpu")
    out = emb.fit(cells).transform(cells).reshape(2, 16, 60)
    assert emb.model_type_ == "whisper"
    # 0.5 s is 25 encoder steps; the rest of the 60 frames repeat the clip's mean step
    np.testing.assert_allclose(out[1, :, 25:], out[1, :, 25:26].repeat(35, axis=1), rtol=1e-5)
    assert not np.allclose(out[0, :, 25:], out[0, :, 25:26])
    pooled = AudioEmbedder(whisper_folder, device="cpu").fit(cells).transform(cells)
    np.testing.assert_allclose(pooled[1], out[1, :, :25].mean(1), rtol=1e-4, atol=1e-5)


def test_ast_tokens_are_pooled_but_not_framed(ast_folder):
    cells = clips([16000, 8000])
    emb = AudioEmbedder(ast_folder, stats=("mean", "max"), device="cpu").fit(cells)
    assert emb.transform(cells).shape == (2, 32)
    with pytest.raises(InvalidInputError, match="output='stats'"):
        AudioEmbedder(ast_folder, output="frames", n_frames=4, device="cpu").fit(cells)


def test_an_unreachable_model_names_the_cache_and_a_local_folder(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setattr(transformers.AutoFeatureExtractor, "from_pretrained", offline)
    with pytest.raises(InvalidInputError) as info:
        AudioEmbedder("facebook/wav2vec2-base", device="cpu").fit(clips([1600]))
    message = str(info.value)
    from huggingface_hub import constants

    assert "'facebook/wav2vec2-base'" in message and constants.HF_HUB_CACHE in message
    assert "model='/path/to/folder'" in message and isinstance(info.value.__cause__, OSError)


def test_a_changed_model_folder_misses_the_cache(wav2vec2_folder, tmp_path):
    import shutil

    folder = shutil.copytree(wav2vec2_folder, tmp_path / "model")
    cells = clips([4000, 6000])
    cache = skmm.FeatureCache(tmp_path / "cache")
    first = AudioEmbedder(str(folder), device="cpu", cache=cache).fit(cells).transform(cells)
    assert cache.stats()["entries"] == 2
    again = AudioEmbedder(str(folder), device="cpu", cache=cache).fit(cells).transform(cells)
    np.testing.assert_array_equal(first, again)
    assert cache.stats()["entries"] == 2
    model = transformers.AutoModel.from_pretrained(str(folder))
    torch.nn.init.normal_(model.feature_projection.projection.weight)
    model.save_pretrained(str(folder))
    _audio_encoders.clear_cache()
    changed = AudioEmbedder(str(folder), device="cpu", cache=cache).fit(cells).transform(cells)
    assert cache.stats()["entries"] == 4 and not np.allclose(changed, first)


# --------------------------------------------------------------------------- parameters


def test_length_buckets_bound_the_padding():
    buckets = length_buckets([1000, 100, 140, 1400, 160, 5000])
    assert [b.tolist() for b in buckets] == [[1, 2], [4], [0, 3], [5]]


@pytest.mark.parametrize("params, match", [
    ({"model": 3}, "model must be"),
    ({"input": "mfcc"}, "input must be"),
    ({"model": "some/name", "input": "logmel"}, "applies to an nn.Module"),
    ({"sr": 0}, "sr must be"),
    ({"layer": 2}, "layer must be None with an nn.Module"),
    ({"output": "tokens"}, "output must be"),
    ({"stats": ("mean", "median")}, "stats must be"),
    ({"output": "frames"}, "needs n_frames"),
    ({"pad_mode": "edge"}, "pad_mode must be"),
    ({"duration": -1}, "duration must be"),
    ({"n_mels": 0}, "n_mels must be"),
    ({"fill_value": float("nan")}, "fill_value must be"),
    ({"output": "frames", "n_frames": 4, "model": "pooled"}, "one embedding per clip"),
])
def test_bad_parameters_are_refused_with_the_fix(params, match):
    params = dict(params)
    if params.get("model") == "pooled":
        params.update(model=Pooled(), input="logmel")
    params.setdefault("model", Blocks())
    with pytest.raises(InvalidInputError, match=match):
        AudioEmbedder(device="cpu", **params).fit(clips([3200]))


def test_duration_crops_and_pads_every_clip():
    cells = [np.full(800, 0.5, dtype=np.float32), np.full(32000, 0.5, dtype=np.float32)]
    emb = AudioEmbedder(Blocks(), duration=0.1, stats=("mean", "min"), device="cpu").fit(cells)
    out = emb.transform(cells)
    np.testing.assert_allclose(out[:, 0], [0.25, 0.5], rtol=1e-6)  # 800 of 1600 samples, zeros


@pytest.mark.realdata
def test_fsdd_clips_embed_through_a_column_transformer(fsdd_home, wav2vec2_folder):
    from sklearn.compose import ColumnTransformer

    from skmm.datasets import load_av_digits

    X, _ = load_av_digits(data_home=fsdd_home, return_X_y=True)
    X = X.iloc[:12]
    features = ColumnTransformer([("audio", AudioEmbedder(wav2vec2_folder, device="cpu"),
                                   "audio")]).set_output(transform="pandas")
    out = features.fit_transform(X)
    assert out.shape == (12, 16) and out.columns[0] == "audio__emb00_mean"
    assert np.isfinite(out.to_numpy()).all()
