"""Benchmark: ImageEmbedder and ImageColorHistogram against hand-written loops, in one run.

Both sides of each comparison get the same uint8 images held in memory (a list of
``(H, W, 3)`` arrays, as a user's column holds them) and return one row per image:

* cpu protocol: ``ImageEmbedder`` (built-in simple-cnn, float32) against a hand-written
  batched torch loop on the same frozen trunk (``ImageEmbedder.model_.trunk``): stack,
  move to the device, convert to float in [0, 1], run in inference mode, average-pool; and
  ``ImageColorHistogram`` (16 bins) against one ``numpy.histogram`` per image and channel;
* gpu protocol: ``ImageEmbedder(backbone=<ResNet-18 trunk>)`` (torchvision's ResNet-18 with
  random weights, its pooling and classifier dropped; 224 px, bfloat16 autocast,
  channels-last on CUDA) against the same loop on the same weights, under the same autocast.

Each side's figure is the best of N whole ``transform`` calls over all the images, the
sides in alternation; outputs are checked to agree. ``n_jobs`` sets ImageEmbedder's
decoding threads (in-memory arrays need none), so its two rows should differ only by noise.
"""

import numpy as np

from ._harness import Skip, synchronize

CPU_SIZES = {  # images, side, batch, repeats
    "full": dict(n=2000, size=64, batch=64, repeats=3),
    "quick": dict(n=1000, size=64, batch=64, repeats=2),
    "tiny": dict(n=16, size=32, batch=8, repeats=1),
}
GPU_SIZES = {
    "full": dict(n=4096, size=224, batch=128, repeats=5),
    "quick": dict(n=2048, size=224, batch=128, repeats=3),
    "tiny": dict(n=8, size=64, batch=4, repeats=1),
}
LOOP = "hand-written batched torch loop"


def make_images(n, size, seed=0):
    """``n`` random uint8 images ``(size, size, 3)``, as a list (a column of cells)."""
    rng = np.random.default_rng(seed)
    return list(rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8))


def hand_written_loop(trunk, images, batch_size, device, dtype):
    """The baseline: a plain batched inference loop over uint8 arrays (average pooling)."""
    import torch

    outputs = []
    with torch.inference_mode(), torch.autocast(
        device_type=torch.device(device).type, dtype=dtype or torch.bfloat16,
        enabled=dtype is not None,
    ):
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.stack(images[start:start + batch_size])).to(device)
            x = batch.permute(0, 3, 1, 2).float().div_(255)  # NHWC memory: channels-last
            outputs.append(trunk(x).float().mean((2, 3)).cpu())
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


def resnet18_trunk():
    """torchvision's ResNet-18 with random weights (no download), pooling and head dropped."""
    import torch

    try:
        import torchvision
    except ImportError as exc:
        raise Skip("the gpu protocol's image case needs torchvision for its ResNet-18 "
                   f"({exc}); install it with: pip install 'skmm[vision]'") from exc
    torch.manual_seed(0)
    network = torchvision.models.resnet18(weights=None)
    return torch.nn.Sequential(*list(network.children())[:-2])  # (B, 512, h, w)


def stand_in_trunk():
    """A two-layer CNN standing in for ResNet-18 where torchvision is absent (tiny test runs)."""
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(),
                               torch.nn.Conv2d(8, 16, 3, stride=2))


def _compare(session, sides, images, repeats, tolerance):
    """Interleave ``sides`` (the loop first); check outputs against the loop's."""
    timed = session.interleave({name: (lambda fn=fn: fn(images)) for name, fn in sides.items()},
                               repeats, warmup=True)
    expected = timed[next(iter(sides))].result
    for timing in timed.values():
        np.testing.assert_allclose(timing.result, expected, rtol=tolerance,
                                   atol=tolerance * np.abs(expected).max())
    return timed


def _rows(session, timed, baseline, n):
    """Table lines (and summary rows) of ``timed`` against its ``baseline`` side."""
    base = timed[baseline]
    lines = []
    for name, t in timed.items():
        lines.append(f"| {name} | {t.best:.3f} | {n / t.best:,.0f} | {t.best / base.best:.2f}x |")
        if name != baseline:
            session.add_row(name, baseline, base.best, t.best)
    return lines


