"""The measurement discipline every benchmark shares.

One :class:`Session` per benchmark run:

* records the environment (:func:`environment`: platform, CPU count, torch threads, device,
  library versions) and samples the 1-minute load average before, during and after;
* times the sides of a comparison in alternation (A, B, A, B, ...) and keeps every call's
  wall and CPU time, so that a figure is the best of N whole calls (:meth:`Session.interleave`);
* writes the results file with the environment at its top (skmm's version and where it was
  imported from, relative to its checkout: never this machine's absolute paths), and marks
  it **NOISY** (or, with ``on_noise="refuse"``, does not write it) when the load average went
  above the number of usable cores during the run: other work competed for the CPU, so the
  figures are not a result.

Accuracy benchmarks use a session with ``gated=False``: the load changes their times, not
their accuracies, so they are always written, but marked NOISY all the same when the load
went above the cores (their fit times are then not a result).
"""

import contextlib
import importlib.metadata
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Distributions whose versions go into every results file.
LIBRARIES = ("torch", "numpy", "scipy", "scikit-learn", "pandas", "skorch", "librosa",
             "soundfile", "torchvision", "gensim", "sentence-transformers")
SIZES = ("full", "quick", "tiny")
ON_NOISE = ("mark", "refuse")


class Skip(Exception):
    """A benchmark (or one of its cases) cannot run here; the message says why and how to fix it."""


def load_real_data(loader, **kwargs):
    """Call a ``skmm.datasets.load_*`` loader without downloading; Skip saying how to get the data.

    Parameters
    ----------
    loader : callable
        ``load_av_digits`` or ``load_ag_news`` (anything taking ``download_if_missing``).
    **kwargs
        Passed to the loader.
    """
    try:
        return loader(download_if_missing=False, **kwargs)
    except OSError as exc:
        raise Skip(
            f"its data is not in the data home ({exc}). Set SKMM_DATA to a folder holding it, "
            f"or download it once with: python -c \"import skmm.datasets as d; "
            f"d.{loader.__name__}()\"") from exc


