"""The floors that pyproject.toml declares are the versions that CI's oldest-dependencies job
installs and tests (.ci/min-requirements.txt): a floor raised or lowered without its pin, a
core dependency without a pin, or a stray pin fails here."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / ".ci" / "min-requirements.txt"


def _name(name):
    """The normalized project name (PEP 503): ``Pillow`` and ``pillow`` are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _version(text):
    return tuple(int(part) for part in text.split("."))


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirements():
    """{name: {operator: version}} of pyproject's core dependencies."""
    found = {}
    for line in _project()["dependencies"]:
        match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9_.-]*)\s*(.*?)\s*", line)
        assert match, f"pyproject.toml: cannot read the dependency {line!r}"
        specs = {}
        for spec in filter(None, (s.strip() for s in match.group(2).split(","))):
            op, version = re.fullmatch(r"(>=|<|<=|==|!=|~=|>)\s*([0-9][0-9.]*)", spec).groups()
            specs[op] = version
        found[_name(match.group(1))] = specs
    return found


def _pins():
    """{name: version} of the ``name==version`` lines of the pins file."""
    pins = {}
    for number, line in enumerate(PINS.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9_.-]*)==([0-9][0-9.]*)", line)
        assert match, f"{PINS.name}:{number}: not an exact pin 'name==version': {line!r}"
        name = _name(match.group(1))
        assert name not in pins, f"{PINS.name}:{number}: {name} is pinned twice"
        pins[name] = match.group(2)
    return pins


def test_every_core_dependency_has_a_floor_equal_to_its_pin():
    requirements, pins = _requirements(), _pins()
    assert len(requirements) >= 12, requirements  # the parse itself works
    no_floor = sorted(name for name, specs in requirements.items() if ">=" not in specs)
    assert not no_floor, f"pyproject.toml: core dependencies without a '>=' floor: {no_floor}"
    unpinned = sorted(set(requirements) - set(pins))
    assert not unpinned, f"core dependencies with no pin in {PINS.name}: {unpinned}"
    stray = sorted(set(pins) - set(requirements))
    assert not stray, f"{PINS.name} pins what pyproject.toml does not depend on: {stray}"
    differ = {name: (requirements[name][">="], pins[name]) for name in requirements
              if _version(requirements[name][">="]) != _version(pins[name])}
    assert not differ, f"floor in pyproject.toml != pin in {PINS.name}: {differ}"


def test_each_pin_satisfies_the_upper_bounds_and_skorch_has_one():
    requirements, pins = _requirements(), _pins()
    for name, specs in requirements.items():
        if "<" in specs:
            assert _version(pins[name]) < _version(specs["<"]), (name, pins[name], specs)
    # any skorch release can break every fit: its newest tested minor release bounds it
    assert "<" in requirements["skorch"], requirements["skorch"]


def test_requires_python_is_the_oldest_python_that_runs_skmm():
    # hashlib.file_digest (skmm.cache) is Python 3.11
    assert _project()["requires-python"] == ">=3.11"



def test_ci_installs_the_pins():
    assert f".ci/{PINS.name}" in (ROOT / ".ci" / "run").read_text()
