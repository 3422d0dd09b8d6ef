"""Accuracy benchmark: fusion levels on AV-Digits (hard): single modalities, early, late, layer.

Features are extracted once (ImagePixels 28x28 and AudioLogMel frames with a presence
column; both extractors are stateless, so extracting before the split leaks nothing),
then every model is cross-validated on them with the same stratified 5-fold split:

* image only, audio only: FusionNetClassifier on one block (a CNN over the pixels, a 1-D
  CNN over the log-mel frames, short clips padded with each band's minimum); the audio
  model once more on frames padded with silence (``pad_mode="silence"``), which shows
  what the padding does to training;
* early fusion: StandardScaler then FusionNetClassifier on the concatenated features as
  a plain array (one block: an MLP over the row);
* late fusion: make_late_fusion of the two single-modality nets (stacked out-of-fold
  probabilities, internal cv=2, the default FusionNet final estimator);
* layer-level fusion: FusionNetClassifier(fusion=op) on the feature DataFrame, for every
  operator (the same two branches, auxiliary per-branch heads, aux_weight=1);
* robustness: the attention model trained with modality_dropout=0.2; every model is also
  tested with the audio removed (audio cells set to None: the extractor's fill value and
  present=0), against the image-only model.

Each (fold, model) fit runs in its own process on one torch thread (two at a time), so
the fit times of different models are comparable with each other. Reads
``load_av_digits(variant="hard")`` from the data home (skipped, with the reason, when
absent). An accuracy benchmark: the environment and load are recorded, the load gate
does not apply. Full size: 3,000 samples, 5 folds, 20 epochs (about 8 minutes on 2 cores).
"""

import json
import os
import time

import numpy as np

from ._harness import load_real_data

SIZES = {  # samples (None: all 3,000), folds, epochs, fits at once
    "full": dict(n=None, folds=5, epochs=20, jobs=2),
    "quick": dict(n=600, folds=2, epochs=2, jobs=2),
    "tiny": dict(n=100, folds=2, epochs=1, jobs=1),
}

OPERATORS = ("concat", "sum", "gated", "tensor", "lowrank", "attention")
SEED = 0
SILENCE_PAD = "audio only, pad_mode='silence'"
IMAGE_CNN = "image only, CNN branch"
#: Layer-level nets besides one per operator: (label, parameters of the net).
LAYER_EXTRA = {
    "attention, CNN image branch": dict(fusion="attention", aux_weight=1.0,
                                        branches={"image": "cnn"}),
    "balance='ume'": dict(balance="ume"),
    "balance='ume', CNN image branch": dict(balance="ume", branches={"image": "cnn"}),
}


def audio_frames(pad_mode="minimum"):
    """The AudioLogMel frames extractor of this benchmark (48 frames of 40 bands, present)."""
    from skmm import AudioLogMel

    return AudioLogMel(sr=8000, n_fft=256, hop_length=128, n_mels=40, output="frames",
                       n_frames=48, pad_mode=pad_mode, add_indicator=True)


def extract(X):
    """Features of X, of X with every audio cell removed, and the audio padded with silence."""
    from skmm import ImagePixels, make_modality_union

    union = make_modality_union({"image": ImagePixels(size=(28, 28)), "audio": audio_frames()})
    features = union.fit_transform(X)
    no_audio = X.copy()
    no_audio["audio"] = None
    silence = make_modality_union({"audio": audio_frames("silence")}).fit_transform(X)
    return features, union.transform(no_audio), silence


def net(epochs, **params):
    """The FusionNetClassifier every model of this benchmark is built from."""
    from skmm.nets import FusionNetClassifier

    return FusionNetClassifier(max_epochs=epochs, lr=2e-3, batch_size=64, hidden_sizes=(128,),
                               branch_width=64, device="cpu", random_state=SEED, **params)


