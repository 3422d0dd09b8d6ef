"""The command line: ``python -m skmm demo`` and ``bench``."""

import pytest

from skmm.__main__ import main


@pytest.mark.slow
def test_demo_prints_the_comparison_and_saves_a_chart(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "demo.png"
    code = main(["demo", "--n-samples", "96", "--cv", "2", "--max-epochs", "2", "--quiet",
                 "--output", str(png)])
    out = capsys.readouterr().out
    assert code == 0
    for label in ("image only", "text only", "audio only", "shop only", "early fusion",
                  "late fusion", "layer fusion", "CV accuracy"):
        assert label in out
    assert png.exists() and png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_on_absent_real_data_says_how_to_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SKMM_DATA", str(tmp_path))
    assert main(["demo", "--data", "av-digits", "--output", ""]) == 2
    assert "SKMM_DATA" in capsys.readouterr().err


def test_bench_with_an_unknown_benchmark_fails_clearly(tmp_path, capsys):
    assert main(["bench", "--only", "head,nope", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown: ['nope']" in err and "audio, head, image" in err
    assert not any(tmp_path.iterdir())


def test_the_demo_names_every_model_tied_at_the_best_accuracy():
    import pandas as pd

    from skmm._demo import best_line

    table = pd.DataFrame({"model": ["image only", "late fusion", "layer fusion"],
                          "level": ["single", "model", "layer"],
                          "accuracy_mean": [0.425, 410 / 480, (140 + 135 + 135) / 480]})
    assert best_line(table).startswith("Best: late fusion and layer fusion, tied at 0.854, +0.429")
    table.loc[2, "accuracy_mean"] = 0.8
    assert best_line(table).startswith("Best: late fusion at 0.854, +0.429")
