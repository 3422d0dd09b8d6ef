"""The architecture holds: imports point down, the cache reads no extractor internals,
and the new-extractor example of ARCHITECTURE.md, run verbatim, keeps skmm's contract."""

import ast
import pickle
import re
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skmm.cache import FeatureCache
from skmm.exceptions import InvalidInputError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "skmm"

# Lowest layer first. A module may import modules of its own group and of lower layers;
# groups sharing a layer do not import each other. See ARCHITECTURE.md, section 1.
LAYERS = [
    ["skmm.exceptions"],
    ["skmm._config", "skmm._deps", "skmm._quiet"],
    ["skmm._naming", "skmm._docs"],
    ["skmm._validation"],
    ["skmm._column"],
    ["skmm._base", "skmm.cache", "skmm.store"],
    ["skmm.audio", "skmm.image", "skmm.text", "skmm.tabular"],
    ["skmm.nets", "skmm.datasets"],
    ["skmm._union"],
    ["skmm.fusion", "skmm.evaluation", "skmm.distributed"],
    ["skmm._demo", "skmm._bench"],
    ["skmm.__main__"],
]
# (importer group, imported group): why the rule bends there. Only imports inside a
# function may bend it.
HOOKS = {
    ("skmm._base", "skmm.cache"): "BaseExtractor._cache_plan, the one hook into the cache",
}
# Groups that never import each other whatever their layers say.
NEVER = {
    ("skmm.nets", "skmm.audio"): "nets read blocks through _naming, never an extractor",
    ("skmm.nets", "skmm.image"): "nets read blocks through _naming, never an extractor",
    ("skmm.nets", "skmm.text"): "nets read blocks through _naming, never an extractor",
    ("skmm.nets", "skmm.cache"): "nets know nothing of the feature cache",
    ("skmm.nets", "skmm.tabular"): "nets read blocks through _naming, never an extractor",
}


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules():
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _group(module):
    """(layer index, group) of a module: the longest group name that is a prefix of it."""
    best = None
    for index, groups in enumerate(LAYERS):
        for group in groups:
            if module == group or module.startswith(group + "."):
                if best is None or len(group) > len(best[1]):
                    best = (index, group)
    return best


def _imports(module, path, known):
    """(imported skmm module, line, inside a function) for every import of ``module``."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function.update(id(child) for child in ast.walk(node) if child is not node)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in dict.fromkeys(targets):
            if target.split(".")[0] == "skmm" and target != "skmm":  # the root: __version__
                found.append((target, node.lineno, id(node) in in_function))
    return found


def test_every_module_has_a_layer():
    unplaced = [m for m in _modules() if m != "skmm" and _group(m) is None]
    assert not unplaced, f"place these modules in LAYERS (tests/test_architecture.py): {unplaced}"


def test_imports_point_down():
    known = _modules()
    wrong, hooks_used = [], set()
    for module, path in known.items():
        if module == "skmm":  # the root imports its public names lazily, by name
            continue
        layer, group = _group(module)
        for target, line, lazy in _imports(module, path, known):
            target_layer, target_group = _group(target)
            where = f"{path.relative_to(ROOT)}:{line} imports {target}"
            if target_group == group:
                continue
            if (group, target_group) in NEVER:
                wrong.append(f"{where}: {NEVER[group, target_group]}")
            elif (group, target_group) in HOOKS and lazy:
                hooks_used.add((group, target_group))
            elif target_layer >= layer:
                wrong.append(f"{where}: a layer at or above its own")
    assert not wrong, "\n".join(wrong)
    assert hooks_used == set(HOOKS), "a hook in HOOKS is no longer used: remove it"


def test_the_cache_reads_no_private_attribute_of_an_extractor():
    private = re.compile(r"\b(?:extractor|owner)\._[a-z]|getattr\(\s*(?:extractor|owner),\s*['\"]_")
    for path in sorted((PACKAGE / "cache").glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not private.search(line), f"{path.name}:{number}: {line.strip()}"


# ------------------------------------------------------------------ the worked example


def _example_module():
    """The new-extractor example of ARCHITECTURE.md, run as a module (so it pickles)."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    marked = r"<!-- example: extractor -->\s*```python\n(.*?)```"
    code = re.search(marked, text, flags=re.S).group(1)
    module = types.ModuleType("skmm_arch_example")
    sys.modules[module.__name__] = module
    exec(compile(code, "ARCHITECTURE.md", "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def example():
    module = _example_module()
    yield module.TextWordLengths
    del sys.modules[module.__name__]


def test_the_documented_new_extractor_keeps_the_contract(example, tmp_path):
    texts = pd.Series(["a bb ccc", "dddd", None, "", "a a eeeee eeeeee"], name="text")
    ext = example(n_bins=3)
    assert ext.fit(texts) is ext
    out = ext.transform(texts)
    assert out.dtype == np.float32 and out.shape == (5, 3)
    np.testing.assert_array_equal(out, [[1, 1, 1], [0, 0, 1], [0, 0, 0], [0, 0, 0], [2, 0, 2]])
    assert list(ext.get_feature_names_out()) == ["len000", "len001", "len002"]
    with pytest.raises(NotFittedError):
        clone(ext).transform(texts)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(ext)).transform(texts), out)
    frame = clone(ext).set_params(add_indicator=True).set_output(transform="pandas")
    assert frame.fit(texts).transform(texts)["present"].tolist() == [1, 1, 0, 1, 1]
    with pytest.raises(InvalidInputError, match="row 1"):
        ext.transform(["ok", 42])
    with pytest.raises(InvalidInputError, match="n_bins"):
        example(n_bins=0).fit(texts)


def test_the_documented_new_extractor_is_cached(example, tmp_path, monkeypatch):
    texts = ["a bb ccc", "dddd", "a bb ccc", "x yy"]
    cached = example(cache=FeatureCache(tmp_path)).fit(texts)
    first = cached.transform(texts)
    assert FeatureCache(tmp_path).stats()["entries"] == 3  # one row per distinct text

    def fail(self, decoded):
        raise AssertionError("a cached row was computed again")

    monkeypatch.setattr(example, "_extract_batch", fail)
    np.testing.assert_array_equal(clone(cached).fit(texts).transform(texts), first)


def test_no_module_of_the_nets_is_over_400_lines():
    """A module past 400 lines holds two responsibilities (ARCHITECTURE.md, section 2b)."""
    long = {p.name: n for p in (PACKAGE / "nets").glob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
