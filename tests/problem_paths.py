"""The problems a service route can answer, found by walking its code paths (its source, by name): every Problem
raised or built with a literal code, and every `problem_response(status, code, …)`, in the route's function and in
what it calls within its service (and shared/, less the plumbing every route shares).

Name-based and static: a call through a variable that holds a function, or a code computed at run time
(`code=f"authorization_{status}"`), is not seen; the recorder (tests/openapi_recorder.py) catches those when a test
meets them. tests/gateway/test_openapi_problems.py checks that each route documents what this finds.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.gateway.routes import Route

ROOT = Path(__file__).resolve().parent.parent
# Plumbing every route passes (the service identity, the request's context): not what a public caller can meet.
SKIP_SHARED = {"dependencies.py", "middleware.py", "identity.py", "service.py", "json_depth.py"}
Code = tuple[int, str]


def modules(service: str) -> list[Path]:
    """The service's modules and shared/'s, less the plumbing."""
    files = sorted((ROOT / "services" / service).glob("*.py"))
    files += [p for p in sorted((ROOT / "shared").glob("*.py")) if p.name not in SKIP_SHARED]
    return files


def _name_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


class Index:
    """Functions by module; methods by name; each module's imports (module aliases, imported names)."""

    def __init__(self, service: str) -> None:
        self.classes: dict[str, tuple[list[str], dict[str, object]]] = {}  # name -> (bases, constant attributes)
        self.module_defs: dict[str, dict[str, ast.AST]] = defaultdict(dict)  # module -> name -> def or alias value
        self.methods: dict[str, list[ast.AST]] = defaultdict(list)  # a method's name -> every method so named
        self.imports: dict[str, dict[str, tuple[str, str | None]]] = defaultdict(dict)  # module -> local -> source
        self.owner: dict[int, str] = {}  # a definition -> its module
        self.class_methods: dict[str, list[ast.AST]] = defaultdict(list)
        for path in modules(service):
            module = path.stem if path.parent.name != "shared" else "shared." + path.stem
            for node in ast.parse(path.read_text()).body:
                self._index(module, node)

    def _index(self, module: str, node: ast.stmt) -> None:
        if isinstance(node, ast.ImportFrom) and node.module:
            self._imported(module, node.module.split("."), node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.module_defs[module][node.name] = node
            self.owner[id(node)] = module
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            self.module_defs[module][node.targets[0].id] = node.value  # an alias: `CustomerDep = Annotated[…]`
            self.owner[id(node.value)] = module
        elif isinstance(node, ast.ClassDef):
            self.module_defs[module][node.name] = node
            self.owner[id(node)] = module
            attrs: dict[str, object] = {}
            for item in node.body:
                target = item.targets[0] if isinstance(item, ast.Assign) and len(item.targets) == 1 else None
                if isinstance(item, ast.AnnAssign):
                    target = item.target
                value = getattr(item, "value", None)
                if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
                    attrs[target.id] = value.value
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    self.methods[item.name].append(item)
                    self.owner[id(item)] = module
                    self.class_methods[node.name].append(item)
            bases = [_name_of(base) or "" for base in node.bases]
            self.classes[node.name] = (bases, attrs)

    def _imported(self, module: str, parts: list[str], node: ast.ImportFrom) -> None:
        if parts[0] not in ("services", "shared"):
            return
        for alias in node.names:
            local = alias.asname or alias.name
            if parts == ["shared"]:  # from shared import trace
                self.imports[module][local] = ("shared." + alias.name, None)
            elif parts[0] == "services" and len(parts) == 2:  # from services.txn import errors
                self.imports[module][local] = (alias.name, None)
            else:  # from services.txn.errors import NotFound
                source = parts[-1] if parts[0] == "services" else "shared." + parts[-1]
                self.imports[module][local] = (source, alias.name)

    def resolve_name(self, mod: str, name: str) -> list[ast.AST]:
        if name in self.module_defs.get(mod, {}):
            return [self.module_defs[mod][name]]
        imported = self.imports.get(mod, {}).get(name)
        if imported and imported[1] is not None and imported[1] in self.module_defs.get(imported[0], {}):
            return [self.module_defs[imported[0]][imported[1]]]
        return []

    def resolve_attr(self, mod: str, base: str, attr: str) -> list[ast.AST] | None:
        imported = self.imports.get(mod, {}).get(base)
        if imported and imported[1] is None:  # a module alias
            target = self.module_defs.get(imported[0], {}).get(attr)
            return [target] if target is not None else []
        return None

    def problem(self, name: str) -> tuple[int, str] | None:
        status: object = None
        code: object = None
        seen = 0
        while name in self.classes and seen < 10:
            bases, attrs = self.classes[name]
            if status is None and "status" in attrs:
                status = attrs["status"]
            if code is None and "code" in attrs:
                code = attrs["code"]
            if name == "Problem":
                break
            name = bases[0] if bases else ""
            seen += 1
        if name != "Problem":
            return None
        return (int(status) if status is not None else 400, str(code) if code is not None else "bad_request")


def _kw(call: ast.Call, name: str) -> object:
    for kw in call.keywords:
        if kw.arg == name and isinstance(kw.value, ast.Constant):
            return kw.value.value
    return None


def direct(index: Index, node: ast.AST, module: str) -> tuple[set[Code], list[ast.AST]]:
    """The problems `node` itself raises or builds, and the definitions it names or calls."""
    found: set[Code] = set()
    targets: list[ast.AST] = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            called = _name_of(sub.func)
            known = (400, "bad_request") if called == "Problem" else index.problem(called) if called else None
            dynamic = any(kw.arg == "code" and not isinstance(kw.value, ast.Constant) for kw in sub.keywords)
            if known is not None and not dynamic:  # a code computed at run time is declared by hand
                code, status = _kw(sub, "code"), _kw(sub, "status")
                found.add((int(str(status)) if status is not None else known[0], str(code) if code else known[1]))
            elif called == "invalid":
                found.add((422, "validation_failed"))
            elif called == "problem_response" and len(sub.args) >= 2:
                status_arg, code_arg = sub.args[0], sub.args[1]
                if isinstance(status_arg, ast.Constant) and isinstance(code_arg, ast.Constant):
                    found.add((int(status_arg.value), str(code_arg.value)))
            if isinstance(sub.func, ast.Attribute):
                owner = sub.func.value
                resolved = index.resolve_attr(module, owner.id, sub.func.attr) if isinstance(owner, ast.Name) else None
                if resolved is None:  # a method of some object: every method of that name in the service
                    resolved = list(index.methods.get(sub.func.attr, ()))
                targets += resolved
        if isinstance(sub, ast.Name):
            for target in index.resolve_name(module, sub.id):
                if isinstance(target, ast.ClassDef):
                    targets += index.class_methods.get(target.name, [])  # constructors and the like
                else:
                    targets.append(target)
    return found, targets


def closure(index: Index, start: ast.AST, mod: str) -> set[Code]:
    """Every problem reachable from `start` (a route's function) through what it calls, transitively."""
    found: set[Code] = set()
    seen: set[int] = set()
    todo = [(start, mod)]
    while todo:
        node, where = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        codes, targets = direct(index, node, where)
        found |= codes
        for target in targets:
            todo.append((target, index.owner.get(id(target), where)))
    return found


def _endpoints(routes: Any) -> Iterator[Any]:
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included routers
            yield from _endpoints(route.original_router.routes)
        else:
            yield route


def _template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def endpoint_of(app: FastAPI, route: Route) -> Any:
    """The function that answers the public route in its service's app."""
    wanted = _template(route.upstream_path or route.path)
    return next(
        found.endpoint
        for found in _endpoints(app.routes)
        if getattr(found, "path", None) and _template(found.path) == wanted and route.method in found.methods
    )


def reachable(index: Index, endpoint: Any) -> set[Code]:
    source = inspect.getsourcefile(endpoint)
    assert source is not None
    module = Path(source).stem if Path(source).parent.name != "shared" else "shared." + Path(source).stem
    return closure(index, ast.parse(textwrap.dedent(inspect.getsource(endpoint))), module)
