"""Every context a service seals with is in its registry of sealed columns (services/<service>/sealed.py), the list
`sekisho keys rotate` re-encrypts: a sealed column missing there would keep its old key and stop opening the day
that key is dropped. Read from the code itself: each `….seal(…, context=…)` call, its context resolved from a
string, a module constant, or an f-string over a helper's argument."""

from __future__ import annotations

import ast
import functools
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from sekisho.keys import sealed_columns
from sekisho.services import ROOT
from shared.sealed_columns import OUTBOX_PAYLOAD, SealedColumn
from shared.settings import SERVICE_NAMES


def _sources(service: str) -> list[Path]:
    """The code that runs in the service: its package, and shared/ (the outbox seals in every service)."""
    return sorted((ROOT / "services" / service).rglob("*.py")) + sorted((ROOT / "shared").rglob("*.py"))


def _constants(paths: list[Path]) -> dict[str, set[str]]:
    """Module-level `NAME = "text"` of these files, by name."""
    found: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found.setdefault(target.id, set()).add(node.value.value)
    return found


def _pattern(node: ast.JoinedStr) -> str:
    """An f-string as a regular expression: its text, any value where it formats one."""
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(re.escape(str(value.value)))
        else:
            parts.append(".+")
    return "".join(parts)


def _helper_arguments(tree: ast.Module, node: ast.JoinedStr) -> list[str] | None:
    """`def seal(column, value): return cipher.seal(value, context=f"customer.{column}")` and its calls
    `seal("email", …)`: the contexts it is called with, when every call gives the argument as a string."""
    formatted = [index for index, value in enumerate(node.values) if isinstance(value, ast.FormattedValue)]
    if len(formatted) != 1:
        return None
    argument_of = node.values[formatted[0]]
    assert isinstance(argument_of, ast.FormattedValue)
    if not isinstance(argument_of.value, ast.Name):
        return None
    prefix = "".join(str(v.value) for v in node.values[: formatted[0]] if isinstance(v, ast.Constant))
    suffix = "".join(str(v.value) for v in node.values[formatted[0] + 1 :] if isinstance(v, ast.Constant))
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if not any(inner is node for inner in ast.walk(function)):
            continue
        parameters = [argument.arg for argument in function.args.args]
        if argument_of.value.id not in parameters:
            continue
        position = parameters.index(argument_of.value.id)
        contexts = []
        for call in ast.walk(tree):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == function.name:
                given = call.args[position] if position < len(call.args) else None
                if not (isinstance(given, ast.Constant) and isinstance(given.value, str)):
                    return None
                contexts.append(prefix + given.value + suffix)
        if contexts:
            return contexts
    return None


@functools.cache
def contexts_of(service: str) -> tuple[tuple[str, str, str], ...]:
    return tuple(sealed_contexts(_sources(service)))


def sealed_contexts(paths: list[Path]) -> Iterator[tuple[str, str, str]]:
    """(where, kind, context) of every `.seal(…, context=…)` call: kind "exact", "template" (an f-string over a
    column of the row, as written) or "pattern" (an f-string over something else: a regular expression)."""
    constants = _constants(paths)
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in ast.walk(tree):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "seal"):
                continue
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            context = next((keyword.value for keyword in call.keywords if keyword.arg == "context"), None)
            assert context is not None, f"{where}: a seal call without context="
            if isinstance(context, ast.Constant) and isinstance(context.value, str):
                yield where, "exact", context.value
            elif isinstance(context, ast.Name | ast.Attribute):
                name = context.id if isinstance(context, ast.Name) else context.attr
                values = constants.get(name)
                assert values is not None, f"{where}: no module constant {name}"
                assert len(values) == 1, f"{where}: cannot tell which context {name} is"
                yield where, "exact", next(iter(values))
            elif isinstance(context, ast.JoinedStr):
                expanded = _helper_arguments(tree, context)
                if expanded is not None:
                    for each in expanded:
                        yield where, "exact", each
                else:
                    yield where, "template", ast.unparse(context)[2:-1]
                    yield where, "pattern", _pattern(context)
            else:
                pytest.fail(f"{where}: a context this test cannot read ({ast.unparse(context)}); name it plainly")


