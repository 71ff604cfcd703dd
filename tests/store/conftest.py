"""Store backends: a SQLite file always; PostgreSQL when reachable (required in CI)."""

from __future__ import annotations

import pytest

from tests.store.support import create_database, drop_database
from tests.support.store_backends import POSTGRES_URL, postgres_or_skip, store_url  # noqa: F401 (fixture)


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_store_url(request, tmp_path):
    """An empty database of its own: a new SQLite file, or a new PostgreSQL database (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    url = create_database(postgres_or_skip())
    yield url
    drop_database(POSTGRES_URL, url)
