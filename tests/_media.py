"""Sample media for tests: WAV files, PNG bytes and a tiny wav2vec 2.0 model folder.

A plain module (not a test module, not ``conftest.py``): tests import it by name.
"""

import functools
import io

import numpy as np


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

    import pytest
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
