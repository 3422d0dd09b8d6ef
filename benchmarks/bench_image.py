"""ImageEmbedder throughput against a hand-written batched torch loop, in one run.

Both sides embed the same uint8 images held in memory with the same frozen backbone,
batch size, device and precision; the loop is what one would write by hand (stack,
move to the device, convert, run in inference mode, average-pool). The ratio is
ImageEmbedder's images/s over the loop's: the cost of skmm's decoding, validation and
bookkeeping. Each side runs ``--repeats`` times, interleaved, and its best run counts
(the machine may be shared). Also: ImageColorHistogram against a per-image
``numpy.histogram`` loop.

Usage::

    python benchmarks/bench_image.py            # 2,000 synthetic 3x64x64 images, CPU
    python benchmarks/bench_image.py --n 500 --precision bfloat16

Writes ``benchmarks/results/image.md``.
"""

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from skmm import ImageColorHistogram, ImageEmbedder
from skmm._backbones import simple_cnn
from skmm._base import resolve_device, resolve_precision

RESULTS = Path(__file__).parent / "results" / "image.md"


def hand_written_loop(model, images, batch_size, device, dtype):
    """The baseline: a plain batched inference loop over uint8 arrays."""
    outputs = []
    with torch.inference_mode(), torch.autocast(
        device_type=torch.device(device).type, dtype=dtype or torch.bfloat16, enabled=dtype is not None
    ):
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.stack(images[start:start + batch_size])).to(device)
            x = batch.permute(0, 3, 1, 2).float().div_(255)
            outputs.append(model(x).float().mean((2, 3)).cpu())
    return torch.cat(outputs).numpy()


def histogram_loop(images, bins):
    """The baseline: one numpy.histogram per image and channel."""
    return np.stack([
        np.concatenate([
            np.histogram(im[:, :, c], bins=bins, range=(0, 256))[0] / (im.shape[0] * im.shape[1])
            for c in range(im.shape[2])
        ])
        for im in images
    ]).astype(np.float32)


def best_throughput(fn, n, repeats):
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = max(best, n / (time.perf_counter() - start))
    return best, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="number of images")
    parser.add_argument("--size", type=int, default=64, help="image height and width")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16", "auto"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    images = list(rng.integers(0, 256, size=(args.n, args.size, args.size, 3), dtype=np.uint8))
    device = resolve_device(args.device)
    dtype = resolve_precision(args.precision, device)

    model = simple_cnn().eval().to(device)
    emb = ImageEmbedder(
        size=args.size, batch_size=args.batch_size, device=device, precision=args.precision
    ).fit(images[:2])
    hand_written_loop(model, images[:args.batch_size], args.batch_size, device, dtype)  # warm-up
    emb.transform(images[:args.batch_size])

    loop_rate, ours_rate = 0.0, 0.0
    for _ in range(args.repeats):  # interleaved, so both sides see the same machine load
        rate, expected = best_throughput(
            lambda: hand_written_loop(model, images, args.batch_size, device, dtype), args.n, 1
        )
        loop_rate = max(loop_rate, rate)
        rate, got = best_throughput(lambda: emb.transform(images), args.n, 1)
        ours_rate = max(ours_rate, rate)
    tolerance = 1e-4 if dtype is None else 5e-2
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance * np.abs(expected).max())

    hist = ImageColorHistogram(bins=16, batch_size=256).fit(images[:2])
    hist_loop_rate, hist_expected = best_throughput(lambda: histogram_loop(images, 16), args.n, args.repeats)
    hist_rate, hist_got = best_throughput(lambda: hist.transform(images), args.n, args.repeats)
    np.testing.assert_allclose(hist_got, hist_expected, rtol=1e-6)

    machine = (
        f"{os.cpu_count()}-core CPU ({platform.processor() or platform.machine()}), "
        + (f"GPU {torch.cuda.get_device_name(0)}" if device.startswith("cuda") else "no GPU")
    )
    config = (
        f"{args.n} synthetic uint8 images 3x{args.size}x{args.size} in memory, backbone "
        f"simple-cnn, batch {args.batch_size}, device {device}, precision {emb.precision_}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), best of {args.repeats}"
    )
    rows = [
        ("ImageEmbedder.transform", "hand-written batched torch loop", ours_rate, loop_rate),
        ("ImageColorHistogram.transform (16 bins)", "per-image numpy.histogram loop",
         hist_rate, hist_loop_rate),
    ]
    table = [
        "| what | images/s | baseline | baseline images/s | ratio |",
        "|---|---:|---|---:|---:|",
    ] + [f"| {a} | {r:,.0f} | {b} | {br:,.0f} | {r / br:.2f}x |" for a, b, r, br in rows]
    print(config)
    print(machine)
    print("\n".join(table))
    if not args.no_write:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(
            "# Image extractors: throughput\n\n"
            f"Command: `python benchmarks/bench_image.py` ({config}).\n\n"
            f"Machine: {machine}. No GPU was available in this session, so there are no GPU "
            "figures; on CUDA the same script compares the bfloat16/channels-last path with "
            "the loop under the same precision.\n\n"
            + "\n".join(table)
            + "\n\nThe ratio is skmm's throughput over the baseline's, measured in the same run "
            "(both sides interleaved, best run each). Outputs are checked to agree.\n"
        )


if __name__ == "__main__":
    main()