HEADER = ["| side | whole transform (s) | images/s | time / baseline |", "|---|---:|---:|---:|"]


def cpu_cases(session):
    """The cpu protocol: simple-cnn embeddings and colour histograms."""
    from skmm import ImageColorHistogram, ImageEmbedder

    c = session.pick(CPU_SIZES)
    repeats = session.repeats_or(c["repeats"])
    images = make_images(c["n"], c["size"])
    emb = ImageEmbedder(size=c["size"], batch_size=c["batch"], device=session.device,
                        precision="float32", cache=False).fit(images[:2])
    single = ImageEmbedder(size=c["size"], batch_size=c["batch"], device=session.device,
                           precision="float32", n_jobs=1, cache=False).fit(images[:2])
    trunk = emb.model_.trunk  # the same frozen simple-cnn trunk the embedder runs
    timed = _compare(session, {
        LOOP: lambda part: hand_written_loop(trunk, part, c["batch"], emb.device_, None),
        "ImageEmbedder.transform": emb.transform,
        "ImageEmbedder(n_jobs=1).transform": single.transform,
    }, images, repeats, 1e-4)
    hist = ImageColorHistogram(bins=16, batch_size=256, cache=False).fit(images[:2])
    hist_timed = _compare(session, {
        "per-image numpy.histogram loop": lambda part: histogram_loop(part, 16),
        "ImageColorHistogram.transform (16 bins)": hist.transform,
    }, images, repeats, 1e-6)
    return [
        f"{c['n']} random uint8 images 3x{c['size']}x{c['size']} in memory; ImageEmbedder "
        f"simple-cnn, batch {c['batch']}, device {emb.device_}, float32. "
        + session.method(repeats, "transform"),
        "",
        "### ImageEmbedder (simple-cnn) against a hand-written batched torch loop",
        "",
        *HEADER, *_rows(session, timed, LOOP, c["n"]),
        "",
        "### ImageColorHistogram against a per-image numpy.histogram loop",
        "",
        *HEADER, *_rows(session, hist_timed, "per-image numpy.histogram loop", c["n"]),
        "",
    ]


def gpu_case(session):
    """The gpu protocol: ResNet-18 embeddings in bfloat16 from host uint8 images."""
    import torch

    from skmm import ImageEmbedder

    c = session.pick(GPU_SIZES)
    repeats = session.repeats_or(c["repeats"])
    images = make_images(c["n"], c["size"])
    try:
        backbone, what = resnet18_trunk(), "torchvision ResNet-18 trunk, random weights"
        short = "ResNet-18"
    except Skip:
        if session.size != "tiny":
            raise
        backbone = stand_in_trunk()
        what = "a two-layer CNN standing in for ResNet-18: torchvision is absent"
        short = "stand-in CNN"
    emb = ImageEmbedder(backbone=backbone, size=c["size"], batch_size=c["batch"],
                        device=session.device, precision="bfloat16", cache=False)
    emb.fit(images[:2])
    trunk = emb.model_.trunk  # the embedder's frozen copy: eval mode, channels-last on CUDA

    def loop(part):
        out = hand_written_loop(trunk, part, c["batch"], emb.device_, torch.bfloat16)
        synchronize(emb.device_)
        return out

    side = f"ImageEmbedder.transform ({short}, bfloat16, {c['size']} px)"
    timed = _compare(session, {LOOP: loop, side: emb.transform}, images, repeats, 5e-2)
    return [
        f"{c['n']} random uint8 images 3x{c['size']}x{c['size']} in host memory; ImageEmbedder"
        f"(backbone=<{what}>, precision='bfloat16'), "
        f"batch {c['batch']}, device {emb.device_} (channels-last on CUDA); the loop runs the "
        "embedder's own trunk under the same bfloat16 autocast. "
        + session.method(repeats, "transform"),
        "",
        *HEADER, *_rows(session, timed, LOOP, c["n"]),
        "",
    ]


def run(session):
    """Run the image benchmark; return (title, Markdown body lines)."""
    if session.protocol == "gpu":
        return "ImageEmbedder (ResNet-18, bfloat16) against raw batched torch", gpu_case(session)
    return "Image extractors against hand-written loops", cpu_cases(session)
