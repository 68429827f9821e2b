"""Dependencies are pinned, so that what is tested is what runs, and updated on purpose (SEC-2)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
_PINNED = re.compile(r"^[A-Za-z0-9_.\-]+(\[[a-z0-9_,\-]+\])?==[0-9][0-9A-Za-z.\-]*$")


@pytest.mark.req("SEC-2")
def test_every_dependency_is_pinned_to_one_release() -> None:
    pyproject = tomllib.loads(PYPROJECT.read_text())
    project = pyproject["project"]
    # The build requirements too: the image's wheel of the project is built with them.
    requirements = list(project["dependencies"]) + list(pyproject["build-system"]["requires"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    loose = [requirement for requirement in requirements if not _PINNED.match(requirement)]
    assert requirements
    assert loose == []


@pytest.mark.req("SEC-2")
def test_the_readme_documents_how_dependencies_are_updated() -> None:
    readme = (PYPROJECT.parent / "README.md").read_text()
    assert "## Dependencies" in readme
    assert "make outdated" in readme


_LOCKED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)==([^\s;\\]+)", re.MULTILINE)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for requirement in requirements:
        name, _, version = requirement.partition("==")
        pins[_normalized(name.partition("[")[0])] = version
    return pins


def _lock(name: str) -> tuple[str, dict[str, str]]:
    text = (PYPROJECT.parent / name).read_text()
    return text, {_normalized(package): version for package, version in _LOCKED.findall(text)}


@pytest.mark.req("SEC-2")
def test_the_locks_hold_pyprojects_pins_and_every_transitive_pin_with_its_hashes() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    runtime = _pins(project["dependencies"])
    dev = _pins(project["optional-dependencies"]["dev"])
    runtime_text, runtime_lock = _lock("requirements.lock")
    dev_text, dev_lock = _lock("requirements-dev.lock")
    # pyproject.toml and the locks agree: `make lock` was run after the last change of a pin.
    assert {name: runtime_lock.get(name) for name in runtime} == runtime
    assert {name: dev_lock.get(name) for name in runtime | dev} == runtime | dev
    # The image's lock holds no tool; the dev lock runs exactly the image's versions, and more.
    assert not (set(dev) - set(runtime)) & set(runtime_lock)
    assert {name: dev_lock.get(name) for name in runtime_lock} == runtime_lock
    assert len(runtime_lock) > len(runtime)  # the transitive ones too (starlette, pydantic-core, …)
    for text, lock in ((runtime_text, runtime_lock), (dev_text, dev_lock)):
        entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
        assert len(entries) == len(lock)
        # Every pin carries its hashes (pip --require-hashes refuses a lock where one lacks them).
        assert all("--hash=sha256:" in entry for entry in entries)


def test_the_image_and_the_venv_install_from_the_locks() -> None:
    containerfile = (PYPROJECT.parent / "Containerfile").read_text()
    makefile = (PYPROJECT.parent / "Makefile").read_text()
    assert "--require-hashes -r requirements.lock" in containerfile
    assert "requirements-dev.lock" not in containerfile
    assert "--require-hashes -r $(DEV_LOCK)" in makefile


def test_aiohttp_is_only_the_transport_of_calls_between_services() -> None:
    # The split of the two HTTP clients (pyproject.toml, bench http_clients): aiohttp carries the services' calls to
    # each other over the network, and nothing else; httpx is everything else (the response type, the tests'
    # in-process transports, the CLI's synchronous calls, the SMS provider).
    root = PYPROJECT.parent
    importers = sorted(
        str(path.relative_to(root))
        for package in ("shared", "services", "sekisho")
        for path in (root / package).rglob("*.py")
        if re.search(r"^\s*(import aiohttp|from aiohttp)", path.read_text(), re.MULTILINE)
    )
    assert importers == ["shared/internal_client.py"]
