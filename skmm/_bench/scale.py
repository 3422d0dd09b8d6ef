"""Scale benchmark: extraction and training as the rows grow, locally, on Dask, from a store.

Cells are generated on the fly, a partition at a time (never the whole table in memory):
a 24x24 RGB image, a quarter second of 8 kHz audio (a tone per class, in noise) and a price
per row. The extractors are ``make_modality_union({"image": ImagePixels((16, 16), "L"),
"audio": AudioLogMel(32 mels, mean and std), "shop": TabularEncoder on the price})``: 322
float32 features a row (1.29 KB), fitted on the first partition.

Each phase runs in a fresh process, and the peak memory of a phase is its high-water mark of
resident memory (``VmHWM``, reset through ``/proc/self/clear_refs`` once the imports are done
and the inputs are ready) minus the resident memory at that point: what the phase itself added.

* extraction, one process: partitions transformed one after the other and written to a
  :class:`~skmm.store.FeatureStore`;
* extraction, Dask: a 2-worker ``LocalCluster`` (processes, one thread each; the README's
  settings, :data:`CLUSTER_CONFIG`) over
  ``dask.dataframe.from_map`` partitions, by :func:`skmm.distributed.extract_to_parquet`,
  then the Parquet folder turned into a store; the store's CRC must equal the local one's
  (the same features, bit for bit). Peak memory: the largest worker's high-water mark (the
  workers start fresh for each size);
* training, one epoch of ``FusionNetClassifier`` (batch 512, one torch thread per process
  as the 2 workers had, no held-out split): from the rows in memory (a DataFrame read from
  the store) and from the store itself, streamed.

Times are wall seconds of one run per phase and size; growth is the time at the largest size
over the time at the size before it (linear: about the ratio of their rows).
"""

import multiprocessing
import os
import tempfile
import time

import numpy as np

from ._harness import Skip

