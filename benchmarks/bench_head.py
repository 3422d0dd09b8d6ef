"""Benchmark: epoch time of FusionNetClassifier against a hand-written PyTorch loop.

All three rows train the same module (skmm.nets.MLP, built from the same seed) on the same
float32 data, with the same batch size, optimizer (AdamW), learning rate, shuffling and
loss (cross-entropy), on the same device:

* hand-written loop: a seeded permutation per epoch, ``X[idx]`` batches, zero_grad /
  forward / loss / backward / step, and ``loss.item()`` per batch (the usual running loss);
* FusionNetClassifier: what this package ships;
* plain skorch: ``NeuralNetClassifier`` with ``train_split=None`` and
  ``iterator_train__shuffle=True``, i.e. skorch's default DataLoader, which collates every
  batch sample by sample.

The rows are run in alternation over several rounds so that a change of machine load hits
them all, and each row's figure is its fastest epoch over all rounds (the first epoch of
each run is dropped as warm-up): on a machine shared with other work, noise only ever adds
time, so the minimum is the steadiest estimate of what a trainer costs. Two clocks are
reported: wall-clock time, and the CPU time of the training thread (``time.thread_time``),
which other processes on a shared machine do not inflate (with ``--threads 1`` all the
training work runs on that thread). Ratios are against the hand-written loop measured in
the same run. It prints the table and writes benchmarks/results/head.md.

Run: python benchmarks/bench_head.py [--rounds 7] [--epochs 5] [--threads 1] [--device cpu]
"""

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

CONFIGS = {
    # name: (n_samples, n_features, hidden_sizes, n_classes, batch_size)
    "small (64-64-10, batch 64)": (8192, 64, (64,), 10, 64),
    "medium (512-256-10, batch 128)": (8192, 512, (256,), 10, 128),
}
LR = 1e-3
SEED = 0


def make_data(n, d, k):
    rng = np.random.RandomState(0)
    centres = rng.normal(size=(k, d)).astype(np.float32)
    y = rng.randint(k, size=n)
    X = centres[y] + rng.normal(scale=2.0, size=(n, d)).astype(np.float32)
    return X.astype(np.float32), y.astype(np.int64)


def make_module(d, hidden, k):
    from skmm.nets import MLP

    torch.manual_seed(SEED)
    return MLP(d, k, hidden_sizes=hidden, dropout=0.1)


def hand_loop(X, y, hidden, batch_size, epochs, device):
    """The loop a PyTorch user writes by hand. Returns the per-epoch durations."""
    module = make_module(X.shape[1], hidden, int(y.max()) + 1).to(device)
    optimizer = torch.optim.AdamW(module.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    X_t, y_t = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
    generator = torch.Generator().manual_seed(SEED)
    durations = []
    for _ in range(epochs):
        start, cpu_start = time.perf_counter(), time.thread_time()
        module.train()
        order = torch.randperm(len(X_t), generator=generator).to(device)
        running = 0.0
        for i in range(0, len(X_t), batch_size):
            idx = order[i:i + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(module(X_t[idx]), y_t[idx])
            loss.backward()
            optimizer.step()
            running += loss.item()
        durations.append((time.perf_counter() - start, time.thread_time() - cpu_start))
    return durations


def epoch_clock():
    """A skorch callback recording each epoch's CPU time (of this thread) as "cpu_dur"."""
    from skorch.callbacks import Callback

    class CpuEpochTimer(Callback):
        def on_epoch_begin(self, net, **kwargs):
            self.start_ = time.thread_time()

        def on_epoch_end(self, net, **kwargs):
            net.history.record("cpu_dur", time.thread_time() - self.start_)

    return [("cpu_timer", CpuEpochTimer())]


def durations(net):
    return list(zip(net.history[:, "dur"], net.history[:, "cpu_dur"]))


def fusion_net(X, y, hidden, batch_size, epochs, device):
    from skmm.nets import FusionNetClassifier

    net = FusionNetClassifier(hidden_sizes=hidden, dropout=0.1, lr=LR, batch_size=batch_size,
                              max_epochs=epochs, device=device, random_state=SEED,
                              callbacks=epoch_clock())
    net.fit(X, y)
    return durations(net)


def plain_skorch(X, y, hidden, batch_size, epochs, device):
    from skorch import NeuralNetClassifier

    from skmm.nets import MLP

    torch.manual_seed(SEED)
    net = NeuralNetClassifier(
        MLP, module__n_features=X.shape[1], module__n_outputs=int(y.max()) + 1,
        module__hidden_sizes=hidden, module__dropout=0.1, criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW, lr=LR, batch_size=batch_size, max_epochs=epochs,
        train_split=None, iterator_train__shuffle=True, device=device, verbose=0,
        callbacks=epoch_clock(),
    )
    net.fit(X, y)
    return durations(net)


ROWS = {
    "hand-written PyTorch loop": hand_loop,
    "FusionNetClassifier": fusion_net,
    "plain skorch NeuralNetClassifier": plain_skorch,
}


def measure(config, rounds, epochs, device):
    n, d, hidden, k, batch_size = config
    X, y = make_data(n, d, k)
    wall = {name: [] for name in ROWS}
    cpu = {name: [] for name in ROWS}
    for _ in range(rounds):
        for name, run in ROWS.items():
            epochs_run = run(X, y, hidden, batch_size, epochs, device)[1:]  # drop warm-up
            wall[name].extend(w for w, _ in epochs_run)
            cpu[name].extend(c for _, c in epochs_run)
    return {name: (min(wall[name]), min(cpu[name])) for name in ROWS}


def machine(device, threads):
    cores = os.cpu_count()
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return (f"{cores}-core CPU ({platform.processor() or platform.machine()}), no GPU, "
            f"torch {torch.__version__} with {threads} thread(s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: the setting small nets run best with)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "head.md"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    lines = [
        "# FusionNetClassifier epoch time against a hand-written PyTorch loop",
        "",
        f"Machine: {machine(args.device, args.threads)}. Device: {args.device}.",
        f"Command: `python benchmarks/bench_head.py --rounds {args.rounds} --epochs "
        f"{args.epochs} --threads {args.threads} --device {args.device}`",
        "",
        "Same module (skmm.nets.MLP, dropout 0.1), data (8,192 float32 rows, 10 classes), "
        "batch size, AdamW (lr 1e-3), shuffling and seed in every row. Fastest epoch of "
        f"{args.rounds} alternating rounds of {args.epochs - 1} epochs each (warm-up epoch "
        "dropped), by wall clock and by CPU time of the training thread; ratio = row / "
        "hand-written loop, measured in the same run. The machine was shared with other "
        "jobs, so single epochs vary by tens of percent; the minimum filters that out.",
        "",
        "| module | trainer | wall ms/epoch | wall ratio | CPU ms/epoch | CPU ratio |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for label, config in CONFIGS.items():
        result = measure(config, args.rounds, args.epochs, args.device)
        base_wall, base_cpu = result["hand-written PyTorch loop"]
        for name, (wall, cpu) in result.items():
            row = (f"| {label} | {name} | {wall * 1e3:.1f} | {wall / base_wall:.2f}x | "
                   f"{cpu * 1e3:.1f} | {cpu / base_cpu:.2f}x |")
            lines.append(row)
            print(row, flush=True)
    if not torch.cuda.is_available():
        lines += [
            "",
            "No GPU was available when this table was made, so there are no GPU figures here; "
            "on a CUDA machine run the same script with `--device cuda` (the training tensors "
            "then live on the GPU and batches are sliced there).",
        ]
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
