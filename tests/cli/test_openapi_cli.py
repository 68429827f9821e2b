"""`sekisho openapi`: the gateway's public OpenAPI document, written where asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sekisho.cli import main
from sekisho.openapi import DOCUMENT


def test_openapi_writes_the_document_the_gateway_serves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "openapi.json"
    assert main(["openapi", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["openapi"] == "3.1.0"
    assert "/v1/withdrawals" in written["paths"]
    assert out.read_text(encoding="utf-8") == DOCUMENT.read_text(encoding="utf-8"), "run `sekisho openapi` and commit"
