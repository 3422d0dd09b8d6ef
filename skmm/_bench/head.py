"""Benchmark: FusionNetClassifier against a hand-written PyTorch loop on the same module.

Every side trains the same module (:class:`skmm.nets.MLP`, built from the same seed) on the
same float32 data, with the same batch size, optimizer (torch's default implementation: the
net is given ``optimizer__fused=False``), constant learning rate (``lr_schedule=None``), every
row trained on (``early_stopping=None``),
shuffling and loss (cross-entropy), on the same device. The hand-written loop is what a PyTorch user writes:
the arrays moved to the device once, a seeded permutation per epoch, ``X[idx]`` batches,
zero_grad / forward / loss / backward / step, and ``loss.item()`` per batch (the usual
running loss); under the same autocast as the net (bfloat16 on a CUDA device that has it).

Cases:

* **whole fit** (both protocols): ``FusionNetClassifier(optimizer=torch.optim.Adam).fit(X, y)``
  timed as a user calls it (parameter checks, input validation, float32 conversion, label
  encoding, module and optimizer set-up, history bookkeeping) against the whole loop
  function (module and optimizer set-up and tensor conversion included): an MLP with 256
  hidden units on 20,000 x 256 rows, 4 epochs, batch 128, Adam, 2 torch threads. The
  fastest epoch of each side sits beside it.
* **fastest epoch** (cpu protocol; the cases this benchmark always had): small and medium
  MLPs, AdamW, 1 torch thread, three trainers (the loop, FusionNetClassifier and plain
  skorch ``NeuralNetClassifier`` with its default DataLoader); each trainer's figure is its
  fastest epoch over all rounds (the first epoch of every fit dropped as warm-up), by wall
  clock and by CPU time of the training thread.
"""

import time

import numpy as np

from ._harness import synchronize, torch_threads

LR = 1e-3
SEED = 0
#: whole fit: rows, features, hidden sizes, classes, batch, epochs, torch threads
WHOLE_FIT = {
    "full": dict(n=20000, d=256, hidden=(256,), k=10, batch=128, epochs=4, threads=2, repeats=6),
    "quick": dict(n=20000, d=256, hidden=(256,), k=10, batch=128, epochs=4, threads=2, repeats=6),
    "tiny": dict(n=512, d=32, hidden=(16,), k=4, batch=128, epochs=2, threads=2, repeats=1),
}
#: fastest-epoch cases: label -> (rows, features, hidden sizes, classes, batch)
EPOCH_CASES = {
    "full": {"small MLP (64-64-10, batch 64)": (8192, 64, (64,), 10, 64),
             "medium MLP (512-256-10, batch 128)": (8192, 512, (256,), 10, 128)},
    "quick": {"small MLP (64-64-10, batch 64)": (8192, 64, (64,), 10, 64),
              "medium MLP (512-256-10, batch 128)": (8192, 512, (256,), 10, 128)},
    "tiny": {"tiny MLP (16-8-4, batch 64)": (256, 16, (8,), 4, 64)},
}
#: rounds and epochs per fit of the fastest-epoch cases
EPOCH_ROUNDS = {"full": (7, 5), "quick": (5, 3), "tiny": (1, 2)}
LOOP = "hand-written PyTorch loop"


def make_data(n, d, k):
    """Gaussian clusters: ``X`` float32 (n, d), ``y`` int64 in [0, k)."""
    rng = np.random.RandomState(0)
    centres = rng.normal(size=(k, d)).astype(np.float32)
    y = rng.randint(k, size=n)
    X = centres[y] + rng.normal(scale=2.0, size=(n, d)).astype(np.float32)
    return X.astype(np.float32), y.astype(np.int64)


def make_module(d, hidden, k):
    """The MLP every side trains, built from the same seed."""
    import torch

    from skmm.nets import MLP

    torch.manual_seed(SEED)
    return MLP(d, k, hidden_sizes=hidden, dropout=0.1)


