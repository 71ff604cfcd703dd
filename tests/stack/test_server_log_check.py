"""The stack tests' server-log check: every traceback fails it except Prefect's retried "database is locked" of
its trigger service on SQLite (a real one, from a stack's log, in tests/stack/data/retried_lock.log)."""

from __future__ import annotations

from pathlib import Path

from tests.stack.support import unexpected_tracebacks

RETRIED = (Path(__file__).parent / "data" / "retried_lock.log").read_text()
OTHER = """12:00:01.000 | ERROR   | prefect.server.services.scheduler - Unexpected error
Traceback (most recent call last):
  File "/x/prefect/server/services/scheduler.py", line 10, in run
    raise AttributeError("'Select' object has no attribute 'scalar'")
AttributeError: 'Select' object has no attribute 'scalar'
"""


def test_the_retried_lock_of_the_trigger_service_is_tolerated():
    assert "Traceback" in RETRIED and "Failed in consume_loop" in RETRIED
    assert unexpected_tracebacks(RETRIED) == []
    assert unexpected_tracebacks("startup\n" + RETRIED + RETRIED + "12:00 | INFO | ok\n") == []


def test_any_other_traceback_is_reported():
    found = unexpected_tracebacks(RETRIED + OTHER + RETRIED)
    assert len(found) == 1 and "AttributeError" in found[0]
    assert len(unexpected_tracebacks(OTHER)) == 1
    other_lock = RETRIED.replace("prefect.server.utilities.messaging.memory - Failed in consume_loop",
                                 "prefect.server.api.flow_runs - Failed to set state")
    assert len(unexpected_tracebacks(other_lock)) >= 1  # a lock anywhere else is not tolerated


def test_the_same_lock_met_by_a_worker_channel_heartbeat_is_tolerated():
    """Seen in a stack test on a loaded machine: Prefect closes that channel and the worker opens another."""
    heartbeat = RETRIED.replace("prefect.server.utilities.messaging.memory - Failed in consume_loop",
                                "prefect.server.utilities.worker_channel - Worker channel heartbeat persistence "
                                "failed: work_pool=passerelle worker_name=ProcessWorker 8f3452c5")
    assert "heartbeat persistence failed" in heartbeat and unexpected_tracebacks(heartbeat) == []
    elsewhere = heartbeat.replace("sqlite3.OperationalError) database is locked", "sqlite3.OperationalError) disk I/O")
    assert len(unexpected_tracebacks(elsewhere)) >= 1  # only the lock is tolerated
