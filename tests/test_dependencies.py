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
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    requirements = list(project["dependencies"])
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
