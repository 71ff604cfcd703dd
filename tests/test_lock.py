"""The lock drives every install: it must hold every dependency `pyproject.toml` declares, within range,
with hashes, and the installed virtualenv must be the lock."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def _locked() -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in PIN.findall((ROOT / "requirements.lock").read_text())}


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]


def test_every_declared_dependency_is_locked_within_its_range():
    locked = _locked()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is in pyproject.toml but not in requirements.lock: make lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"requirements.lock pins {name}=={locked[name]}, outside pyproject.toml's {requirement}: make lock")


def test_every_pin_carries_hashes():
    blocks = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements.lock").read_text())
    pins = [b for b in blocks if PIN.match(b)]
    assert pins and all("--hash=sha256:" in b for b in pins)


def test_sqlalchemy_stays_below_2_1_for_prefect_3_8():
    assert _locked()["sqlalchemy"].startswith("2.0.")


def test_the_virtualenv_is_the_lock():
    locked = _locked()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert metadata.version(name) == locked[name], f"{name}: installed {metadata.version(name)}, "\
            f"locked {locked[name]}: run make (it syncs .venv to the lock)"
