"""The store's schema is versioned by Alembic (issue 9, part 6): a new store is built by the migrations and
matches the models; a store made by ``create_all`` before Alembic (commit 3de8e49) is adopted at revision
0001 and upgraded without losing a row; several processes opening one new store at once all succeed. On
SQLite and PostgreSQL (a database of its own per test)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

from passerelle.store import get_watermark, latest_sync_run
from passerelle.store.effects import effect_done
from passerelle.store.engine import StoreUnavailable, engine_for
from passerelle.store.inbox import DEAD, list_events, stats
from passerelle.store.links import verify_token
from passerelle.store.migrations import HEAD, PG_LOCK_KEY, alembic_config, current_revision
from passerelle.store.registrations import registration_facts
from tests.store.support import LEGACY, ROWS, T0, create_legacy_store, read_rows

ROOT = Path(__file__).resolve().parents[2]


def revision_of(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


def differences(url: str, metadata=SQLModel.metadata) -> list:
    """What Alembic's autogenerate finds between the database and `metadata` (tables, columns, types,
    nullability, indexes, unique constraints): empty when they match."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()


def upgrade_to(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


def test_head_is_the_newest_revision_and_the_history_is_one_numbered_line():
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [HEAD], "a new revision in versions/ must become HEAD in migrations/__init__.py"
    revisions = list(reversed(list(script.walk_revisions())))  # oldest first
    assert [r.revision for r in revisions] == [f"{n:04d}" for n in range(1, len(revisions) + 1)]
    assert [r.down_revision for r in revisions] == [None, *(r.revision for r in revisions[:-1])]


def test_a_new_store_is_built_by_the_migrations_and_matches_the_models(fresh_store_url):
    engine_for(fresh_store_url)
    assert revision_of(fresh_store_url) == [HEAD]
    engine = create_engine(fresh_store_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert tables == set(SQLModel.metadata.tables) | {"alembic_version"}
    assert differences(fresh_store_url) == []


def test_revision_0001_alone_is_the_schema_of_3de8e49(fresh_store_url):
    upgrade_to(fresh_store_url, "0001")
    assert differences(fresh_store_url, LEGACY) == []
    # what later revisions add: sync_run.heartbeat_at (0002), the conversation_ticket table (0003), the zap_run,
    # zap_step_run and zap_state tables and their three indexes (0004), zap_run's due index (0005)
    assert sorted(d[0] for d in differences(fresh_store_url)) == ["add_column"] + ["add_index"] * 4 + ["add_table"] * 4


def test_a_store_at_0001_is_upgraded_to_head_keeping_every_row(fresh_store_url):
    upgrade_to(fresh_store_url, "0001")
    create_legacy_store(fresh_store_url)  # the tables exist: only the rows go in
    before = read_rows(fresh_store_url)
    assert all(len(before[name]) == len(rows) for name, rows in ROWS.items())
    engine_for(fresh_store_url)
    assert revision_of(fresh_store_url) == [HEAD]
    assert read_rows(fresh_store_url) == before
    assert differences(fresh_store_url) == []


def test_a_store_made_by_create_all_before_alembic_is_adopted_and_upgraded_without_losing_a_row(fresh_store_url):
    create_legacy_store(fresh_store_url)
    before = read_rows(fresh_store_url)
    assert {name: len(rows) for name, rows in before.items()} == {name: len(rows) for name, rows in ROWS.items()}
    engine_for(fresh_store_url)
    assert revision_of(fresh_store_url) == [HEAD]
    assert read_rows(fresh_store_url) == before
    assert differences(fresh_store_url) == []
    # The store's own functions read the old rows, and the new column is there, empty on them.
    url = fresh_store_url
    run = latest_sync_run("amilia_initial_sync", "default", url=url)
    assert (run.id, run.status, run.summary, run.heartbeat_at) == (1, "completed", ROWS["sync_run"][0]["summary"], None)
    assert get_watermark("amilia", "default", url=url) == T0
    assert effect_done("inbox-1:add:7:lea@example.org", url=url)
    assert stats(url=url)["dead"] == 1
    assert [e.payload for e in list_events(status=DEAD, url=url)] == [{"Id": "9001"}]
    assert registration_facts("8008", ["9001"], url=url)["9001"]["activity"] == "Ballet"
    assert verify_token("amilia", "default", "not the token", url=url) is False


def test_an_older_store_missing_later_tables_gets_them(fresh_store_url):
    """A store last opened before the inbox, the leases, the webhook links and the registration facts."""
    create_legacy_store(fresh_store_url, ["sync_run", "watermark", "effect"])
    before = read_rows(fresh_store_url, ["sync_run", "watermark", "effect"])
    engine_for(fresh_store_url)
    assert revision_of(fresh_store_url) == [HEAD]
    assert read_rows(fresh_store_url, ["sync_run", "watermark", "effect"]) == before
    assert differences(fresh_store_url) == []


def test_a_store_that_already_has_the_heartbeat_column_is_adopted_as_it_is(fresh_store_url):
    """Made by ``create_all`` of the models with ``heartbeat_at`` (or given it by the former stopgap)."""
    engine = create_engine(fresh_store_url)
    SQLModel.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sync_run (kind, link, dry_run, status, stage, progress_done, progress_total, "
                          "started_at, heartbeat_at) VALUES ('amilia_initial_sync', 'default', false, 'running', "
                          "'loading contacts', 1, 2, :t, :t)"), {"t": T0})
    engine.dispose()
    engine_for(fresh_store_url)
    assert revision_of(fresh_store_url) == [HEAD]
    assert latest_sync_run("amilia_initial_sync", "default", url=fresh_store_url).heartbeat_at == T0
    assert differences(fresh_store_url) == []


def test_a_store_upgraded_by_a_newer_passerelle_is_refused_in_one_line(fresh_store_url):
    upgrade_to(fresh_store_url, "head")
    engine = create_engine(fresh_store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(StoreUnavailable) as raised:
        engine_for(fresh_store_url)
    message = str(raised.value)
    assert "0099" in message and "newer Passerelle" in message and "\n" not in message
    assert revision_of(fresh_store_url) == ["0099"]  # left as it was


# -- several processes at once --------------------------------------------------------------------------

OPEN_STORE = textwrap.dedent("""
    import sys
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from passerelle.store.engine import engine_for
    from passerelle.store.migrations import current_revision

    @event.listens_for(Engine, "before_cursor_execute")
    def _announce(conn, cursor, statement, *args):
        if statement.startswith(("BEGIN IMMEDIATE", "SELECT pg_advisory_xact_lock")):
            print("locking", flush=True)

    print("ready", flush=True)
    sys.stdin.readline()  # go
    with engine_for(sys.argv[1]).connect() as conn:
        print("at", current_revision(conn), flush=True)
""")


def open_store(url: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", OPEN_STORE, url], cwd=ROOT, env={**os.environ}, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline().strip() == "ready", process.stderr.read()
    return process


def test_several_processes_opening_one_new_store_at_once_all_succeed(fresh_store_url):
    processes = [open_store(fresh_store_url) for _ in range(3)]
    for process in processes:  # released together
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert out.splitlines()[-1] == f"at {HEAD}"
    assert revision_of(fresh_store_url) == [HEAD]
    assert differences(fresh_store_url) == []


def test_a_process_that_waited_for_the_upgrade_lock_finds_the_store_upgraded(fresh_store_url):
    """Deterministic form of the race: this test holds the upgrade lock while a process opens the new store;
    the process reads no revision, waits for the lock, and once this test has upgraded the store and
    committed it reads the revision again and does nothing."""
    engine = create_engine(fresh_store_url, connect_args={"timeout": 30} if "sqlite" in fresh_store_url else {})
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")  # as the store does: readers do not wait
            conn.rollback()
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        process = open_store(fresh_store_url)
        process.stdin.write("go\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "locking"  # it found no revision: it needs the lock
        time.sleep(0.5)
        assert process.poll() is None  # waiting for us
        assert current_revision(conn) is None
        command.upgrade(alembic_config(conn), "head")
        conn.commit()
    engine.dispose()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert out.splitlines()[-1] == f"at {HEAD}"
    assert revision_of(fresh_store_url) == [HEAD]  # one row: nobody upgraded twice
    assert differences(fresh_store_url) == []


# -- the command line that writes migrations ------------------------------------------------------------

def test_the_migrations_command_line_finds_nothing_the_migrations_lack():
    result = subprocess.run([sys.executable, "-m", "passerelle.store.migrations", "check"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env={**os.environ})
    assert result.returncode == 0, result.stderr
    assert "No new upgrade operations detected" in result.stdout
