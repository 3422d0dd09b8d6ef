"""The benchmark harness and ``python -m skmm bench``, at tiny sizes (figures are not checked).

The harness is tested with fake load averages and a fake clock; the command line end to end
on the smallest sizes (``--tiny`` / ``SKMM_BENCH_TINY=1``), including the GPU protocol run on
the CPU, and from a folder outside the repository.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import skmm
from skmm import _bench
from skmm._bench import _harness, head
from skmm._bench._harness import Session, Skip
from skmm.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    """A clock that moves only when a side says how long it took."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def session(tmp_path, loads=(0.5,), cores=2, **kwargs):
    """A Session whose load average reads ``loads`` in turn (the last one repeats)."""
    values = list(loads)
    clock = FakeClock()
    s = Session("demo", results_dir=tmp_path, command="python -m skmm bench --only demo",
                load=lambda: values.pop(0) if len(values) > 1 else values[0], cores=cores,
                clock=clock, cpu_clock=clock, echo=lambda message: None, **kwargs)
    return s, clock


def test_interleave_alternates_the_sides_and_keeps_the_best_of_n(tmp_path):
    s, clock = session(tmp_path)
    calls = []
    durations = {"A": [3.0, 1.0, 2.0], "B": [5.0, 6.0, 4.0]}

    def side(name):
        def call():
            calls.append(name)
            clock.now += durations[name].pop(0)
            return len(calls)
        return call

    timed = s.interleave({"A": side("A"), "B": side("B")}, 3,
                         before={"B": lambda: calls.append("prepare B")})
    assert calls == ["A", "prepare B", "B", "A", "prepare B", "B", "A", "prepare B", "B"]
    assert timed["A"].wall == [3.0, 1.0, 2.0] and timed["A"].best == 1.0
    assert timed["B"].best == 4.0 and timed["B"].best_cpu == 4.0
    assert timed["A"].results == [1, 4, 7] and timed["B"].result == 9
    assert [when for when, _ in s.loads] == ["before", "during", "during", "during"]


def test_interleave_warms_every_side_up_untimed(tmp_path):
    s, clock = session(tmp_path)
    calls = []
    timed = s.interleave({"A": lambda: calls.append("A"), "B": lambda: calls.append("B")}, 2,
                         warmup=True)
    assert calls == ["A", "B", "A", "B", "A", "B"]
    assert len(timed["A"].wall) == len(timed["B"].wall) == 2


def test_results_of_a_quiet_run_have_the_environment_and_no_banner(tmp_path):
    s, _ = session(tmp_path, loads=(0.5, 1.2, 0.8))
    s.sample_load()
    s.sample_load("after")
    assert not s.noisy and s.peak_load == 1.2
    path = s.write("Demo", ["body line"])
    assert path == tmp_path / "demo.md"
    text = path.read_text()
    assert text.startswith("# Demo\n\nCommand: `python -m skmm bench --only demo`")
    assert "NOISY" not in text and "TINY" not in text
    assert str(Path(skmm.__file__).resolve().parent) not in text  # no machine path
    assert f"| skmm | {skmm.__version__} (" in text
    for field in ("| machine |", f"{os.cpu_count()} CPUs", "| python |",
                  "| device | cpu", "| torch threads |", "| libraries | torch ",
                  "0.50 before, peak 1.20, 0.80 at the end", "above the usable cores = noisy"):
        assert field in text
    assert text.rstrip().endswith("body line")


def test_the_load_gate_marks_a_noisy_run_at_the_top(tmp_path):
    s, _ = session(tmp_path, loads=(0.5, 3.5, 1.0))
    s.interleave({"A": lambda: None}, 1)
    s.sample_load("after")
    assert s.noisy
    lines = s.write("Demo", ["body"]).read_text().splitlines()
    assert lines[0] == "# Demo"
    assert lines[2].startswith("> **NOISY**: the 1-minute load average reached 3.50")
    assert "above this machine's 2 usable cores" in lines[2]
    assert s.add_row("case", "loop", 2.0, 1.0).note == "noisy"