def load_average():
    """The 1-minute load average, or None where the system has none (Windows)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def usable_cores():
    """Cores this process may run on (its CPU affinity; ``os.cpu_count()`` where unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def library_versions(names=LIBRARIES):
    """``{distribution: version or None}`` read from the installed metadata (nothing imported).

    Examples
    --------
    >>> library_versions(["numpy", "no-such-distribution"])["no-such-distribution"] is None
    True
    """
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def skmm_location():
    """Where skmm is imported from, without this machine's paths.

    ``"skmm/ of a source checkout at commit 1a2b3c4"`` (the commit when git can tell it) for
    a checkout (editable or on ``PYTHONPATH``), ``"site-packages/skmm"`` (the folder's
    name) for an installed copy.
    """
    import skmm

    package = Path(skmm.__file__).resolve().parent
    root = package.parent
    if not (root / "pyproject.toml").is_file():
        return f"{root.name}/{package.name}"
    where = f"{package.name}/ of a source checkout"
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return where
    commit = done.stdout.strip()
    return f"{where} at commit {commit}" if done.returncode == 0 and commit else where


def environment(device="cpu"):
    """What a benchmark ran on: machine, cores, torch threads, device and library versions.

    Parameters
    ----------
    device : str, default="cpu"
        The torch device the benchmark runs on ("cpu", "cuda", "cuda:1").

    Returns
    -------
    dict
        ``platform``, ``machine``, ``processor``, ``python``, ``cpu_count``,
        ``usable_cores``, ``torch_threads``, ``device``, ``device_name``, ``cuda``
        (torch's CUDA version or None), ``skmm`` (version), ``skmm_location`` (see
        :func:`skmm_location`) and ``versions`` (see :func:`library_versions`).
    """
    import torch

    import skmm

    device = str(device)
    is_cuda = device.startswith("cuda") and torch.cuda.is_available()
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "usable_cores": usable_cores(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "device_name": torch.cuda.get_device_name(device) if is_cuda else "CPU",
        "cuda": torch.version.cuda,
        "skmm": skmm.__version__,
        "skmm_location": skmm_location(),
        "versions": library_versions(),
    }


@contextlib.contextmanager
def torch_threads(n):
    """Run the block with ``torch.set_num_threads(n)``, restoring the previous count after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def synchronize(device):
    """Wait for the device's queued work (a no-op on the CPU), so that a timing includes it."""
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


@dataclass
class Timing:
    """Every timed call of one side: wall and CPU seconds, and what each call returned.

    Examples
    --------
    >>> t = Timing("loop", wall=[2.0, 1.5, 1.7], cpu=[1.9, 1.4, 1.6], results=[1, 2, 3])
    >>> t.best, t.best_cpu, t.result
    (1.5, 1.4, 3)
    """

    name: str
    wall: list = field(default_factory=list)
    cpu: list = field(default_factory=list)
    results: list = field(default_factory=list)

    @property
    def best(self):
        """The fastest call's wall time (noise from other work only ever adds time)."""
        return min(self.wall)

    @property
    def best_cpu(self):
        """The smallest process CPU time of a call (all threads)."""
        return min(self.cpu)

    @property
    def result(self):
        """What the last call returned."""
        return self.results[-1]

    def paired_ratios(self, baseline):
        """``self.wall[i] / baseline.wall[i]``: one ratio per round of :meth:`Session.interleave`
        (the two calls of a round ran back to back, so they saw the same load).

        >>> Timing("a", wall=[2.0, 3.0]).paired_ratios(Timing("b", wall=[1.0, 2.0]))
        [2.0, 1.5]
        """
        return [mine / theirs for mine, theirs in zip(self.wall, baseline.wall)]


@dataclass
class Row:
    """One line of the summary: a case, its named baseline, both figures and their ratio."""

    benchmark: str
    case: str
    measure: str  # "time (s)" or "accuracy"
    baseline: str
    baseline_value: float
    skmm_value: float
    note: str = ""

    @property
    def ratio(self):
        """skmm's figure over the baseline's (time: below 1 is faster; accuracy: above 1 is
        more accurate)."""
        return self.skmm_value / self.baseline_value if self.baseline_value else float("nan")


class Session:
    """One benchmark run: environment record, load sampling, interleaved timing, results file.

    Parameters
    ----------
    name : str
        The benchmark's name ("audio", "head", ...): the results file is ``<stem>.md``.
    device : str, default="cpu"
    size : {"full", "quick", "tiny"}, default="full"
        The problem sizes; "tiny" is for tests (seconds; the figures mean nothing).
    protocol : {"cpu", "gpu"}, default="cpu"
        Which set of cases the benchmark runs (see ``python -m skmm bench --help``).
    repeats : int or None, default=None
        Best of how many calls per side; None: each benchmark's default for its size.
    results_dir : str or path, default="."
    command : str, default=""
        The command line that reproduces this run, written into the results file.
    gated : bool, default=True
        Whether the figures are times (True) or accuracies (False). Both are marked NOISY
        when the load went above the cores; only times are refused for it.
    on_noise : {"mark", "refuse"}, default="mark"
        When the load average exceeded the usable cores during the run: write the results
        with a NOISY banner at the top, or (timed benchmarks only) write nothing.
    load : callable, default=load_average
        Returns the current 1-minute load average (or None); tests pass a fake one.
    cores : int or None, default=None
        The gate's threshold; None: :func:`usable_cores`.
    clock, cpu_clock : callable
        Wall and CPU clocks (``time.perf_counter``, ``time.process_time``).
    echo : callable, default=print
        Where progress lines go.
    """

    def __init__(self, name, *, device="cpu", size="full", protocol="cpu", repeats=None,
                 results_dir=".", command="", gated=True, on_noise="mark", load=load_average,
                 cores=None, clock=time.perf_counter, cpu_clock=time.process_time, echo=print):
        if size not in SIZES:
            raise ValueError(f"size must be one of {SIZES}, got {size!r}.")
        if on_noise not in ON_NOISE:
            raise ValueError(f"on_noise must be one of {ON_NOISE}, got {on_noise!r}.")
        if repeats is not None and (not isinstance(repeats, int) or repeats < 1):
            raise ValueError(f"repeats must be a positive integer or None, got {repeats!r}.")
        self.name, self.device, self.size, self.protocol = name, str(device), size, protocol
        self.repeats, self.results_dir, self.command = repeats, Path(results_dir), command
        self.gated, self.on_noise = gated, on_noise
        self.cores = int(cores) if cores is not None else usable_cores()
        self._load, self._clock, self._cpu_clock, self.echo = load, clock, cpu_clock, echo
        self.env = environment(self.device)
        self.loads = []
        self.rows = []
        self.refused = False
        self.sample_load("before")

    # ---- sizes and repeats ---------------------------------------------------------------
    def pick(self, sizes):
        """The entry of ``sizes`` (a dict keyed by "full", "quick", "tiny") for this run."""
        return sizes[self.size]

    def repeats_or(self, default):
        """``--repeats`` when given, else the benchmark's ``default`` for this size."""
        return self.repeats if self.repeats is not None else default

    # ---- load ----------------------------------------------------------------------------
    def sample_load(self, when="during"):
        """Record the load average now (``when``: "before", "during" or "after")."""
        value = self._load()
        if value is not None:
            self.loads.append((when, float(value)))
        return value

    @property
    def peak_load(self):
        """The highest load average sampled so far (None where the system reports none)."""
        return max((v for _, v in self.loads), default=None)

    @property
    def noisy(self):
        """True when the load went above the usable cores (timed and accuracy benchmarks)."""
        return self.peak_load is not None and self.peak_load > self.cores

    def load_summary(self):
        """One line: the load before, the peak during and after, against the cores."""
        if not self.loads:
            return "not available on this system"
        first, last = self.loads[0][1], self.loads[-1][1]
        return (f"{first:.2f} before, peak {self.peak_load:.2f}, {last:.2f} at the end "
                f"({len(self.loads)} samples; {self.cores} usable cores)")

    # ---- timing --------------------------------------------------------------------------
    def interleave(self, sides, repeats, before=None, warmup=False):
        """Call each side ``repeats`` times in alternation (A, B, A, B, ...) and time each call.

        Parameters
        ----------
        sides : dict of name -> callable
            Each callable does one whole call as a user makes it (a ``fit``, a ``transform``)
            and returns what the benchmark checks (outputs, per-epoch times...).
        repeats : int
            Rounds; in each round every side is called once, in the order of ``sides``.
        before : dict of name -> callable, optional
            Untimed preparation run before each call of that side (e.g. emptying a cache).
        warmup : bool, default=False
            Call every side once, untimed, before the first round (imports, first-call costs).

        Returns
        -------
        dict of name -> Timing
            The load average is sampled after every round.
        """
        before = before or {}
        if warmup:
            for name, fn in sides.items():
                before.get(name, _nothing)()
                fn()
        timings = {name: Timing(name) for name in sides}
        for _ in range(repeats):
            for name, fn in sides.items():
                before.get(name, _nothing)()
                cpu, start = self._cpu_clock(), self._clock()
                out = fn()
                timing = timings[name]
                timing.wall.append(self._clock() - start)
                timing.cpu.append(self._cpu_clock() - cpu)
                timing.results.append(out)
            self.sample_load()
        return timings

    def method(self, repeats, what="call"):
        """The sentence describing how the figures were taken, for the results file."""
        return (f"Each time is the best of {repeats} whole {what}(s) per side, the sides run in "
                "alternation (A, B, A, B, ...) so that load from other work falls on all of them "
                "alike; ratio = skmm / baseline, both measured in this run.")

    # ---- results -------------------------------------------------------------------------
    def add_row(self, case, baseline, baseline_value, skmm_value, measure="time (s)"):
        """Add a line to the summary (ratio = skmm / baseline) and return it."""
        note = "tiny" if self.size == "tiny" else ("noisy" if self.noisy else "")
        row = Row(self.name, case, measure, baseline, float(baseline_value), float(skmm_value),
                  note)
        self.rows.append(row)
        return row

    @property
    def stem(self):
        """The results file's name without ``.md``: the benchmark, then gpu/quick/tiny."""
        parts = [self.name]
        if self.protocol == "gpu":
            parts.append("gpu")
        if self.size != "full":
            parts.append(self.size)
        return "_".join(parts)

    def environment_lines(self):
        """The environment as a Markdown table."""
        env = self.env
        versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v is not None)
        absent = [k for k, v in env["versions"].items() if v is None]
        rows = [
            ("machine", f"{env['platform']} ({env['processor']}), {env['cpu_count']} CPUs, "
                        f"{env['usable_cores']} usable"),
            ("python", env["python"]),
            ("device", f"{env['device']} ({env['device_name']}; torch CUDA {env['cuda']})"),
            ("torch threads", f"{env['torch_threads']} at the start (cases that set their own "
                              "say so)"),
            ("skmm", f"{env['skmm']} ({env['skmm_location']})"),
            ("libraries", versions + (f"; not installed: {', '.join(absent)}" if absent else "")),
            ("load average (1 min)", self.load_summary()),
            ("load gate", ("above the usable cores = noisy" if self.gated else
                           "above the usable cores = noisy (accuracy benchmark: the "
                           "accuracies do not depend on the load, its times do)")),
        ]
        return ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]

    def banners(self):
        """The warnings that must head the results file (tiny sizes, noisy run)."""
        lines = []
        if self.size == "tiny":
            lines.append("> **TINY TEST RUN**: sizes made for the test suite; these figures mean "
                         "nothing.")
        if self.noisy and self.gated:
            lines.append(
                f"> **NOISY**: the 1-minute load average reached {self.peak_load:.2f} during this "
                f"run, above this machine's {self.cores} usable cores: other work competed for "
                "the CPU, so these figures are not a result. Rerun on a quiet machine (load "
                "below the core count before and after).")
        elif self.noisy:
            lines.append(
                f"> **NOISY**: the 1-minute load average reached {self.peak_load:.2f} during this "
                f"run, above this machine's {self.cores} usable cores: other work competed for "
                "the CPU. The accuracies do not depend on it; the times in this file are not a "
                "result. Rerun on a quiet machine (load below the core count before and after).")
        return lines

    def write(self, title, body):
        """Write ``<results_dir>/<stem>.md`` (title, banners, command, environment, body).

        Returns the path, or None when the run was noisy and ``on_noise="refuse"``.
        """
        if self.noisy and self.gated and self.on_noise == "refuse":
            self.refused = True
            self.echo(f"{self.name}: results NOT written: the load average reached "
                      f"{self.peak_load:.2f}, above the {self.cores} usable cores "
                      "(--on-noise refuse). Rerun on a quiet machine.")
            return None
        lines = [f"# {title}", ""]
        banners = self.banners()
        if banners:
            lines += [*banners, ""]
        lines += [f"Command: `{self.command}`", "", "## Environment", "",
                  *self.environment_lines(), "", "## Results", "", *body]
        self.results_dir.mkdir(parents=True, exist_ok=True)
        path = self.results_dir / f"{self.stem}.md"
        path.write_text("\n".join(lines).rstrip() + "\n")
        return path


def _nothing():
    return None


def max_relative_difference(ours, reference):
    """``max |ours - reference| / max(|reference|, 1)`` over all entries (a relative error with
    an absolute floor of 1, for features of any scale).

    Examples
    --------
    >>> import numpy as np
    >>> max_relative_difference(np.array([1.0, 10.5]), np.array([1.0, 10.0]))
    0.05
    """
    import numpy as np

    ours, reference = np.asarray(ours, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    return float(np.max(np.abs(ours - reference) / np.maximum(np.abs(reference), 1.0)))