def _covered(kind: str, context: str, registry: tuple[SealedColumn, ...]) -> bool:
    if kind == "pattern":
        return any(re.fullmatch(context, sealed.context) for sealed in registry if not sealed.context_columns)
    if kind == "template":
        return any(sealed.context == context for sealed in registry)
    return any(
        sealed.context == context
        or (sealed.context_columns and re.fullmatch(sealed.context.split("{")[0] + ".+", context))
        for sealed in registry
    )


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_every_context_a_service_seals_with_is_in_its_registry(service: str) -> None:
    registry = sealed_columns(service)
    found = list(contexts_of(service))
    by_place: dict[str, list[tuple[str, str]]] = {}
    for where, kind, context in found:
        by_place.setdefault(where, []).append((kind, context))
    missing = [
        f"{where}: {choices[0][1]}"
        for where, choices in by_place.items()
        if not any(_covered(kind, context, registry) for kind, context in choices)
    ]
    assert not missing, f"sealed in {service} but not in services/{service}/sealed.py: {missing}"
    assert OUTBOX_PAYLOAD in registry  # every service has an outbox


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_every_registered_column_exists_is_sealed_somewhere_and_is_listed_once(service: str) -> None:
    registry = sealed_columns(service)
    models = importlib.import_module(f"services.{service}.models")
    tables = models.metadata.tables
    contexts = [(kind, context) for _, kind, context in contexts_of(service)]
    for sealed in registry:
        table = tables[sealed.table]
        assert [key.name for key in table.primary_key.columns] == [sealed.primary_key], sealed
        assert {sealed.column, *sealed.context_columns} <= set(table.columns.keys()), sealed
        assert any(
            (kind == "exact" and context == sealed.context)
            or (kind == "template" and context == sealed.context)
            or (kind == "pattern" and re.fullmatch(context, sealed.context))
            for kind, context in contexts
        ), f"{sealed} is never sealed: remove it from services/{service}/sealed.py"
    assert len({(sealed.table, sealed.column) for sealed in registry}) == len(registry)


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_every_column_the_models_mark_sealed_is_registered(service: str) -> None:
    """The models mark sealed columns with a `# sealed` comment: each is in the registry."""
    source = (ROOT / "services" / service / "models.py").read_text(encoding="utf-8")
    marked: list[tuple[str, str]] = []
    current = None
    for line in source.splitlines():
        table = re.match(r"^(\w+) = Table\(", line)
        if table:
            current = None
        name = re.match(r'^\s+"(\w+)",\s*$', line)
        if name and current is None:
            current = name.group(1)
        column = re.match(r'^\s+Column\("(\w+)".*#\s*sealed', line)
        if column and current is not None:
            marked.append((current, column.group(1)))
    registered = {(sealed.table, sealed.column) for sealed in sealed_columns(service)}
    assert set(marked) <= registered, set(marked) - registered


def test_the_scan_finds_the_seal_calls_it_is_meant_to() -> None:
    """The scan itself: a forgotten context is reported (else the tests above could pass by finding nothing)."""
    found = {context for _, kind, context in contexts_of("auth") if kind == "exact"}
    assert {"customer.email", "customer.address", "challenge.pending", "staff.totp_secret"} <= found
    assert {("template", "contact_change.{attribute}")} <= {(kind, context) for _, kind, context in contexts_of("auth")}
    forgotten = (*sealed_columns("auth")[1:],)  # customer.email left out
    assert not _covered("exact", "customer.email", forgotten)
    assert not _covered("exact", "customer.favourite_colour", sealed_columns("auth"))
