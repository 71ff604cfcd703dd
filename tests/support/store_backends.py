"""The store backends every store-level test runs on: a SQLite file always; PostgreSQL when reachable
(required in CI: PASSERELLE_REQUIRE_POSTGRES)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text

POSTGRES_URL = os.environ.get("PASSERELLE_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_reachable() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any connection problem means "not here"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


def postgres_or_skip() -> str:
    problem = postgres_reachable()
    if problem:
        if os.environ.get("PASSERELLE_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required here (PASSERELLE_REQUIRE_POSTGRES) but {POSTGRES_URL} "
                        f"is not reachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} ({problem}); set "
                    f"PASSERELLE_TEST_POSTGRES_URL to run the PostgreSQL half of the store tests")
    return POSTGRES_URL



@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path) -> str:
    """A store URL: a new SQLite file, or the shared PostgreSQL test database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return postgres_or_skip()
