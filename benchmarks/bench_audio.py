"""Benchmark: AudioLogMel / AudioMFCC against a per-clip librosa loop on the 3,000 FSDD clips.

The baseline is the loop users write today, decoding included on both sides:

    y, _ = librosa.load(path, sr=16000)
    S = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512,
                                                           hop_length=160, n_mels=64))
    row = np.concatenate([S.mean(axis=1), S.std(axis=1)])

(and ``librosa.feature.mfcc(...)`` for MFCCs), with the same parameters as the
extractors' defaults. Both sides read the same WAV paths and resample 8 kHz -> 16 kHz
with soxr HQ. The script checks that both give the same features, prints the times
and the ratio, and writes benchmarks/results/audio.md.

Run: SKMM_DATA=/work/shared/data python benchmarks/bench_audio.py [--repeats 2]
"""

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

PARAMS = dict(sr=16000, n_fft=512, hop_length=160, n_mels=64)
N_MFCC = 20


def librosa_logmel_loop(paths):
    import librosa

    rows = []
    for path in paths:
        y, _ = librosa.load(path, sr=PARAMS["sr"])
        S = librosa.power_to_db(librosa.feature.melspectrogram(y=y, **PARAMS))
        rows.append(np.concatenate([S.mean(axis=1), S.std(axis=1)]))
    return np.asarray(rows, dtype=np.float32)


def librosa_mfcc_loop(paths):
    import librosa

    rows = []
    for path in paths:
        y, _ = librosa.load(path, sr=PARAMS["sr"])
        M = librosa.feature.mfcc(y=y, n_mfcc=N_MFCC, **PARAMS)
        rows.append(np.concatenate([M.mean(axis=1), M.std(axis=1)]))
    return np.asarray(rows, dtype=np.float32)


def timed(fn, repeats):
    """Best wall time and best process CPU time over ``repeats`` runs, and the output."""
    best_wall, best_cpu, out = np.inf, np.inf, None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="best of N runs per side")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N clips")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "audio.md"))
    args = parser.parse_args()

    import torch

    from skmm import AudioLogMel, AudioMFCC
    from skmm.datasets import load_av_digits

    paths = list(load_av_digits(download_if_missing=False).data["audio"])[: args.limit]
    cases = [
        ("log-mel 64 bands, mean+std", librosa_logmel_loop, lambda: AudioLogMel(**PARAMS)),
        ("MFCC 20, mean+std", librosa_mfcc_loop, lambda: AudioMFCC(n_mfcc=N_MFCC, **PARAMS)),
    ]
    rows = []
    for name, baseline, make in cases:
        # warm up both sides (imports, librosa's first-call setup) on a few clips
        make().fit_transform(paths[:8])
        baseline(paths[:8])
        w_ours, c_ours, ours = timed(lambda: make().fit_transform(paths), args.repeats)
        w_base, c_base, base = timed(lambda: baseline(paths), args.repeats)
        err = float(np.max(np.abs(ours - base) / np.maximum(np.abs(base), 1.0)))
        rows.append((name, w_base, w_ours, w_base / w_ours, c_base, c_ours, c_base / c_ours, err))
        print(f"{name}: librosa loop {w_base:.2f} s (CPU {c_base:.2f} s), skmm {w_ours:.2f} s "
              f"(CPU {c_ours:.2f} s), speed-up x{w_base / w_ours:.1f} wall, "
              f"x{c_base / c_ours:.1f} CPU; max difference {err:.2g} (relative, floor 1)")

    lines = [
        "# Audio extractors vs a per-clip librosa loop",
        "",
        f"{len(paths)} FSDD clips (8 kHz WAV, resampled to 16 kHz on both sides), "
        f"parameters {PARAMS}; decoding included on both sides; best of {args.repeats} run(s).",
        f"Machine: {os.cpu_count()}-core CPU, no GPU ({platform.machine()}), "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads; skmm defaults "
        "(device='cpu': float64 FFT, float32 after it; batch_size=256; n_jobs=None threads).",
        f"The machine was shared with other jobs (load average {os.getloadavg()[0]:.1f} at the end "
        "of the run), so absolute times vary between runs; both sides ran in the same run.",
        "No GPU was available for this run, so there are no GPU figures.",
        "",
        "| features | librosa loop wall (s) | skmm wall (s) | speed-up (wall) "
        "| librosa loop CPU (s) | skmm CPU (s) | speed-up (CPU) | max difference |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {n} | {wb:.2f} | {wo:.2f} | x{rw:.1f} | {cb:.2f} | {co:.2f} | x{rc:.1f} | {e:.2g} |"
        for n, wb, wo, rw, cb, co, rc, e in rows
    ]
    lines += [
        "",
        "Wall: elapsed time; CPU: process CPU time (all threads), less sensitive to other "
        "processes sharing the machine. Max difference: max |skmm - librosa| / max(|librosa|, 1) "
        "over all features.",
    ]
    lines += ["", "Command: `SKMM_DATA=/work/shared/data python benchmarks/bench_audio.py`", ""]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