def test_the_load_gate_can_refuse_to_write(tmp_path):
    messages = []
    s, _ = session(tmp_path, loads=(2.5,), on_noise="refuse")
    s.echo = messages.append
    assert s.write("Demo", ["body"]) is None
    assert s.refused and not list(tmp_path.iterdir())
    assert "NOT written" in messages[0] and "2.50" in messages[0]


def test_accuracy_benchmarks_under_load_are_written_and_marked_noisy(tmp_path):
    s, _ = session(tmp_path, loads=(9.0,), gated=False, on_noise="refuse")
    assert s.noisy
    lines = s.write("Accuracy", ["body"]).read_text().splitlines()
    assert not s.refused
    assert lines[2].startswith("> **NOISY**: the 1-minute load average reached 9.00")
    assert "accuracies do not depend on it" in lines[2]
    assert "9.00 before" in "\n".join(lines)
    assert s.add_row("case", "LR", 0.5, 0.6, measure="accuracy").note == "noisy"
    quiet, _ = session(tmp_path, loads=(1.5,), gated=False)
    assert not quiet.noisy and "NOISY" not in quiet.write("Accuracy", ["body"]).read_text()


def test_no_load_average_is_not_noisy(tmp_path):
    s, _ = session(tmp_path, loads=(None,))
    assert s.peak_load is None and not s.noisy
    assert "not available" in s.write("Demo", []).read_text()


def test_environment_record_fields():
    env = _harness.environment("cpu")
    assert env["cpu_count"] == os.cpu_count() and 1 <= env["usable_cores"] <= os.cpu_count()
    assert env["device"] == "cpu" and env["device_name"] == "CPU"
    assert isinstance(env["torch_threads"], int) and env["python"].count(".") == 2
    assert env["skmm"] == skmm.__version__
    location = env["skmm_location"]
    assert location.startswith("skmm/ of a source checkout") or location.endswith("/skmm")
    assert not Path(location).is_absolute() and str(Path.home()) not in location
    assert env["versions"]["torch"] and env["versions"]["numpy"]
    assert set(env) >= {"platform", "machine", "processor", "cuda", "versions"}


def test_sizes_and_protocols_name_the_results_file(tmp_path):
    assert session(tmp_path)[0].stem == "demo"
    assert session(tmp_path, size="quick", protocol="gpu")[0].stem == "demo_gpu_quick"
    tiny, _ = session(tmp_path, size="tiny")
    assert tiny.stem == "demo_tiny" and tiny.add_row("c", "b", 1.0, 2.0).note == "tiny"
    assert tiny.write("Demo", []).read_text().splitlines()[2].startswith("> **TINY TEST RUN**")
    with pytest.raises(ValueError, match="on_noise"):
        session(tmp_path, on_noise="ignore")


def test_default_results_dir_inside_and_outside_a_checkout(tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "benchmarks").mkdir(parents=True)
    (checkout / "docs").mkdir()
    (checkout / "pyproject.toml").write_text('[project]\nname = "skmm"\n')
    assert _bench.default_results_dir(checkout / "docs") == checkout / "benchmarks" / "results"
    other = tmp_path / "other"
    (other / "benchmarks").mkdir(parents=True)
    (other / "pyproject.toml").write_text('[project]\nname = "skmm-extras"\n')
    assert _bench.default_results_dir(other) == other / "skmm_bench_results"
    assert _bench.default_results_dir(ROOT / "tests") == ROOT / "benchmarks" / "results"


def fake_run(session):
    """A benchmark that runs in no time: two trivial sides and one summary row."""
    timed = session.interleave({"loop": lambda: 1, "skmm": lambda: 2}, session.repeats_or(1))
    session.add_row("fake case", "loop", 2.0, 1.0)
    return "Fake", [f"best of {len(timed['loop'].wall)}"]