def autocast_dtype(device):
    """The autocast dtype FusionNetClassifier(precision="auto") trains with on ``device``."""
    import torch

    if str(device).startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def hand_loop(X, y, hidden, batch_size, epochs, device, optimizer):
    """The loop a PyTorch user writes by hand. Returns per-epoch (wall, thread CPU) seconds."""
    import torch

    module = make_module(X.shape[1], hidden, int(y.max()) + 1).to(device)
    opt = optimizer(module.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    X_t, y_t = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
    generator = torch.Generator().manual_seed(SEED)
    dtype = autocast_dtype(device)
    kind = torch.device(device).type
    durations = []
    for _ in range(epochs):
        start, cpu_start = time.perf_counter(), time.thread_time()
        module.train()
        order = torch.randperm(len(X_t), generator=generator).to(device)
        running = 0.0
        for i in range(0, len(X_t), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad()
            with torch.autocast(kind, dtype=dtype, enabled=dtype is not None):
                loss = loss_fn(module(X_t[idx]).float(), y_t[idx])
            loss.backward()
            opt.step()
            running += loss.item()
        durations.append((time.perf_counter() - start, time.thread_time() - cpu_start))
    synchronize(device)
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


def _durations(net):
    return list(zip(net.history[:, "dur"], net.history[:, "cpu_dur"]))


def fusion_net(X, y, hidden, batch_size, epochs, device, optimizer):
    """FusionNetClassifier.fit as a user calls it. Returns per-epoch (wall, thread CPU)."""
    from skmm.nets import FusionNetClassifier

    # the loop's work and arithmetic: every row trained on (from 10,000 rows the nets'
    # default holds a tenth out for early stopping), a constant learning rate and torch's
    # default implementation of the optimizer (not the nets' cosine and fused step)
    net = FusionNetClassifier(hidden_sizes=hidden, dropout=0.1, optimizer=optimizer, lr=LR,
                              batch_size=batch_size, max_epochs=epochs, device=device,
                              random_state=SEED, callbacks=epoch_clock(), early_stopping=None,
                              lr_schedule=None, optimizer__fused=False)
    net.fit(X, y)
    synchronize(device)
    if net.amp_dtype_ != autocast_dtype(device):
        raise RuntimeError(f"the net trained under autocast {net.amp_dtype_}, the loop under "
                           f"{autocast_dtype(device)}: the sides would not compare.")
    return _durations(net)


def plain_skorch(X, y, hidden, batch_size, epochs, device, optimizer):
    """skorch's NeuralNetClassifier with its default DataLoader (sample-by-sample collation)."""
    import torch
    from skorch import NeuralNetClassifier

    from skmm.nets import MLP

    torch.manual_seed(SEED)
    net = NeuralNetClassifier(
        MLP, module__n_features=X.shape[1], module__n_outputs=int(y.max()) + 1,
        module__hidden_sizes=hidden, module__dropout=0.1, criterion=torch.nn.CrossEntropyLoss,
        optimizer=optimizer, lr=LR, batch_size=batch_size, max_epochs=epochs,
        train_split=None, iterator_train__shuffle=True, device=device, verbose=0,
        callbacks=epoch_clock(),
    )
    net.fit(X, y)
    return _durations(net)


def whole_fit(session):
    """Time the whole fit of both sides; add the summary row; return the Markdown lines."""
    import torch

    c = session.pick(WHOLE_FIT)
    repeats = session.repeats_or(c["repeats"])
    X, y = make_data(c["n"], c["d"], c["k"])
    args = (X, y, c["hidden"], c["batch"], c["epochs"], session.device, torch.optim.Adam)
    with torch_threads(c["threads"]):
        timed = session.interleave({
            LOOP: lambda: hand_loop(*args),
            "FusionNetClassifier.fit": lambda: fusion_net(*args),
        }, repeats, warmup=True)
    loop, net = timed[LOOP], timed["FusionNetClassifier.fit"]
    case = (f"whole fit, MLP {c['hidden'][0]} hidden, {c['n']:,} x {c['d']}, {c['epochs']} "
            f"epochs, batch {c['batch']}, Adam, {c['threads']} threads")
    ratios = net.paired_ratios(loop)
    median = float(np.median(ratios))
    # the summary's ratio is the median of the paired ratios: its two figures are the
    # loop's median time and that times the median ratio
    loop_median = float(np.median(loop.wall))
    session.add_row(case, LOOP, loop_median, loop_median * median)
    fastest = {t.name: min(w for run in t.results for w, _ in run) for t in (loop, net)}
    session.echo(f"{case}: net/loop median of {len(ratios)} paired ratios {median:.2f}x "
                 f"(pairs {', '.join(f'{r:.2f}' for r in ratios)})")
    return [
        f"### Whole fit: {case}",
        "",
        f"{repeats} rounds, each a call of the loop then a call of the net, back to back "
        "(after one untimed call of each); the ratio is the median over the rounds of "
        "net / loop within a round, so that load from other work falls on both sides of a "
        "ratio alike.",
        f"Device {session.device}; autocast {autocast_dtype(session.device) or 'none (float32)'} "
        "on both sides; the same seeded module, data and batch order.",
        "",
        f"**net / loop, median of {len(ratios)} paired ratios: {median:.2f}x** "
        f"(per round: {', '.join(f'{r:.2f}x' for r in ratios)})",
        "",
        "| side | median whole fit (s) | best whole fit (s) | best CPU (s) | fastest epoch (s) |",
        "|---|---:|---:|---:|---:|",
        *(f"| {t.name} | {float(np.median(t.wall)):.3f} | {t.best:.3f} | {t.best_cpu:.3f} | "
          f"{fastest[t.name]:.4f} |" for t in (loop, net)),
        "",
        "Whole fit: wall time of the call, set-up, validation, conversions and bookkeeping "
        "included; CPU: process CPU time of that call (all threads). Fastest epoch: the "
        "quickest single epoch of any call (the training loop alone).",
        "",
    ]


def epoch_cases(session):
    """The fastest-epoch comparison of three trainers; return the Markdown lines."""
    import torch

    rounds, epochs = EPOCH_ROUNDS[session.size]
    rounds = session.repeats_or(rounds)
    trainers = {LOOP: hand_loop, "FusionNetClassifier": fusion_net,
                "plain skorch NeuralNetClassifier": plain_skorch}
    lines = [
        "### Fastest epoch (1 torch thread, AdamW)",
        "",
        f"Same module (skmm.nets.MLP, dropout 0.1), data, batch size, AdamW (lr {LR:g}), "
        f"shuffling and seed in every row. Fastest epoch of {rounds} alternating rounds of "
        f"{epochs - 1} epoch(s) each (the warm-up epoch of every fit dropped), by wall clock "
        "and by CPU time of the training thread; ratio = row / hand-written loop, measured in "
        "the same run.",
        "",
        "| module | trainer | wall ms/epoch | wall ratio | CPU ms/epoch | CPU ratio |",
        "|---|---|---:|---:|---:|---:|",
    ]
    with torch_threads(1):
        for label, (n, d, hidden, k, batch) in session.pick(EPOCH_CASES).items():
            X, y = make_data(n, d, k)
            timed = session.interleave({
                name: (lambda fn=fn: fn(X, y, hidden, batch, epochs, session.device,
                                        torch.optim.AdamW))
                for name, fn in trainers.items()
            }, rounds)
            best = {name: (min(w for run in t.results for w, _ in run[1:]),
                           min(c for run in t.results for _, c in run[1:]))
                    for name, t in timed.items()}
            base_wall, base_cpu = best[LOOP]
            for name, (wall, cpu) in best.items():
                lines.append(f"| {label} | {name} | {wall * 1e3:.1f} | {wall / base_wall:.2f}x | "
                             f"{cpu * 1e3:.1f} | {cpu / base_cpu:.2f}x |")
            session.add_row(f"fastest epoch, {label}, AdamW, 1 thread", LOOP, base_wall,
                            best["FusionNetClassifier"][0])
    return lines + [""]


def run(session):
    """Run the head benchmark; return (title, Markdown body lines)."""
    body = whole_fit(session)
    if session.protocol == "cpu":
        body += epoch_cases(session)
    return "FusionNetClassifier against a hand-written PyTorch loop", body
