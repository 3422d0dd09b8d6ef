"""The README's benchmark tables are the results files' figures (see skmm/_bench/_readme.py)."""

import re
import shutil
from pathlib import Path

import pytest

from skmm._bench import _readme

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "benchmarks" / "results"


def test_the_readme_tables_match_the_results_files():
    text = README.read_text()
    sections = _readme.marked_sections(text)
    assert set(sections) == set(_readme.RENDERERS), "every renderer has its marked section"
    rendered = _readme.marked_sections(_readme.render_readme(text, _readme.load_all(RESULTS)))
    stale = [name for name in sections if sections[name] != rendered[name]]
    assert not stale, (f"README.md sections {stale} differ from benchmarks/results/: rerender "
                       "them with `python -m skmm._bench._readme`")


def test_every_results_file_the_readme_names_exists():
    named = set(re.findall(r"benchmarks/results/([\w.]+\.md)", README.read_text()))
    named |= set(re.findall(r"`(\w+\.md)`", README.read_text())) - {"GPU.md"}
    missing = [name for name in sorted(named) if not (RESULTS / name).is_file()]
    assert not missing and "balance.md" in named


def test_results_files_record_no_machine_path():
    machine_path = re.compile(r"(?<![\w.<>/])/(?:work|home|root|Users|tmp|mnt|srv)/")
    for path in sorted(RESULTS.glob("*.md")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not machine_path.search(line), f"{path.name}:{number}: {line}"


def test_figures_round_half_up_as_written():
    assert _readme.fmt("0.7535") == "0.754" and _readme.fmt("0.9345") == "0.935"
    assert _readme.fmt("3.655", 2) == "3.66" and _readme.fmt("0.0168", 4) == "0.0168"


@pytest.fixture
def copies(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(RESULTS, results)
    readme = tmp_path / "README.md"
    shutil.copy(README, readme)
    return readme, results


def test_a_changed_figure_makes_the_readme_stale_until_rerendered(copies, capsys):
    readme, results = copies
    args = ["--readme", str(readme), "--results", str(results)]
    assert _readme.main([*args, "--check"]) == 0
    audio = results / "audio.md"
    audio.write_text(audio.read_text().replace("| 3.326 | 1.209 | x2.8 |", "| 3.326 | 1.209 | x9.9 |"))
    assert _readme.main([*args, "--check"]) == 1
    assert "stale sections ['audio']" in capsys.readouterr().out
    assert _readme.main(args) == 0
    assert "| log-mel 64 bands, mean+std | 3.33 s | 1.21 s | 9.9x |" in readme.read_text()
    assert _readme.main([*args, "--check"]) == 0


def test_a_noisy_file_is_flagged_in_the_loads_table(copies):
    readme, results = copies
    head = results / "head.md"
    lines = head.read_text().splitlines()
    head.write_text("\n".join([lines[0], "", "> **NOISY**: the load went above the cores.",
                               *lines[1:]]) + "\n")
    table = "\n".join(_readme.render_loads(_readme.load_all(results)))
    assert re.search(r"\| `head\.md` \|.*\| NOISY \|", table)
    assert not re.search(r"\| `head_quick\.md` \|.*\| NOISY \|", table)
