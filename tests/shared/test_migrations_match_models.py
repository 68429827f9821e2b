"""Each service's migrations build exactly the tables its models.py describes: a column, index or constraint added
to one and not the other is caught here, not in production."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from shared.settings import SERVICE_NAMES
from tests.harness import Backend, migrate


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_the_migrated_schema_is_the_models_schema(service: str, tmp_path: Path) -> None:
    await migrate(Backend("sqlite", tmp_path), service)
    metadata = importlib.import_module(f"services.{service}.models").metadata
    engine = create_engine(f"sqlite:///{tmp_path / f'{service}.db'}")
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
    finally:
        engine.dispose()
    assert [d for d in differences if not (d[0] == "remove_table" and d[1].name == "alembic_version")] == []
