"""Accuracy benchmark: AudioEmbedder (a pretrained speech encoder) against AudioMFCC on FSDD.

Both sides are a frozen extractor -> StandardScaler -> LogisticRegression, scored with folds
that hold out whole speakers (GroupKFold over FSDD's speakers, so a model is always judged on
voices it never heard), on the FSDD clips of AV-Digits (all 3,000; ``--quick`` 600, ``--tiny``
40, a seeded random subsample):

* baseline: ``AudioMFCC(n_mfcc=20, deltas=1)``, mean and std over time (80 features);
* ``AudioEmbedder(model, layer=..., stats=...)``, a pretrained transformers audio model: a hub
  name (downloaded once into the Hugging Face cache) or a local folder written with
  ``save_pretrained`` (no network needed).

The features are extracted once (both extractors are frozen, so no fold can leak into them) and
the folds fit only the scaler and the classifier. The results file gives the accuracy per
held-out speaker, the mean of both sides and their difference. An accuracy benchmark: the
environment and load are recorded, the load gate does not apply.

Options (``python benchmarks/bench_audio_embedder.py --model NAME_OR_FOLDER --layer 6``, or
these variables for ``python -m skmm bench --only audio_embedder``):

* ``--model`` / ``SKMM_BENCH_AUDIO_MODEL``: the model (default ``facebook/wav2vec2-base``);
  ``random:tiny`` or ``random:base`` (``--random-init tiny|base``) builds a *randomly
  initialised* wav2vec 2.0 in a temporary folder: that checks the pipeline where no pretrained
  weights can be had and measures nothing, so its table is printed and **not written**;
* ``--layer`` / ``SKMM_BENCH_AUDIO_LAYER``: the hidden state (default: the last layer);
* ``--stats`` / ``SKMM_BENCH_AUDIO_STATS``: statistics over time (default ``mean,std``);
* ``--batch-size`` / ``SKMM_BENCH_AUDIO_BATCH_SIZE``: clips per batch (default 16).

A model that cannot be loaded here (no network and not in the cache, or transformers missing)
skips the benchmark with the reason and the fix.
"""

import os
import tempfile
import time

import numpy as np

from ._harness import Skip, load_real_data

SIZES = {"full": dict(n=None), "quick": dict(n=600), "tiny": dict(n=40)}
DEFAULT_MODEL = "facebook/wav2vec2-base"
RANDOM_PREFIX = "random:"
RANDOM_SIZES = ("tiny", "base")
ENV = {"model": "SKMM_BENCH_AUDIO_MODEL", "layer": "SKMM_BENCH_AUDIO_LAYER",
       "stats": "SKMM_BENCH_AUDIO_STATS", "batch_size": "SKMM_BENCH_AUDIO_BATCH_SIZE"}
BASELINE = "AudioMFCC(20, deltas=1), mean+std"
RANDOM_BANNER = (
    "RANDOM WEIGHTS: the encoder is randomly initialised (model 'random:...', --random-init); "
    "its scores check the pipeline and are no measurement of a pretrained model."
)


def options(environ=None):
    """The benchmark's options from the environment (see the module docstring).

    Examples
    --------
    >>> options({"SKMM_BENCH_AUDIO_LAYER": "6"})["layer"]
    6
    """
    environ = os.environ if environ is None else environ
    layer = environ.get(ENV["layer"], "").strip()
    stats = tuple(s for s in environ.get(ENV["stats"], "mean,std").split(",") if s.strip())
    return {
        "model": environ.get(ENV["model"], "").strip() or DEFAULT_MODEL,
        "layer": int(layer) if layer else None,
        "stats": tuple(s.strip() for s in stats),
        "batch_size": int(environ.get(ENV["batch_size"], "").strip() or 16),
    }


def random_wav2vec2(size, folder):
    """Save a randomly initialised wav2vec 2.0 (and its feature extractor) into ``folder``."""
    import torch
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if size == "tiny":
        config = transformers.Wav2Vec2Config(
            hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
            conv_dim=(64,) * 4, conv_stride=(5, 4, 2, 2), conv_kernel=(10, 4, 3, 3),
            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        )
    else:
        config = transformers.Wav2Vec2Config()  # the wav2vec2-base architecture
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        transformers.Wav2Vec2Model(config).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor().save_pretrained(folder)
    return folder


def load_clips(n_clips, seed=0):
    """(audio column, digits, speakers) of the FSDD clips, a seeded subsample of ``n_clips``."""
    from skmm.datasets import load_av_digits

    data = load_real_data(load_av_digits)
    audio, y, groups = data.data["audio"], np.asarray(data.target), np.asarray(data.groups)
    if n_clips and n_clips < len(y):
        keep = np.sort(np.random.default_rng(seed).choice(len(y), n_clips, replace=False))
        audio, y, groups = audio.iloc[keep], y[keep], groups[keep]
    return audio.reset_index(drop=True), y, groups


