"""Benchmark: AudioLogMel / AudioMFCC against a per-clip librosa loop.

The baseline is the loop users write today, with the same parameters as the extractors'
defaults::

    y, _ = librosa.load(path, sr=16000)
    S = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512,
                                                           hop_length=160, n_mels=64))
    row = np.concatenate([S.mean(axis=1), S.std(axis=1)])

(and ``librosa.feature.mfcc(...)`` for MFCCs).

* cpu protocol: the 3,000 FSDD clips of the data home (``load_av_digits``), decoding
  included on both sides: both read the same WAV paths and resample 8 kHz -> 16 kHz with
  soxr HQ. Log-mel and MFCC. Skipped, with the reason, when the data home lacks FSDD.
* gpu protocol: synthetic clips held in memory (1-D float32 arrays at 16 kHz, 0.3-2.0 s,
  seeded), so that it needs no data; log-mel only, ``AudioLogMel(device=<the device>)``
  against the librosa loop (on the CPU, as librosa runs).

Each side is a whole ``fit_transform`` call over all the clips (or the whole loop), best
of N, the sides in alternation. The largest difference between the two outputs is
reported.
"""

import numpy as np

from ._harness import load_real_data, max_relative_difference, synchronize

PARAMS = dict(sr=16000, n_fft=512, hop_length=160, n_mels=64)
N_MFCC = 20
FSDD_SIZES = {"full": dict(n=None, repeats=3), "quick": dict(n=1000, repeats=2),
              "tiny": dict(n=12, repeats=1)}
SYNTHETIC_SIZES = {"full": dict(n=3000, repeats=5), "quick": dict(n=1000, repeats=3),
                   "tiny": dict(n=8, repeats=1)}
LOOP = "per-clip librosa loop"


def librosa_logmel_loop(clips):
    """One row per clip: log-mel mean and std over time (clips: paths or 1-D arrays)."""
    import librosa

    rows = []
    for clip in clips:
        y = librosa.load(clip, sr=PARAMS["sr"])[0] if isinstance(clip, str) else clip
        S = librosa.power_to_db(librosa.feature.melspectrogram(y=y, **PARAMS))
        rows.append(np.concatenate([S.mean(axis=1), S.std(axis=1)]))
    return np.asarray(rows, dtype=np.float32)


def librosa_mfcc_loop(clips):
    """One row per clip: MFCC mean and std over time (clips: paths or 1-D arrays)."""
    import librosa

    rows = []
    for clip in clips:
        y = librosa.load(clip, sr=PARAMS["sr"])[0] if isinstance(clip, str) else clip
        M = librosa.feature.mfcc(y=y, n_mfcc=N_MFCC, **PARAMS)
        rows.append(np.concatenate([M.mean(axis=1), M.std(axis=1)]))
    return np.asarray(rows, dtype=np.float32)


def synthetic_clips(n, sr=PARAMS["sr"], seed=0):
    """``n`` seeded clips of 0.3-2.0 s: a few harmonics of a random pitch, plus noise."""
    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(n):
        t = np.arange(int(rng.uniform(0.3, 2.0) * sr)) / sr
        f0 = rng.uniform(100, 400)
        y = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3))
        clips.append((0.3 * y + 0.05 * rng.normal(size=t.size)).astype(np.float32))
    return clips


def fsdd_paths(limit):
    """The FSDD WAV paths of the data home (first ``limit``), or Skip saying how to get them."""
    from skmm.datasets import load_av_digits

    return list(load_real_data(load_av_digits).data["audio"])[:limit]


def _case(session, name, baseline, make, clips, repeats):
    """Time the librosa loop against ``make().fit_transform``; add the row; return a table line."""
    def ours(part=clips):
        out = make().fit_transform(part)
        synchronize(session.device)
        return out

    ours(clips[:8])  # warm up both sides (imports, librosa's first-call set-up) on a few clips
    baseline(clips[:8])
    timed = session.interleave({LOOP: lambda: baseline(clips), "skmm": ours}, repeats)
    base, mine = timed[LOOP], timed["skmm"]
    err = max_relative_difference(mine.result, base.result)
    session.add_row(name, LOOP, base.best, mine.best)
    session.echo(f"{name}: librosa loop {base.best:.3f} s, skmm {mine.best:.3f} s, "
                 f"speed-up x{base.best / mine.best:.1f}; max difference {err:.2g}")
    return (f"| {name} | {base.best:.3f} | {mine.best:.3f} | x{base.best / mine.best:.1f} | "
            f"{base.best_cpu:.3f} | {mine.best_cpu:.3f} | {mine.best / base.best:.3f}x | "
            f"{err:.2g} |")


def run(session):
    """Run the audio benchmark; return (title, Markdown body lines)."""
    from skmm import AudioLogMel, AudioMFCC

    device = session.device
    if session.protocol == "gpu":
        c = session.pick(SYNTHETIC_SIZES)
        clips = synthetic_clips(c["n"])
        source = (f"{len(clips)} synthetic clips in memory (1-D float32 at 16 kHz, 0.3-2.0 s, "
                  "seeded; no decoding on either side)")
        cases = [("log-mel 64 bands, mean+std", librosa_logmel_loop,
                  lambda: AudioLogMel(**PARAMS, device=device, cache=False))]
    else:
        c = session.pick(FSDD_SIZES)
        clips = fsdd_paths(c["n"])
        source = (f"{len(clips)} FSDD clips (8 kHz WAV, resampled to 16 kHz on both sides; "
                  "decoding included on both sides)")
        cases = [
            ("log-mel 64 bands, mean+std", librosa_logmel_loop,
             lambda: AudioLogMel(**PARAMS, device=device, cache=False)),
            ("MFCC 20, mean+std", librosa_mfcc_loop,
             lambda: AudioMFCC(n_mfcc=N_MFCC, **PARAMS, device=device, cache=False)),
        ]
    repeats = session.repeats_or(c["repeats"])
    lines = [_case(session, name, base, make, clips, repeats) for name, base, make in cases]
    return "Audio extractors against a per-clip librosa loop", [
        f"{source}; parameters {PARAMS}; skmm on device {device} with its defaults otherwise "
        "(batch_size=256, n_jobs=None decoding threads). " + session.method(repeats, "call"),
        "",
        "| features | librosa loop (s) | skmm (s) | speed-up | librosa loop CPU (s) "
        "| skmm CPU (s) | skmm / librosa (time) | max difference |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *lines,
        "",
        "CPU: process CPU time of the call (all threads). Max difference: "
        "max |skmm - librosa| / max(|librosa|, 1) over all features.",
    ]
