"""Shared fixtures: real-data access (skip or fail by SKMM_REQUIRE_DATA) and sample files."""

import functools
import io
import os

import numpy as np
import pytest

from skmm.datasets import get_data_home

try:  # property tests draw the same examples on every run unless asked to explore
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("repeatable", derandomize=True, database=None)
    _hypothesis_settings.register_profile("explore", derandomize=False)
    _hypothesis_settings.load_profile(os.environ.get("SKMM_HYPOTHESIS_PROFILE", "repeatable"))
except ImportError:
    pass


def _data_home_with(*relative):
    home = get_data_home()
    missing = [r for r in relative if not (home / r).exists()]
    if missing:
        reason = (
            f"real data not found in the data home '{home}' (missing {missing}); set SKMM_DATA "
            "to a folder holding it (CI uses ../shared/data)"
        )
        if os.environ.get("SKMM_REQUIRE_DATA") == "1":
            pytest.fail(reason + " -- SKMM_REQUIRE_DATA=1 forbids skipping")
        pytest.skip(reason)
    return home.resolve()  # absolute: tests hand it to subprocesses that run elsewhere


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny nets run fastest on one torch thread (and do not fight other processes for cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def fsdd_home():
    """Data home holding FSDD and MNIST (AV-Digits); skips (or fails in CI) without them."""
    return _data_home_with("fsdd/recordings/0_george_0.wav", "mnist/t10k-images-idx3-ubyte.gz")


@pytest.fixture
def ag_news_home():
    """Data home holding AG News; skips (or fails in CI) without it."""
    return _data_home_with("ag_news/test.csv")


@functools.lru_cache(maxsize=None)
def tiny_wav2vec2_folder():
    """A tiny random wav2vec 2.0 (layer norms, attention masks) saved in a temporary folder.

    Written once per test process with ``save_pretrained``, loaded by AudioEmbedder as
    a local model folder: no download. Skips the calling test without transformers (the
    optional skmm[audio-transformers] extra, absent from CI's oldest-dependencies job).
    """
    import atexit
    import shutil
    import tempfile

    import torch

    transformers = pytest.importorskip(
        "transformers", reason="AudioEmbedder's models need skmm[audio-transformers]"
    )

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    folder = tempfile.mkdtemp(prefix="skmm-wav2vec2-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    config = transformers.Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 4), num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        transformers.Wav2Vec2Model(config).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(folder)
    return folder


def write_wav(path, y, sr=16000, subtype="PCM_16"):
    import soundfile

    soundfile.write(str(path), np.asarray(y), sr, subtype=subtype)
    return str(path)


def png_bytes(array):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def media_files(tmp_path):
    """Good and bad image/audio files for decoding tests, by name."""
    sr = 16000
    t = np.arange(sr // 4) / sr
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    files = {}
    files["tone.wav"] = write_wav(tmp_path / "tone.wav", tone, sr)
    files["stereo_8k.wav"] = write_wav(
        tmp_path / "stereo_8k.wav", np.stack([tone, tone], 1)[::2], 8000
    )
    wav_bytes = open(files["tone.wav"], "rb").read()
    (tmp_path / "truncated.wav").write_bytes(wav_bytes[:30])
    files["truncated.wav"] = str(tmp_path / "truncated.wav")
    (tmp_path / "text.wav").write_text("this is not audio")
    files["text.wav"] = str(tmp_path / "text.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    files["empty.wav"] = str(tmp_path / "empty.wav")
    red = np.zeros((8, 6, 3), dtype=np.uint8)
    red[..., 0] = 255
    png = png_bytes(red)
    (tmp_path / "red.png").write_bytes(png)
    files["red.png"] = str(tmp_path / "red.png")
    (tmp_path / "truncated.png").write_bytes(png[: len(png) // 2])
    files["truncated.png"] = str(tmp_path / "truncated.png")
    (tmp_path / "empty.png").write_bytes(b"")
    files["empty.png"] = str(tmp_path / "empty.png")
    rgba = np.zeros((5, 5, 4), dtype=np.uint8)
    rgba[..., 1] = 200
    rgba[..., 3] = 255
    (tmp_path / "rgba.png").write_bytes(png_bytes(rgba))
    files["rgba.png"] = str(tmp_path / "rgba.png")
    files["missing.png"] = str(tmp_path / "does_not_exist.png")
    files["dir"] = str(tmp_path)
    return files