def speaker_scores(features, y, groups):
    """{held-out speaker: accuracy} of StandardScaler + LogisticRegression, one fold a speaker."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scores = {}
    for train, test in GroupKFold(n_splits=len(np.unique(groups))).split(features, y, groups):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
        model.fit(features[train], y[train])
        scores[str(groups[test][0])] = float(model.score(features[test], y[test]))
    return scores


def _embedder(model, opts, device, audio):
    """The AudioEmbedder, fitted on one clip; Skip when the model cannot be loaded here."""
    from skmm import AudioEmbedder
    from skmm.exceptions import InvalidInputError, MissingDependencyError

    embedder = AudioEmbedder(model, layer=opts["layer"], stats=opts["stats"],
                             batch_size=opts["batch_size"], device=device)
    try:
        return embedder.fit(audio.iloc[:1])
    except MissingDependencyError as exc:
        raise Skip(str(exc)) from exc
    except InvalidInputError as exc:
        if "could not load" not in str(exc):
            raise
        raise Skip(f"{exc} Choose the model with --model NAME_OR_FOLDER (benchmarks/"
                   f"bench_audio_embedder.py) or {ENV['model']}=...") from exc


def _extract(extractor, audio, echo, name):
    start = time.perf_counter()
    features = extractor.fit_transform(audio)
    seconds = time.perf_counter() - start
    echo(f"{name}: {features.shape[1]} features, extracted in {seconds:.1f} s")
    return features, seconds


def run(session):
    """Run the AudioEmbedder benchmark; return (title, Markdown body lines)."""
    from skmm import AudioMFCC

    opts = options()
    model = opts["model"]
    random_size = model[len(RANDOM_PREFIX):] if model.startswith(RANDOM_PREFIX) else None
    if random_size is not None and random_size not in RANDOM_SIZES:
        raise ValueError(f"{ENV['model']}={model!r}: the random models are "
                         f"{[RANDOM_PREFIX + s for s in RANDOM_SIZES]}.")
    audio, y, groups = load_clips(session.pick(SIZES)["n"])
    with tempfile.TemporaryDirectory() as tmp:
        if random_size is not None:
            session.echo(RANDOM_BANNER)
            model = random_wav2vec2(random_size, tmp)
        embedder = _embedder(model, opts, session.device, audio)
        label = f"random {random_size} wav2vec2" if random_size else opts["model"]
        name = f"AudioEmbedder({label}, layer={opts['layer']}), {'+'.join(opts['stats'])}"
        sides = {BASELINE: AudioMFCC(n_mfcc=20, deltas=1, cache=False),
                 name: embedder.set_params(cache=False)}
        results = {}
        for side, extractor in sides.items():
            features, seconds = _extract(extractor, audio, session.echo, side)
            results[side] = (features.shape[1], seconds, speaker_scores(features, y, groups))
    base, emb = results[BASELINE][2], results[name][2]
    base_mean, emb_mean = np.mean(list(base.values())), np.mean(list(emb.values()))
    lines = [
        f"Data: the {len(y)} FSDD clips of `load_av_digits()`"
        + (" (a seeded random subsample)" if len(y) < 3000 else "")
        + f", {len(np.unique(groups))} speakers; one fold per held-out speaker (GroupKFold); "
        "StandardScaler + LogisticRegression on features extracted once. Model: "
        f"`{label}`, layer {opts['layer']}, stats {opts['stats']}, batch size "
        f"{opts['batch_size']}, device {session.device}; transformers "
        f"{_version('transformers')}.",
        "",
        "| extractor | features | extraction (s, one run) | mean speaker-held-out accuracy |",
        "|---|---:|---:|---:|",
        *(f"| {side} | {n} | {seconds:.1f} | {np.mean(list(scores.values())):.3f} |"
          for side, (n, seconds, scores) in results.items()),
        "",
        f"| held-out speaker | {BASELINE} | {name} |",
        "|---|---:|---:|",
        *(f"| {speaker} | {base[speaker]:.3f} | {emb[speaker]:.3f} |" for speaker in base),
        f"| **mean** | **{base_mean:.3f}** | **{emb_mean:.3f}** |",
        "",
        f"Difference (embedder - MFCC): {emb_mean - base_mean:+.3f}.",
    ]
    if random_size is not None:  # print the table, write nothing: random weights measure nothing
        for text in lines:
            session.echo(text)
        raise Skip(f"results not written: {RANDOM_BANNER} Pass a pretrained model with --model "
                   f"NAME_OR_FOLDER or {ENV['model']}=...")
    session.add_row("speaker-held-out accuracy", BASELINE, base_mean, emb_mean,
                    measure="accuracy")
    return "AudioEmbedder against AudioMFCC on FSDD, speaker-held-out folds", lines


def _version(distribution):
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"
