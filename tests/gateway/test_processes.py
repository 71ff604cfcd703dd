"""Several gateway processes on one port (`gateway serve --processes N`): their SQLite commits take turns on a
file lock, the port stays served when one dies, and nothing acknowledged is lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import httpx
import psutil
import pytest

from passerelle.gateway.app import create_app
from passerelle.gateway.server import GatewayServer, free_port
from passerelle.gateway.settings import GatewaySettings
from passerelle.gateway.sqlite import CommitLock
from passerelle.store.inbox import list_events
from passerelle.store.links import create_link
from tests.gateway.conftest import Nudges, body_of, envelope, sha
from tests.gateway.support import Burst, start_gateway


def test_the_commit_lock_is_the_store_files_and_only_sqlites(tmp_path):
    lock = CommitLock.for_store(f"sqlite:///{tmp_path / 'inbox.db'}", 1.0)
    assert lock is not None and lock.path == f"{tmp_path / 'inbox.db'}.gateway-lock"
    assert CommitLock.for_store("postgresql+psycopg://u@127.0.0.1/x", 1.0) is None
    assert CommitLock.for_store("sqlite://", 1.0) is None


def test_a_commit_waits_for_the_lock_then_fails_as_a_locked_store_does(tmp_path):
    path = str(tmp_path / "s.db.gateway-lock")
    holder, waiter = CommitLock(path, 5.0), CommitLock(path, 0.3)
    entered, release = threading.Event(), threading.Event()

    def hold(_):
        entered.set()
        release.wait(5)
        return ["held"]

    thread = threading.Thread(target=holder.wrap(hold), args=([],))
    thread.start()
    assert entered.wait(5)
    start = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="database is locked.*gateway-lock"):
        waiter.wrap(lambda _: ["never"])([])
    assert 0.3 <= time.monotonic() - start < 2.0
    assert waiter.waits == 1
    # released: the next commit gets the lock at once
    timer = threading.Timer(0.1, release.set)
    timer.start()
    assert waiter.wrap(lambda d: d)(["after"]) == ["after"]
    thread.join(5)
    holder.close()
    waiter.close()


def test_a_lock_whose_holder_was_killed_is_free(tmp_path):
    path = str(tmp_path / "s.db.gateway-lock")
    code = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, path], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(sqlite3.OperationalError):
            CommitLock(path, 0.2).wrap(lambda d: d)([])
        holder.send_signal(signal.SIGKILL)
        holder.wait(5)
        assert CommitLock(path, 0.2).wrap(lambda d: d)(["mine"]) == ["mine"]
    finally:
        if holder.poll() is None:
            holder.kill()


def test_with_several_processes_a_call_gets_503_when_the_lock_is_held_past_the_timeout(tmp_path):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    token = create_link("amilia", "default", url=store)
    settings = GatewaySettings(processes=2, store_lock_timeout_seconds=0.5, retry_after_seconds=7)
    with GatewayServer(create_app(url=store, settings=settings, emitter=Nudges())) as gw:
        other = CommitLock.for_store(store, 5.0)
        entered, release = threading.Event(), threading.Event()
        thread = threading.Thread(target=other.wrap(lambda _: (entered.set(), release.wait(10))), args=([],))
        thread.start()
        assert entered.wait(5)
        url = f"{gw.url}/hooks/amilia/default"
        body = body_of(envelope(payload={"Id": 77}))
        try:
            refused = httpx.post(url, params={"token": token}, content=body, timeout=10)
        finally:
            release.set()
            thread.join(5)
            other.close()
        assert refused.status_code == 503 and refused.headers["retry-after"] == "7"
        assert httpx.post(url, params={"token": token}, content=body, timeout=10).json() == {"accepted": 1,
                                                                                              "duplicates": 0}
    assert [e.event_id for e in list_events(source="amilia", url=store)] == [sha(body)]


def _children(proc: subprocess.Popen) -> list[int]:
    return sorted(c.pid for c in psutil.Process(proc.pid).children())


def _wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def _two_process_gateway(tmp_path):
    """`gateway serve --processes 2` on a new SQLite store: (store, link token, receiver URL, process, log)."""
    store = f"sqlite:///{tmp_path / 'store.db'}"
    token = create_link("amilia", "default", url=store)
    port = free_port()
    proc, log_path = start_gateway(tmp_path, store, port, "--processes", "2")
    return store, token, f"http://127.0.0.1:{port}/hooks/amilia/default", proc, log_path


def test_two_processes_serve_one_port_survive_a_killed_one_and_lose_nothing_acknowledged(tmp_path):
    store, token, url, proc, log_path = _two_process_gateway(tmp_path)
    burst = Burst(url, token, workers=12, per_worker=40, note_bytes=400, reconnect_every=8)
    acked = burst.acked
    try:
        # new connections now and then: the kernel spreads them over both processes
        first = _wait_for(lambda: len(_children(proc)) == 2 and _children(proc))
        burst.start().wait_acked(100)
        os.kill(first[0], signal.SIGKILL)  # one process dies mid-burst: its calls in flight may fail
        burst.join(60)
        # the parent starts another; the port was served all along by the other one
        second = _wait_for(lambda: len(_children(proc)) == 2 and first[0] not in _children(proc)
                           and _children(proc))
        assert first[1] in second
        after = body_of(envelope(payload={"Id": 999_999}))
        assert httpx.post(url, params={"token": token}, content=after, timeout=10).status_code == 200
        acked.append(sha(after))
        assert f"(pid {first[0]}) was killed by signal 9; starting it again" in log_path.read_text()
        proc.send_signal(signal.SIGTERM)  # graceful: every process finishes and exits, the parent with 0
        assert proc.wait(30) == 0, log_path.read_text()
        assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                       for pid in second)
    finally:
        if proc.poll() is None:
            for pid in _children(proc):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
    stored = {e.event_id for e in list_events(source="amilia", limit=10_000, url=store)}
    assert len(acked) >= 400, f"only {len(acked)} of 481 calls were acknowledged ({len(burst.failed)} failed)"
    assert set(acked) <= stored, f"{len(set(acked) - stored)} acknowledged deliveries lost"
    assert "Traceback" not in log_path.read_text()


def test_when_the_supervisor_is_killed_its_processes_stop_and_keep_what_they_acknowledged(tmp_path):
    store, token, url, proc, log_path = _two_process_gateway(tmp_path)
    burst = Burst(url, token, workers=8, per_worker=60)
    children = _wait_for(lambda: len(_children(proc)) == 2 and _children(proc))
    try:
        burst.start().wait_acked(60)
        os.kill(proc.pid, signal.SIGKILL)  # the supervisor dies: the kernel tells its children to stop
        proc.wait(10)
        burst.join(60)
        _wait_for(lambda: not any(psutil.pid_exists(pid) for pid in children), timeout=30)
    finally:
        for pid in children:
            if psutil.pid_exists(pid):
                os.kill(pid, signal.SIGKILL)
    stored = {e.event_id for e in list_events(source="amilia", limit=10_000, url=store)}
    assert set(burst.acked) <= stored, f"{len(set(burst.acked) - stored)} acknowledged deliveries lost"
    assert "Shutting down" in log_path.read_text()  # uvicorn's graceful stop, not a kill
