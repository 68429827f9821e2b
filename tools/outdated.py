"""`make outdated`: every pin behind PyPI, or "clean" (SEC-2). Exit 1 when anything is behind.

Two kinds of pin fall behind. A direct pin (pyproject.toml, exact) moves only by hand: uv lists the venv's
packages newer on PyPI, and those named in pyproject.toml are reported (the build-system's pin, in no venv, is
resolved alone). A transitive pin moves with `make lock`: the locks are resolved again with --upgrade into a
scratch directory, and every pin that would change is reported. A transitive package held back by a direct
dependency's own bounds is not reported: nothing here can move it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".venv" / "bin" / "uv"
PYTHON = ROOT / ".venv" / "bin" / "python"
LOCKS = ("requirements.lock", "requirements-dev.lock")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def normalized(name: str) -> str:
    """PEP 503: the same project whatever its spelling (PyOTP, pyotp; pydantic_core, pydantic-core)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def direct_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    return lock_pins("\n".join(requirements))


def lock_pins(text: str) -> dict[str, str]:
    return {normalized(name): version for name, version in _PIN.findall(text)}


def behind_on_pypi(direct: dict[str, str]) -> list[str]:
    listed = subprocess.run(
        [UV, "pip", "list", "--outdated", "--format", "json", "--python", PYTHON],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [
        f"{package['name']}: pinned {package['version']} in pyproject.toml, PyPI has {package['latest_version']}"
        for package in json.loads(listed)
        if normalized(package["name"]) in direct
    ]


def build_pins_behind() -> list[str]:
    """The build requirements are in no venv: uv resolves each name alone to PyPI's newest release."""
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    behind = []
    for name, version in lock_pins("\n".join(requires)).items():
        newest = subprocess.run(
            [UV, "pip", "compile", "-", "--quiet", "--no-header", "--python-version", "3.11"],
            input=name,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        latest = lock_pins(newest).get(name)
        if latest != version:
            behind.append(f"{name}: pinned {version} in pyproject.toml [build-system], PyPI has {latest}")
    return behind


def lock_would_move() -> list[str]:
    moves: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        runtime = Path(scratch) / LOCKS[0]
        common = ["--quiet", "--universal", "--python-version", "3.11", "--upgrade", "--no-header"]
        subprocess.run([UV, "pip", "compile", "pyproject.toml", *common, "-o", runtime], check=True, cwd=ROOT)
        dev = Path(scratch) / LOCKS[1]
        subprocess.run(
            [UV, "pip", "compile", "pyproject.toml", "--extra", "dev", "-c", runtime, *common, "-o", dev],
            check=True,
            cwd=ROOT,
        )
        for name, fresh in ((LOCKS[0], runtime), (LOCKS[1], dev)):
            locked, upgraded = lock_pins((ROOT / name).read_text()), lock_pins(fresh.read_text())
            for package in sorted(locked.keys() | upgraded.keys()):
                old, new = locked.get(package), upgraded.get(package)
                if old != new:
                    moves.append(f"{name}: {package} {old or '(absent)'} -> {new or '(dropped)'}; run make lock")
    return moves


def main() -> int:
    direct = direct_pins()
    behind = behind_on_pypi(direct) + build_pins_behind() + lock_would_move()
    for line in behind:
        print(line)
    if behind:
        print(f"{len(behind)} behind: raise the pins in pyproject.toml, run make lock, make test", file=sys.stderr)
        return 1
    print(f"clean: {len(direct)} direct pins and both locks are current on PyPI")
    return 0


if __name__ == "__main__":
    sys.exit(main())
