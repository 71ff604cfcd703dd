"""The engine's tests run on both store backends, as the store's own tests do."""

from tests.support.store_backends import store_url  # noqa: F401  (the SQLite and PostgreSQL fixture)
