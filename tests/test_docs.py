"""Every docstring example in skmm and every Python block of the README runs."""

import ast
import doctest
import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path

import pytest

import skmm

ROOT = Path(__file__).resolve().parents[1]


def _modules():
    names = ["skmm"]
    for info in pkgutil.walk_packages(skmm.__path__, prefix="skmm."):
        if info.name != "skmm.__main__":
            names.append(info.name)
    return sorted(names)


def _missing_imports(test):
    """Top-level modules that a docstring's examples import and this environment lacks
    (an optional extra, e.g. matplotlib or dask in CI's oldest-dependencies job). Every
    module of a statement counts: ``import tempfile, dask`` needs dask."""
    missing = set()
    for example in test.examples:
        try:
            tree = ast.parse(example.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if importlib.util.find_spec(top) is None:
                    missing.add(top)
    return missing


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    left_out = {}
    for test in finder.find(module, name):
        missing = _missing_imports(test)
        if missing:
            left_out[test.name] = sorted(missing)
            continue
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
    if left_out:
        pytest.skip(f"{result.attempted} example(s) passed; left out, as they import a module "
                    f"not installed here: {left_out}")


def _readme_blocks():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in _readme_blocks():
        exec(compile(block, "README.md", "exec"), namespace)
