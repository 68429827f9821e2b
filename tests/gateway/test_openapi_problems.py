"""Every problem a public route's code can answer is in the gateway's public OpenAPI document for that route."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from sekisho.openapi import DOCUMENT, SERVICES, public_routes, settings_for_documents
from tests.openapi_recorder import documented_codes
from tests.problem_paths import Index, endpoint_of, reachable


def test_each_public_route_documents_every_problem_its_code_paths_raise(tmp_path: Path) -> None:
    document: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    apps: dict[str, FastAPI] = {}
    for service in SERVICES:
        module = importlib.import_module(f"services.{service}.app")
        apps[service] = module.create_app(settings_for_documents(service, tmp_path))
    indexes = {service: Index(service) for service in SERVICES}
    missing: list[str] = []
    found = 0
    for route in public_routes():
        responses = document["paths"][route.path][route.method.lower()]["responses"]
        for status, code in sorted(reachable(indexes[route.service], endpoint_of(apps[route.service], route))):
            found += 1
            if code not in documented_codes(responses.get(str(status), {})):
                missing.append(f"{route.method} {route.path}: {status} {code}")
    assert found > 300, "the walk finds the problems of the routes' code paths"
    assert not missing, (
        "problems a route's code can answer that its OpenAPI does not document: declare them in the route's "
        "decorator (shared/problems.py problem_responses), then run `.venv/bin/sekisho openapi`:\n  "
        + "\n  ".join(missing)
    )