def make_model(name, columns, epochs):
    """(model, columns it reads or None for a plain array) for the model called ``name``."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skmm import make_late_fusion

    if name == "image only":
        return net(epochs), columns["image"]
    if name == IMAGE_CNN:
        return net(epochs, branches={"image": "cnn"}), columns["image"]
    if name in LAYER_EXTRA:
        return net(epochs, **LAYER_EXTRA[name]), columns["all"]
    if name in ("audio only", SILENCE_PAD):
        return net(epochs), columns["audio"]
    if name == "early fusion":  # a plain array: one block, an MLP over the row
        return make_pipeline(StandardScaler(), net(epochs)), None
    if name == "late fusion":
        mapping = {m: (net(epochs), columns[m]) for m in ("image", "audio")}
        return make_late_fusion(mapping, cv=2, random_state=SEED), columns["all"]
    if name == "attention + modality_dropout=0.2":
        return net(epochs, fusion="attention", aux_weight=1.0, modality_dropout=0.2), columns["all"]
    return net(epochs, fusion=name, aux_weight=1.0), columns["all"]


def run_one(name, fold, train, test, features, no_audio, silence, y, epochs):
    """Fit one model on one fold; accuracy on the test fold (and without audio)."""
    import torch

    torch.set_num_threads(1)
    if name == SILENCE_PAD:  # the same audio model on frames padded the old way
        features = no_audio = silence
    columns = {
        "image": [c for c in features.columns if c.startswith("image__")],
        "audio": [c for c in features.columns if c.startswith("audio__")],
        "all": list(features.columns),
    }
    model, cols = make_model(name, columns, epochs)

    def view(frame, rows):
        part = frame.iloc[rows]
        return part.to_numpy(np.float32) if cols is None else part[cols]

    start = time.perf_counter()
    model.fit(view(features, train), y[train])
    fit_time = time.perf_counter() - start
    accuracy = float(np.mean(model.predict(view(features, test)) == y[test]))
    without = float(np.mean(model.predict(view(no_audio, test)) == y[test]))
    result = {"model": name, "fold": fold, "accuracy": accuracy, "no_audio": without,
              "fit_time": fit_time}
    if os.environ.get("BENCH_FUSION_LOG"):  # progress, one JSON line per fit
        with open(os.environ["BENCH_FUSION_LOG"], "a") as fh:
            fh.write(json.dumps(result) + "\n")
    return result


def run(session):
    """Run the fusion benchmark; return (title, Markdown body lines)."""
    from joblib import Parallel, delayed
    from sklearn.model_selection import StratifiedKFold

    from skmm.datasets import load_av_digits

    c = session.pick(SIZES)
    n_folds, epochs, jobs = c["folds"], c["epochs"], c["jobs"]
    t0 = time.perf_counter()
    X, y = load_real_data(load_av_digits, variant="hard", return_X_y=True)
    if c["n"] is not None:
        keep = np.random.default_rng(SEED).choice(len(X), c["n"], replace=False)
        X, y = X.iloc[keep].reset_index(drop=True), y[keep]
    t1 = time.perf_counter()
    features, no_audio, silence = extract(X)
    extract_time = time.perf_counter() - t1
    session.echo(f"loaded in {t1 - t0:.1f} s, features {features.shape} (and two variants) "
                 f"extracted in {extract_time:.1f} s")

    names = ["image only", IMAGE_CNN, "audio only", SILENCE_PAD, "early fusion", "late fusion",
             *OPERATORS, *LAYER_EXTRA, "attention + modality_dropout=0.2"]
    splits = list(StratifiedKFold(n_folds, shuffle=True, random_state=SEED).split(features, y))
    # longest fits first, so that the two workers finish together
    order = ["late fusion", *LAYER_EXTRA, *OPERATORS, "attention + modality_dropout=0.2",
             IMAGE_CNN, "image only", "audio only", SILENCE_PAD, "early fusion"]
    tasks = [(name, k) for name in order for k in range(n_folds)]
    t2 = time.perf_counter()
    results = Parallel(n_jobs=jobs, verbose=5)(
        delayed(run_one)(name, k, *splits[k], features, no_audio, silence, y, epochs)
        for name, k in tasks
    )
    wall = time.perf_counter() - t2

    table = summarise(results, names)
    best_single = max(SINGLES, key=lambda n: table[n]["mean"])
    best_op = max((*OPERATORS, *LAYER_EXTRA), key=lambda n: table[n]["mean"])
    session.add_row(f"best layer-level net ({best_op})", best_single,
                    table[best_single]["mean"], table[best_op]["mean"], measure="accuracy")
    session.add_row(f"best layer-level net ({best_op})", "late fusion",
                    table["late fusion"]["mean"], table[best_op]["mean"], measure="accuracy")
    lines = report(table, n_folds, epochs, len(X), extract_time, wall, jobs)
    return "Fusion levels on AV-Digits (hard)", lines


SINGLES = ("image only", IMAGE_CNN, "audio only")


def summarise(results, names):
    """Per model: mean and std of the accuracy, fit time, accuracy without audio."""
    table = {}
    for name in names:
        rows = [r for r in results if r["model"] == name]
        acc = np.array([r["accuracy"] for r in rows])
        table[name] = {
            "mean": acc.mean(), "std": acc.std(), "fit": np.mean([r["fit_time"] for r in rows]),
            "no_audio": np.mean([r["no_audio"] for r in rows]),
            "no_audio_std": np.std([r["no_audio"] for r in rows]),
        }
    return table


def report(table, n_folds, epochs, n_samples, extract_time, wall, jobs):
    """The Markdown lines of the results: both tables and the goals."""
    best_single = max(SINGLES, key=lambda n: table[n]["mean"])
    best_op = max((*OPERATORS, *LAYER_EXTRA), key=lambda n: table[n]["mean"])
    lines = [
        f"{n_samples} samples, StratifiedKFold({n_folds}, shuffle=True, random_state={SEED}), "
        f"{epochs} epochs per net (AdamW, lr 2e-3, batch 64, branch width 64, head (128,); "
        "the image branch is the default MLP over the standardised pixels unless the row "
        "says CNN). "
        f"Each fit ran on one torch thread, {jobs} fit(s) at a time. Feature extraction (all "
        f"rows, audio removed, silence-padded audio) took {extract_time:.0f} s; all fits took "
        f"{wall / 60:.1f} min of wall time.",
        "",
        "| model | accuracy (mean) | std | fit time per fold (s) |",
        "|---|---|---|---|",
    ]
    for name, row in table.items():
        label = f"layer-level: {name}" if name in (*OPERATORS, *LAYER_EXTRA) else name
        lines.append(f"| {label} | {row['mean']:.4f} | {row['std']:.4f} | {row['fit']:.1f} |")
    gain_single = 100 * (table[best_op]["mean"] - table[best_single]["mean"])
    gain_late = 100 * (table[best_op]["mean"] - table["late fusion"]["mean"])
    lines += [
        "",
        f"Best layer-level net: **{best_op}** ({table[best_op]['mean']:.4f}); best single "
        f"modality: {best_single} ({table[best_single]['mean']:.4f}): "
        f"**{gain_single:+.1f} points** (goal: +5). Against late fusion "
        f"({table['late fusion']['mean']:.4f}): **{gain_late:+.1f} points** (goal: > 0).",
        "",
        "### Audio removed at test time",
        "",
        "Test folds with every audio cell set to None (AudioLogMel with add_indicator=True: "
        "fill value and present=0); the same fitted models as above. Only the "
        "modality_dropout model saw missing audio in training.",
        "",
        "| model | full test fold | audio removed (mean) | std |",
        "|---|---|---|---|",
    ]
    for name, row in table.items():
        if name == SILENCE_PAD:  # its audio block is another extraction: not this test
            continue
        label = f"layer-level: {name}" if name in (*OPERATORS, *LAYER_EXTRA) else name
        lines.append(f"| {label} | {row['mean']:.4f} | {row['no_audio']:.4f} | "
                     f"{row['no_audio_std']:.4f} |")
    return lines
