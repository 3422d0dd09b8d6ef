"""ImageEmbedder throughput against a hand-written batched torch loop, in one run.

Both sides embed the same uint8 images held in memory with the same frozen backbone,
batch size, device and precision; the loop is what one would write by hand (stack,
move to the device, convert, run in inference mode, average-pool). The ratio is
ImageEmbedder's images/s over the loop's: the cost of skmm's decoding, validation and
bookkeeping. The sides alternate chunk by chunk (``--repeats`` passes over the images),
so that the load of other processes on a shared machine falls on all alike. Also:
ImageColorHistogram against a per-image ``numpy.histogram`` loop.

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
from sklearn.base import clone

from skmm import ImageColorHistogram, ImageEmbedder
from skmm._backbones import simple_cnn
from skmm._base import resolve_device, resolve_precision

RESULTS = Path(__file__).parent / "results" / "image.md"


def hand_written_loop(model, images, batch_size, device, dtype):
    """The baseline: a plain batched inference loop over uint8 arrays."""
    outputs = []
    with torch.inference_mode(), torch.autocast(
        device_type=torch.device(device).type,
        dtype=dtype or torch.bfloat16,
        enabled=dtype is not None,
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


def interleaved(sides, images, chunk, repeats):
    """Time each side on the same chunks of ``images``, alternating sides chunk by chunk.

    Load from other processes then falls on every side alike. Returns, per side, its
    throughput (images over summed seconds), its outputs and its per-chunk seconds.
    """
    seconds = {name: [] for name in sides}
    outputs = {name: [] for name in sides}
    names = list(sides)
    for repeat in range(repeats):
        for k, start in enumerate(range(0, len(images), chunk)):
            part = images[start:start + chunk]
            shift = (repeat + k) % len(names)  # rotate the order: no side always runs first
            for name in names[shift:] + names[:shift]:
                begin = time.perf_counter()
                out = sides[name](part)
                seconds[name].append(time.perf_counter() - begin)
                if repeat == 0:
                    outputs[name].append(out)
    return {
        name: (repeats * len(images) / sum(seconds[name]), np.concatenate(outputs[name]),
               np.array(seconds[name]))
        for name in names
    }


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

    single = clone(emb).set_params(n_jobs=1).fit(images[:2])
    chunk = 4 * args.batch_size
    timed = interleaved({
        "loop": lambda part: hand_written_loop(model, part, args.batch_size, device, dtype),
        "ours": emb.transform,
        "ours, n_jobs=1": single.transform,
    }, images, chunk, args.repeats)
    expected = timed["loop"][1]
    tolerance = 1e-4 if dtype is None else 5e-2
    for name in ("ours", "ours, n_jobs=1"):
        np.testing.assert_allclose(
            timed[name][1], expected, rtol=tolerance, atol=tolerance * np.abs(expected).max()
        )

    hist = ImageColorHistogram(bins=16, batch_size=256).fit(images[:2])
    hist_timed = interleaved(
        {"loop": lambda part: histogram_loop(part, 16), "ours": hist.transform}, images, chunk,
        args.repeats,
    )
    np.testing.assert_allclose(hist_timed["ours"][1], hist_timed["loop"][1], rtol=1e-6)

    machine = (
        f"{os.cpu_count()}-core CPU ({platform.processor() or platform.machine()}), "
        + (f"GPU {torch.cuda.get_device_name(0)}" if device.startswith("cuda") else "no GPU")
    )
    config = (
        f"{args.n} synthetic uint8 images 3x{args.size}x{args.size} in memory, backbone "
        f"simple-cnn, batch {args.batch_size}, device {device}, precision {emb.precision_}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), {args.repeats} passes, "
        f"interleaved by chunks of {chunk} images"
    )

    def row(what, baseline, ours, base):
        # the ratio on each chunk, robust to bursts of load
        per_chunk = np.median(base[2] / ours[2])
        return (
            f"| {what} | {ours[0]:,.0f} | {baseline} | {base[0]:,.0f} | "
            f"{ours[0] / base[0]:.2f}x | {per_chunk:.2f}x |"
        )

    rows = [
        row("ImageEmbedder.transform", "hand-written batched torch loop",
            timed["ours"], timed["loop"]),
        row("ImageEmbedder(n_jobs=1).transform", "hand-written batched torch loop",
            timed["ours, n_jobs=1"], timed["loop"]),
        row("ImageColorHistogram.transform (16 bins)", "per-image numpy.histogram loop",
            hist_timed["ours"], hist_timed["loop"]),
    ]
    table = [
        "| what | images/s | baseline | baseline images/s | ratio | median per-chunk ratio |",
        "|---|---:|---|---:|---:|---:|",
    ] + rows
    print(config)
    print(machine)
    print("\n".join(table))
    if not args.no_write:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(
            "# Image extractors: throughput\n\n"
            f"Command: `python benchmarks/bench_image.py` ({config}).\n\n"
            f"Machine: {machine}, shared with other jobs while it ran (load average "
            f"{os.getloadavg()[0]:.1f} at the end), hence the interleaving below. No GPU was "
            "available in this session, so there are no GPU figures; on CUDA, "
            "`--precision auto` compares the bfloat16 autocast and channels-last path with the "
            "loop under the same autocast.\n\n"
            + "\n".join(table)
            + "\n\nThe ratio is skmm's throughput over the baseline's, measured in the same run: "
            "the sides alternate chunk by chunk, in rotating order, so that the load of other "
            "processes falls on all alike; the last column is the median of the per-chunk "
            "ratios. Outputs are checked to agree. n_jobs sets the decoding threads; in-memory "
            "arrays need no decoding, so the two ImageEmbedder rows should differ only by "
            "noise.\n"
        )


if __name__ == "__main__":
    main()
