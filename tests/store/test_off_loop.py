"""Store calls from async code: in a worker thread on PostgreSQL (a round trip must not stall the event loop),
inline on SQLite (a thread hop there only makes the event loop wait for the GIL)."""

from __future__ import annotations

import threading

from passerelle.store.engine import off_loop


async def test_sqlite_calls_run_inline_and_postgresql_calls_in_a_thread():
    def where(*args, **kwargs):
        return threading.get_ident(), args, kwargs

    here = threading.get_ident()
    inline = await off_loop("sqlite:///x.db", where, 1, url="kept")
    threaded = await off_loop("postgresql+psycopg://h/db", where, 2, url="kept")
    assert inline == (here, (1,), {"url": "kept"})
    assert threaded[0] != here and threaded[1:] == ((2,), {"url": "kept"})
