"""The store's engine: SQLite (WAL) under PASSERELLE_HOME by default, PostgreSQL via PASSERELLE_DATABASE_URL."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

import orjson
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from passerelle.settings import get_settings
from passerelle.store import models  # noqa: F401  (registers the tables)
from passerelle.store.migrations import UnknownRevision, upgrade_store

_engine_lock = threading.Lock()
T = TypeVar("T")


class StoreUnavailable(RuntimeError):
    """The store's database cannot be reached or opened; the message names where and what to do (no secret)."""


def describe_store_error(url: str, exc: BaseException) -> str:
    """One line naming the store (host:port/database, or the SQLite file; never the password), the
    database's own reason and the fix."""
    parsed = make_url(url)
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = reason[0].rstrip(". ") if reason else type(exc).__name__
    if parsed.password:
        reason = reason.replace(str(parsed.password), "***")
    if parsed.get_backend_name() == "sqlite":
        return (f"cannot open the SQLite store {parsed.database} ({reason}): check that its folder exists "
                f"and is writable, or point PASSERELLE_HOME or PASSERELLE_DATABASE_URL elsewhere")
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"
    return (f"cannot reach the store's database at {where} (PASSERELLE_DATABASE_URL): {reason}. Start "
            f"PostgreSQL there, or fix PASSERELLE_DATABASE_URL (postgresql://user@host:port/database)")


def _json_dumps(value) -> str:
    """JSON columns written by orjson, as the gateway parses and hashes them: one library whose depth is
    bounded (it raises past 254 levels where the standard `json` recurses to the interpreter's limit).
    Integers beyond 64 bits, which orjson refuses, are written by `json`, as they were before."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()
    except orjson.JSONEncodeError as exc:
        if "Integer exceeds" not in str(exc):
            raise
        return json.dumps(value)


def _json_loads(text: str | bytes):
    """JSON columns (inbox payloads, run summaries) read by orjson, several times faster than `json`;
    what orjson refuses (NaN, integers beyond 64 bits) by `json`, which wrote it."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def engine_for(url: str) -> Engine:
    """One engine per URL, its schema upgraded to the newest revision once (safe when first called from
    several threads, and from several processes: passerelle/store/migrations/__init__.py)."""
    with _engine_lock:
        return _engine_for(url)


def _wal(cursor: Any, patience: float = 30.0) -> None:
    """`PRAGMA journal_mode=WAL`, waiting while another process holds the lock it needs: SQLite answers "database
    is locked" at once there, without its busy handler (seen with several processes opening one new store)."""
    deadline, pause = time.monotonic() + patience, 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               json_serializer=_json_dumps, json_deserializer=_json_loads)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            _wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
    else:
        engine = create_engine(url, pool_pre_ping=True, json_serializer=_json_dumps,
                               json_deserializer=_json_loads)
    try:
        upgrade_store(engine)  # one read when the schema is current; Alembic's `upgrade head` when not
    except OperationalError as exc:  # cannot connect or open; not cached: the next call tries again
        engine.dispose()
        raise StoreUnavailable(describe_store_error(url, exc)) from exc
    except UnknownRevision as exc:
        engine.dispose()
        raise StoreUnavailable(f"the store {make_url(url).render_as_string(hide_password=True)}: {exc}") from exc
    return engine


async def off_loop(url: str | None, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Call a store function from async code without stalling the event loop where that matters.

    On PostgreSQL the call runs in a worker thread (``asyncio.to_thread``): its network round trips release the
    GIL, and a slow one must not hold up lease renewals or the HTTP calls under way. On SQLite it runs inline:
    a local file, where the call is Python work under the GIL, and a thread hop only makes the event loop wait
    for the GIL (measured: bench/amilia_events.py fell from ~520 to ~425 events/s with every store call of the
    drain in a thread). `url` is the store's URL (None: the configured store); it is not passed to `fn`.
    """
    if (url or get_settings().store_url).startswith("sqlite"):
        return fn(*args, **kwargs)
    return await asyncio.to_thread(fn, *args, **kwargs)


def get_engine(url: str | None = None) -> Engine:
    return engine_for(url or get_settings().store_url)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session committed on success, rolled back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