def test_cli_statuses_failure_skip_and_refusal(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(head, "run", fake_run)
    args = ["bench", "--only", "head", "--tiny", "--results", str(tmp_path), "--repeats", "3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert re.search(r"head +\| fake case +\| time \(s\) \| loop +\| 2 +\| 1 +\| 0\.50x \| tiny",
                     out)
    assert "best of 3" in (tmp_path / "head_tiny.md").read_text()

    parser_args = _bench_args(args + ["--on-noise", "refuse"])
    (tmp_path / "head_tiny.md").unlink()
    assert _bench.run(parser_args, load=lambda: 99.0) == 3
    assert not (tmp_path / "head_tiny.md").exists()
    assert "NOT WRITTEN (load above the cores): head" in capsys.readouterr().out

    def skipping(session):
        raise Skip("its data is not in the data home")

    monkeypatch.setattr(head, "run", skipping)
    assert main(args) == 0
    assert "skipped: head: its data is not in the data home" in capsys.readouterr().out

    def failing(session):
        raise RuntimeError("broken benchmark")

    monkeypatch.setattr(head, "run", failing)
    assert main(args[:2] + ["head,search"] + args[3:] + ["--protocol", "gpu"]) == 1
    captured = capsys.readouterr()
    assert "RuntimeError: broken benchmark" in captured.err
    assert "search: no case in the gpu protocol" in captured.out


def test_cpu_only_benchmarks_are_skipped_on_another_device(tmp_path, monkeypatch, capsys):
    from skmm._bench import _cli

    monkeypatch.setattr(_cli, "_check_device", lambda device: None)  # pretend CUDA is here
    assert main(["bench", "--device", "cuda", "--protocol", "cpu", "--only", "search,text",
                 "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("runs on the CPU only") == 4 and "use --device cpu" in out  # lines+summary
    assert not any(tmp_path.iterdir())


def _bench_args(argv):
    import argparse

    return _bench.add_arguments(argparse.ArgumentParser()).parse_args(argv[1:])


def test_cuda_without_cuda_exits_with_a_clear_message(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["bench", "--device", "cuda", "--quick", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--device cuda was asked for" in err and "--device cpu" in err
    assert "benchmarks/GPU.md" in err and not any(tmp_path.iterdir())
    assert main(["bench", "--device", "gpu", "--results", str(tmp_path)]) == 2
    assert "'cpu', 'cuda' or 'cuda:N'" in capsys.readouterr().err


def test_head_end_to_end_at_tiny_sizes(tmp_path, capsys):
    code = main(["bench", "--quick", "--only", "head", "--device", "cpu", "--tiny",
                 "--repeats", "2", "--results", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    text = (tmp_path / "head_tiny.md").read_text()
    assert "median of 2 paired ratios" in text  # one ratio per round of loop, net
    assert "| hand-written PyTorch loop |" in text and "| FusionNetClassifier.fit |" in text
    assert "| plain skorch NeuralNetClassifier |" in text  # the fastest-epoch case
    row = re.search(r"^head +\| whole fit, .*Adam, 2 threads \| time \(s\) \| hand-written "
                    r"PyTorch loop \| ([\d.e-]+) +\| ([\d.e-]+) +\| ([\d.]+)x", out, flags=re.M)
    assert row, out
    loop, net, ratio = map(float, row.groups())
    assert ratio == pytest.approx(net / loop, rel=0.02, abs=0.006)


def test_gpu_protocol_end_to_end_on_the_cpu(tmp_path, capsys):
    code = main(["bench", "--protocol", "gpu", "--device", "cpu", "--tiny",
                 "--results", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "audio_gpu_tiny.md", "head_gpu_tiny.md", "image_gpu_tiny.md"]
    assert "### Fastest epoch" not in (tmp_path / "head_gpu_tiny.md").read_text()
    assert "precision='bfloat16'" in (tmp_path / "image_gpu_tiny.md").read_text()
    assert "synthetic clips in memory" in (tmp_path / "audio_gpu_tiny.md").read_text()
    for pattern in (r"^head +\| whole fit", r"^image +\| ImageEmbedder\.transform \(.*bfloat16",
                    r"^audio +\| log-mel 64 bands"):
        assert re.search(pattern, out, flags=re.M), pattern


def test_audio_without_data_is_skipped_with_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SKMM_DATA", str(tmp_path / "empty"))
    assert main(["bench", "--only", "audio", "--tiny", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "skipped: audio: its data is not in the data home" in out and "SKMM_DATA" in out
    assert not (tmp_path / "audio_tiny.md").exists()


def _subprocess_env(**extra):
    env = dict(os.environ, **extra)
    here = str(Path(skmm.__file__).resolve().parents[1])  # this skmm, wherever cwd is
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def test_bench_runs_outside_the_repository_and_writes_there(tmp_path, fsdd_home):
    env = _subprocess_env(SKMM_BENCH_TINY="1", SKMM_DATA=str(fsdd_home))
    done = subprocess.run([sys.executable, "-m", "skmm", "bench", "--only", "audio", "--quick"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    result = tmp_path / "skmm_bench_results" / "audio_tiny.md"
    assert result.exists(), done.stdout
    assert "| MFCC 20, mean+std |" in result.read_text()
    assert re.search(r"^audio +\| log-mel 64 bands", done.stdout, flags=re.M)


def test_benchmark_scripts_are_thin_wrappers(tmp_path):
    scripts = sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py"))
    assert scripts == [f"bench_{name}" for name in sorted(_bench.BENCHMARKS)]
    # from elsewhere, without data: reaches the audio benchmark, which skips before writing
    env = _subprocess_env(SKMM_DATA=str(tmp_path / "empty"))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_audio.py"), "--tiny"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"results in {ROOT / 'benchmarks' / 'results'}" in done.stdout
    assert "skipped: audio: its data is not in the data home" in done.stdout
    assert not any(tmp_path.iterdir())


@pytest.mark.realdata
def test_audio_embedder_with_a_local_model_folder_writes_its_table(
        tmp_path, fsdd_home, monkeypatch, capsys):
    pytest.importorskip("transformers", reason="AudioEmbedder's models need transformers")
    from _media import tiny_wav2vec2_folder

    monkeypatch.setenv("SKMM_DATA", str(fsdd_home))
    monkeypatch.setenv("SKMM_BENCH_AUDIO_MODEL", tiny_wav2vec2_folder())
    monkeypatch.setenv("SKMM_BENCH_AUDIO_STATS", "mean")
    assert main(["bench", "--only", "audio_embedder", "--tiny", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    text = (tmp_path / "audio_embedder_tiny.md").read_text()
    assert "| held-out speaker | AudioMFCC(20, deltas=1), mean+std |" in text
    assert "| **mean** |" in text and "RANDOM" not in text
    assert re.search(r"^audio_embedder +\| speaker-held-out accuracy +\| accuracy ", out,
                     flags=re.M), out


@pytest.mark.realdata
def test_audio_embedder_script_with_random_weights_prints_and_writes_nothing(
        tmp_path, fsdd_home):
    pytest.importorskip("transformers", reason="AudioEmbedder's models need transformers")
    results = ROOT / "benchmarks" / "results"
    before = sorted(results.iterdir())
    env = _subprocess_env(SKMM_DATA=str(fsdd_home))
    env.pop("SKMM_BENCH_AUDIO_MODEL", None)
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_audio_embedder.py"),
                           "--random-init", "tiny", "--tiny", "--stats", "mean"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RANDOM WEIGHTS" in done.stdout and "| **mean** |" in done.stdout
    assert "skipped: audio_embedder: results not written" in done.stdout
    assert sorted(results.iterdir()) == before and not any(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.realdata
def test_balance_end_to_end_at_tiny_sizes(tmp_path, fsdd_home, capsys):
    from skmm._bench import balance

    code = main(["bench", "--only", "balance", "--tiny", "--results", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    text = (tmp_path / "balance_tiny.md").read_text()
    assert "above the usable cores = noisy (accuracy benchmark" in text and "1 seed(s) (0)" in text
    for variant in balance.VARIANTS:
        for kind in balance.FOLD_KINDS:
            assert f"### {variant}, {kind} folds" in text
    for method in balance.METHODS:  # one row per method in each of the 4 tables
        assert text.count(f"| {method} | ") == 4, method
    for b in balance.BALANCES:
        assert f"fit time of layer-level net, balance={b!r} / default net" in text
    assert re.search(r"\*\*(PASS|FAIL)\*\* clean, group folds: default net", text)
    assert "- hard, shuffled folds: best layer-level net" in text
    for case in ("default net, clean, group folds", "default net, hard, group folds",
                 "best layer-level net, hard, shuffled"):
        assert re.search(rf"^balance +\| {re.escape(case)} +\| accuracy", out, flags=re.M), case


@pytest.mark.slow
def test_tabular_end_to_end_at_tiny_sizes(tmp_path, capsys):
    from skmm._bench import tabular

    code = main(["bench", "--only", "tabular", "--tiny", "--results", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    text = (tmp_path / "tabular_tiny.md").read_text()
    for scenario in tabular.SCENARIOS:
        for kind in tabular.FOLD_KINDS:
            assert f"### {scenario}, {kind} folds" in text
    for method in tabular.METHODS:  # one row per method in each of the 4 tables
        assert text.count(f"| {method} | ") == 4, method
    assert re.search(r"^tabular +\| table embedded vs no table, plain, group +\| accuracy", out,
                     flags=re.M)


@pytest.mark.slow
def test_targets_end_to_end_at_tiny_sizes(tmp_path, capsys):
    from skmm._bench import targets

    code = main(["bench", "--only", "targets", "--tiny", "--results", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    text = (tmp_path / "targets_tiny.md").read_text()
    for method in targets.METHODS:  # one row per method and target
        assert text.count(f"| {method} | ") == len(targets.TARGETS), method
    assert re.search(r"^targets +\| held-out R², thousands +\| R²", out, flags=re.M)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="Linux peak-RSS reset")
def test_scale_end_to_end_at_tiny_sizes(tmp_path, capsys):
    pytest.importorskip("distributed")
    pytest.importorskip("pyarrow")
    from skmm._bench import scale

    code = main(["bench", "--only", "scale", "--tiny", "--results", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    text = (tmp_path / "scale_tiny.md").read_text()
    for phase in scale.PHASES:  # a row per phase and size, and its growth
        assert text.count(f"| {phase} | ") == len(scale.SIZES["tiny"]["rows"]) + 1, phase
    assert "equal the local run's bit for bit" in text


def _tables_home():
    """The data home when it holds Adult and California housing; skips (fails in CI) without."""
    from skmm.datasets import get_data_home

    home = get_data_home()
    missing = [p for p in ("adult/adult.csv.gz", "california_housing/california_housing.csv.gz")
               if not (home / p).exists()]
    if missing:
        reason = f"real tables not found in the data home '{home}' (missing {missing})"
        if os.environ.get("SKMM_REQUIRE_DATA") == "1":
            pytest.fail(reason + " -- SKMM_REQUIRE_DATA=1 forbids skipping")
        pytest.skip(reason)
    return home


@pytest.mark.slow
@pytest.mark.realdata
def test_real_end_to_end_at_tiny_sizes(tmp_path, fsdd_home, ag_news_home, capsys):
    from skmm._bench import real

    _tables_home()
    code = main(["bench", "--only", "real", "--tiny", "--results", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    text = (tmp_path / "real_tiny.md").read_text()
    assert "1 seed(s) (0)" in text and "the first 1 of 3 folds" in text
    for title in ("Adult", "California housing", "AG News", "AV-Digits (clean)"):
        assert f"### {title}\n" in text, title
        for label in ("defaults", "recipe"):
            case = f"{title}: skmm {label} vs best baseline"
            assert re.search(rf"^real +\| {re.escape(case)} +\|", out, flags=re.M), case
    assert "| method | accuracy (mean ± sd) | AUC (mean ± sd) |" in text  # Adult's two metrics
    assert "| method | R² (mean ± sd) |" in text
    for method in (real.DEFAULT, real.RECIPE):  # in each of the 4 tables
        assert text.count(f"| {method} | ") == 4, method
    # a row of its own in 3 tables, not on AG News, where the file says why
    assert len(re.findall(rf"^\| {real.HGB} \| ", text, flags=re.M)) == 3
    assert "HistGradientBoosting: not run (it takes no sparse input" in text
    assert ("RealMLP and TabM: **skipped**: pytabkit is not installed" in text) == (
        real.pytabkit_missing() is not None)


def test_real_without_its_data_is_skipped_with_the_reason(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SKMM_DATA", str(tmp_path / "empty"))
    assert main(["bench", "--only", "real", "--tiny", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "none of its data sets is in the data home" in out and "SKMM_DATA" in out
    assert not (tmp_path / "real_tiny.md").exists()
