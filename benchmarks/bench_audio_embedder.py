"""Benchmark: AudioEmbedder (a pretrained speech encoder) against AudioMFCC on FSDD digits.

Both sides are a frozen extractor -> StandardScaler -> LogisticRegression, scored with
folds that hold out whole speakers (GroupKFold over FSDD's speakers, so a model is
always judged on voices it never heard), on the 3,000 FSDD clips of AV-Digits:

* baseline: ``AudioMFCC(n_mfcc=20, deltas=1)``, mean and std over time (80 features);
* ``AudioEmbedder(model, layer=..., stats=...)``, a pretrained transformers audio model:
  a hub name (downloaded once into the Hugging Face cache) or a local folder written
  with ``save_pretrained`` (``--model /path/to/folder``, no network needed).

The features are extracted once (both extractors are frozen, so no fold can leak into
them) and the folds fit only the scaler and the classifier. The script prints the
accuracy per held-out speaker, the mean of both sides and their difference, and with
``--write`` writes benchmarks/results/audio_embedder.md.

``--random-init tiny|base`` builds a *randomly initialised* wav2vec 2.0 (a tiny one, or
the base architecture) in a temporary folder and runs the same pipeline on it: this
checks the script where no pretrained weights can be had, and measures nothing; the
output says so, and ``--write`` is refused with it.

Run: SKMM_DATA=/work/shared/data python benchmarks/bench_audio_embedder.py \
         --model facebook/wav2vec2-base --layer 6 --write
     SKMM_DATA=/work/shared/data python benchmarks/bench_audio_embedder.py \
         --random-init tiny --n-clips 600
"""

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

RANDOM_BANNER = (
    "RANDOM WEIGHTS: the encoder below is randomly initialised (--random-init); its scores "
    "check the pipeline and are no measurement of a pretrained model."
)


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
    torch.manual_seed(0)
    transformers.Wav2Vec2Model(config).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor().save_pretrained(folder)
    return folder


def load_clips(n_clips, seed):
    from skmm.datasets import load_av_digits

    data = load_av_digits()
    audio, y, groups = data.data["audio"], data.target, data.groups
    if n_clips and n_clips < len(y):  # a random subsample (600 clips still hold every speaker)
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(y), n_clips, replace=False))
        audio, y, groups = audio.iloc[keep], y[keep], groups[keep]
    return audio.reset_index(drop=True), y, groups


def speaker_scores(features, y, groups):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scores = {}
    folds = GroupKFold(n_splits=len(np.unique(groups)))
    for train, test in folds.split(features, y, groups):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
        model.fit(features[train], y[train])
        scores[str(groups[test][0])] = float(model.score(features[test], y[test]))
    return scores


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="facebook/wav2vec2-base",
                        help="transformers hub name or local folder (save_pretrained)")
    parser.add_argument("--layer", type=int, default=None,
                        help="hidden state to embed (None: the last layer)")
    parser.add_argument("--stats", default="mean,std", help="statistics over time")
    parser.add_argument("--random-init", choices=("tiny", "base"), default=None,
                        help="a randomly initialised wav2vec 2.0 instead of --model")
    parser.add_argument("--n-clips", type=int, default=0, help="subsample (0: all 3,000)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true",
                        help="write benchmarks/results/audio_embedder.md")
    args = parser.parse_args(argv)
    if args.random_init and args.write:
        parser.error("--write is refused with --random-init: random weights measure nothing")

    from skmm import AudioEmbedder, AudioMFCC

    audio, y, groups = load_clips(args.n_clips, args.seed)
    tmp = tempfile.TemporaryDirectory()
    model = random_wav2vec2(args.random_init, tmp.name) if args.random_init else args.model
    label = f"random {args.random_init} wav2vec2" if args.random_init else args.model
    if args.random_init:
        print(RANDOM_BANNER)
    stats = tuple(s for s in args.stats.split(",") if s)
    sides = {
        "AudioMFCC(20, deltas=1), mean+std": AudioMFCC(n_mfcc=20, deltas=1),
        f"AudioEmbedder({label}, layer={args.layer}), {'+'.join(stats)}": AudioEmbedder(
            model, layer=args.layer, stats=stats, batch_size=args.batch_size,
            device=args.device),
    }
    results = {}
    for name, extractor in sides.items():
        start = time.perf_counter()
        features = extractor.fit_transform(audio)
        seconds = time.perf_counter() - start
        scores = speaker_scores(features, y, groups)
        results[name] = (features.shape[1], seconds, scores)
        print(f"{name}: {features.shape[1]} features, extracted in {seconds:.1f} s "
              f"(timing only on a quiet machine), speaker-held-out accuracy "
              f"{np.mean(list(scores.values())):.3f}")
    (base_name, base), (emb_name, emb) = results.items()
    lines = [
        f"# AudioEmbedder vs AudioMFCC on FSDD ({len(y)} clips), speaker-held-out folds", "",
        f"Machine: {platform.machine()}, {platform.system()}; model: {label}; layer "
        f"{args.layer}; logistic regression on standardised features.", "",
        "| held-out speaker | " + base_name + " | " + emb_name + " |", "|---|---:|---:|",
    ]
    for speaker in base[2]:
        lines.append(f"| {speaker} | {base[2][speaker]:.3f} | {emb[2][speaker]:.3f} |")
    base_mean, emb_mean = np.mean(list(base[2].values())), np.mean(list(emb[2].values()))
    lines.append(f"| **mean** | **{base_mean:.3f}** | **{emb_mean:.3f}** |")
    lines += ["", f"Difference (embedder - MFCC): {emb_mean - base_mean:+.3f}."]
    if args.random_init:
        lines += ["", RANDOM_BANNER]
    report = "\n".join(lines) + "\n"
    print()
    print(report)
    if args.write:
        path = Path(__file__).resolve().parent / "results" / "audio_embedder.md"
        path.write_text(report)
        print(f"written to {path}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