SIZES = {  # rows per size, rows per partition
    "full": dict(rows=(10_000, 100_000, 1_000_000), partition=10_000),
    "quick": dict(rows=(2_000, 20_000, 200_000), partition=2_000),
    "tiny": dict(rows=(200, 400), partition=100),
}
IMAGE_SIDE, CLIP_SAMPLES, SAMPLE_RATE, N_CLASSES = 24, 2_000, 8_000, 4
EXTRACT_LOCAL, EXTRACT_DASK = "extraction, one process", "extraction, 2 Dask workers"
TRAIN_MEMORY, TRAIN_STORE = "training 1 epoch, rows in memory", "training 1 epoch, from the store"
PHASES = (EXTRACT_LOCAL, EXTRACT_DASK, TRAIN_MEMORY, TRAIN_STORE)
#: The Dask settings of the README's cluster recipe: cells that are arrays stay objects, and
#: the nanny does not set ``MALLOC_TRIM_THRESHOLD_=65536`` in the workers (with it, the
#: extractors' transform took 15.1 s for 10 partitions in each of 2 workers instead of 12.4 s,
#: against 9.2 s in one process alone).
CLUSTER_CONFIG = {"dataframe.convert-string": False,
                  "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


# ---- cells, made on the fly ---------------------------------------------------------------


def make_partition(index, rows):
    """Partition ``index`` of the synthetic table: ``rows`` rows of image, audio and price
    cells and their label (the same for a given index, in any process)."""
    import pandas as pd

    rng = np.random.default_rng(index)
    labels = rng.integers(0, N_CLASSES, rows)
    images = rng.integers(0, 256, (rows, IMAGE_SIDE, IMAGE_SIDE, 3), dtype=np.uint8)
    t = np.arange(CLIP_SAMPLES) / SAMPLE_RATE
    tones = np.sin(2 * np.pi * (300 + 400 * labels)[:, None] * t).astype(np.float32)
    audio = 0.5 * tones + 0.3 * rng.standard_normal((rows, CLIP_SAMPLES)).astype(np.float32)
    frame = pd.DataFrame({"image": list(images), "audio": list(audio),
                          "price": rng.gamma(2.0, 10.0, rows) * (1 + labels)})
    frame["label"] = labels
    return frame.set_index(pd.RangeIndex(index * rows, (index + 1) * rows))


def make_union():
    from skmm import AudioLogMel, ImagePixels, TabularEncoder, make_modality_union

    return make_modality_union({
        "image": ImagePixels(size=(16, 16), mode="L"),
        "audio": AudioLogMel(sr=SAMPLE_RATE, n_fft=256, hop_length=128, n_mels=32,
                             stats=("mean", "std")),
        "shop": (TabularEncoder(), ["price"]),
    })


def fitted_union(partition):
    cells = make_partition(0, partition)
    return make_union().fit(cells.drop(columns="label"), cells["label"])


# ---- memory -------------------------------------------------------------------------------


def _status_mb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak():
    """Reset this process's RSS high-water mark; return the RSS now (MB)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return _status_mb("VmRSS")


def peak_since(start_mb):
    return _status_mb("VmHWM") - start_mb


# ---- phases (each in a fresh process) ------------------------------------------------------


def phase_extract_local(n_rows, partition, folder):
    import torch

    from skmm.store import FeatureStore

    torch.set_num_threads(1)
    union = fitted_union(partition)
    names = list(union.get_feature_names_out())
    labels = []

    def chunks():
        for index in range(n_rows // partition):
            cells = make_partition(index, partition)
            labels.append(cells["label"].to_numpy())
            yield union.transform(cells.drop(columns="label"))

    start_mb = reset_peak()
    t0 = time.perf_counter()
    store = FeatureStore.write(os.path.join(folder, "local"), chunks(), columns=names)
    seconds = time.perf_counter() - t0
    np.save(os.path.join(folder, "labels.npy"), np.concatenate(labels))
    return {"seconds": seconds, "peak_mb": peak_since(start_mb), "crc": store.crc32,
            "bytes": store.nbytes}


def _worker_setup():
    import torch

    torch.set_num_threads(1)
    return reset_peak()


def _worker_peak():
    return _status_mb("VmHWM")


def phase_extract_dask(n_rows, partition, folder):
    import dask
    import dask.dataframe as dd
    import distributed

    from skmm.distributed import extract_to_parquet
    from skmm.store import FeatureStore

    union = fitted_union(partition)
    meta = make_partition(0, 1).drop(columns="label").iloc[:0]
    with dask.config.set(CLUSTER_CONFIG), distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        client.run(_worker_setup)
        client.run(_warm_up, union)  # each worker's imports and first calls, untimed
        starts = client.run(reset_peak)
        cells = dd.from_map(_cells_without_label, range(n_rows // partition), rows=partition,
                            meta=meta)
        t0 = time.perf_counter()
        extract_to_parquet(union, cells, os.path.join(folder, "parquet"))
        extract_s = time.perf_counter() - t0
        peaks = client.run(_worker_peak)
    t1 = time.perf_counter()
    store = FeatureStore.from_parquet(os.path.join(folder, "parquet"), os.path.join(folder, "dask"))
    to_store_s = time.perf_counter() - t1
    peak = max(peaks[w] - starts[w] for w in peaks)
    return {"seconds": extract_s, "to_store_s": to_store_s, "peak_mb": peak, "crc": store.crc32}


def _warm_up(union):
    union.transform(_cells_without_label(0, 16))


def _cells_without_label(index, rows):
    return make_partition(index, rows).drop(columns="label")


def _net():
    from skmm.nets import FusionNetClassifier

    return FusionNetClassifier(max_epochs=1, batch_size=512, early_stopping=None,
                               random_state=0, device="cpu")


def phase_train(folder, streamed):
    import pandas as pd
    import torch

    from skmm.store import FeatureStore

    torch.set_num_threads(1)
    store = FeatureStore(os.path.join(folder, "local"))
    y = np.load(os.path.join(folder, "labels.npy"))
    head = pd.DataFrame(store.rows(np.arange(min(1024, len(store)))), columns=store.columns)
    _net().fit(head, y[:len(head)])  # torch's one-time costs, before the measure
    del head
    start_mb = reset_peak()
    t0 = time.perf_counter()  # the rows in memory: reading them counts
    X = store if streamed else pd.DataFrame(store.to_numpy(), columns=store.columns)
    net = _net().fit(X, y)
    seconds = time.perf_counter() - t0
    model_mb = sum(p.numel() * 4 for p in net.module_.parameters()) / 2**20
    return {"seconds": seconds, "peak_mb": peak_since(start_mb), "model_mb": model_mb,
            "data_mb": store.nbytes / 2**20}


def _in_fresh_process(function, *args):
    """``function(*args)`` in a new process (not a pool's daemon: the Dask phase starts
    worker processes of its own); re-raises what it raised."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, function, args))
    process.start()
    send.close()
    try:
        ok, value = receive.recv()
    except EOFError:
        ok, value = False, f"the process died (exit code {process.join() or process.exitcode})"
    process.join()
    if not ok:
        raise RuntimeError(f"{function.__name__}{args}: {value}")
    return value


def _child(send, function, args):
    import traceback

    try:
        send.send((True, function(*args)))
    except BaseException:
        send.send((False, traceback.format_exc()))


# ---- the run ------------------------------------------------------------------------------


def run(session):
    """Run the scale benchmark; return (title, Markdown body lines)."""
    import importlib.util

    if not os.path.exists("/proc/self/clear_refs"):
        raise Skip("needs Linux's /proc/self/clear_refs to measure peak memory per phase")
    for module in ("distributed", "pyarrow"):
        if importlib.util.find_spec(module) is None:
            raise Skip(f"{module} is not installed (pip install 'skmm[distributed]')")
    c = session.pick(SIZES)
    results = {}
    for n_rows in c["rows"]:
        with tempfile.TemporaryDirectory(prefix="skmm-scale-") as folder:
            local = _in_fresh_process(phase_extract_local, n_rows, c["partition"], folder)
            session.sample_load()
            dask_ = _in_fresh_process(phase_extract_dask, n_rows, c["partition"], folder)
            session.sample_load()
            if dask_["crc"] != local["crc"]:
                raise RuntimeError(f"{n_rows} rows: the Dask features differ from the local ones")
            memory = _in_fresh_process(phase_train, folder, False)
            session.sample_load()
            streamed = _in_fresh_process(phase_train, folder, True)
            session.sample_load()
        results[n_rows] = {EXTRACT_LOCAL: local, EXTRACT_DASK: dask_, TRAIN_MEMORY: memory,
                           TRAIN_STORE: streamed}
        session.echo(f"{n_rows} rows: " + ", ".join(
            f"{phase} {r['seconds']:.1f} s / {r['peak_mb']:.0f} MB"
            for phase, r in results[n_rows].items()))
    return _report(session, c, results)


def _report(session, c, results):
    sizes = list(results)
    big, before = sizes[-1], sizes[-2]
    lines = [
        f"Rows: {', '.join(f'{n:,}' for n in sizes)}, in partitions of {c['partition']:,}; "
        f"features: {results[big][EXTRACT_LOCAL]['bytes'] // big} bytes a row. One run per "
        "phase and size, each phase in a fresh process.", "",
        "| phase | rows | seconds | rows/s | peak memory added (MB) |", "|---|---|---|---|---|",
    ]
    for phase in PHASES:
        for n in sizes:
            r = results[n][phase]
            lines.append(f"| {phase} | {n:,} | {r['seconds']:.1f} | {n / r['seconds']:,.0f} | "
                         f"{r['peak_mb']:.0f} |")
    lines += ["", f"### Growth from {before:,} to {big:,} rows ({big // before}x the rows)", "",
              "| phase | time ratio | bound |", "|---|---|---|"]
    for phase in PHASES:
        ratio = results[big][phase]["seconds"] / results[before][phase]["seconds"]
        lines.append(f"| {phase} | {ratio:.2f}x | at most {1.3 * big / before:.0f}x |")
        session.add_row(f"{phase}: {big:,} rows against {before:,}", "time at the smaller size",
                        results[before][phase]["seconds"], results[big][phase]["seconds"])
    lines += ["", "### Dask against one process, and the store against memory", "",
              "| rows | 2 Dask workers: speed-up | Parquet -> store (s) | training from the "
              "store: time ratio | its peak memory added (MB) | rows in memory: peak added "
              "(MB) | model (MB) |", "|---|---|---|---|---|---|---|"]
    for n in sizes:
        r = results[n]
        speedup = r[EXTRACT_LOCAL]["seconds"] / r[EXTRACT_DASK]["seconds"]
        lines.append(
            f"| {n:,} | {speedup:.2f}x | {r[EXTRACT_DASK]['to_store_s']:.1f} | "
            f"{r[TRAIN_STORE]['seconds'] / r[TRAIN_MEMORY]['seconds']:.2f}x | "
            f"{r[TRAIN_STORE]['peak_mb']:.0f} | {r[TRAIN_MEMORY]['peak_mb']:.0f} | "
            f"{r[TRAIN_STORE]['model_mb']:.1f} |")
    session.add_row(f"extraction, {big:,} rows", "one process",
                    results[big][EXTRACT_LOCAL]["seconds"], results[big][EXTRACT_DASK]["seconds"])
    session.add_row(f"training 1 epoch, {big:,} rows", "rows in memory",
                    results[big][TRAIN_MEMORY]["seconds"], results[big][TRAIN_STORE]["seconds"])
    lines += ["", "The Dask run's features equal the local run's bit for bit at every size "
              "(the stores' CRC-32 are compared; the run stops otherwise)."]
    return "Scale: extraction and training as the rows grow", lines
