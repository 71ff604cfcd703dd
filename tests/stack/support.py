"""Starting and stopping a real `passerelle up` stack for a test module, the way a user's shell would, and checking
that `passerelle down` leaves nothing behind (no process, no settings file, nothing written to ~)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from passerelle.cli import loadbalancer
from sandbox.server import free_port

ROOT = Path(__file__).resolve().parents[2]
PASSERELLE = str(Path(sys.executable).with_name("passerelle"))
AUTH_VARS = ("PREFECT_API_AUTH_STRING", "PREFECT_SERVER_API_AUTH_STRING", "PREFECT_API_KEY")
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
SUBMITTED = re.compile(r"Worker '([^']+)' submitting flow run '([0-9a-f-]+)'")
ABORTED = re.compile(r"Aborted submission of flow run '([0-9a-f-]+)'")


@dataclass
class Started:
    """A stack `passerelle up` started: its home, environment, ports, output and Amilia receiver URL."""

    home: Path
    env: dict[str, str]
    ports: dict[str, int]
    output: str
    hook_url: str


def pids(home: Path) -> list[int]:
    return [int(p.read_text()) for p in (home / "stack").glob("*.pid")]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat_file = Path(f"/proc/{pid}/stat")
    return not (stat_file.exists() and stat_file.read_text().split()[2] == "Z")


@contextmanager
def running_stack(home: Path, *flags: str, persons: int = 300, extra_env: dict[str, str] | None = None,
                  drop_env: tuple[str, ...] = (), replicas: int = 0, down_flags: tuple[str, ...] = ()
                  ) -> Iterator[Started]:
    """`passerelle up` on free ports with PASSERELLE_HOME=`home` and HOME pointing into it (nothing may write to
    ~/.prefect), then `passerelle down`, asserting it stopped every process it started and removed stack.env.

    `replicas`: that many gateway replica ports too (`--replica-ports`, with `--production-like`); `down_flags`:
    given to `passerelle down` (e.g. `--drop`)."""
    ports = {name: free_port() for name in ("prefect", "sandbox", "gateway")}
    ports.update({f"replica-{i}": free_port() for i in range(1, replicas + 1)})
    replica_args = ["--replica-ports", ",".join(str(ports[f"replica-{i}"]) for i in range(1, replicas + 1))]
    user_home = home / "user-home"
    user_home.mkdir()
    env = {**os.environ, "PASSERELLE_HOME": str(home), "PREFECT_WORKER_QUERY_SECONDS": "2",
           "PASSERELLE_GATEWAY_NUDGE_SECONDS": "0.5", "HOME": str(user_home), **(extra_env or {})}
    for name in ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_PROFILES_PATH", *drop_env):  # as a user's shell
        env.pop(name, None)
    up = subprocess.run([PASSERELLE, "up", *flags, "--prefect-port", str(ports["prefect"]), "--sandbox-port",
                         str(ports["sandbox"]), "--gateway-port", str(ports["gateway"]), "--persons", str(persons),
                         *(replica_args if replicas else [])],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    try:
        assert up.returncode == 0, f"passerelle up failed:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}"
        hook = re.search(r"(http://\S+/hooks/amilia/default\?token=\S+)", up.stdout.replace("\n", ""))
        assert hook, f"no receiver URL printed:\n{up.stdout}"
        yield Started(home, env, ports, up.stdout + up.stderr, hook.group(1))
    finally:
        started = pids(home)
        down = subprocess.run([PASSERELLE, "down", *down_flags], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=120)
        assert down.returncode == 0, down.stdout + down.stderr
        assert started and not [pid for pid in started if alive(pid)], "passerelle down left processes behind"
        assert not pids(home)
        assert not (home / "stack" / "stack.env").exists(), "passerelle down left the stack's settings file"
        assert not list((home / "stack").glob("haproxy.*")), "passerelle down left the load balancer's files"
        assert not (user_home / ".prefect").exists(), "something wrote to ~/.prefect"


# Prefect's server on SQLite: its trigger service reads an automation bucket, then writes it, in one deferred
# transaction; when another writer committed in between, SQLite answers "database is locked" at once (waiting
# cannot help a read transaction that must become a write one). Prefect logs it with its traceback and puts the
# event back on its queue (prefect/server/utilities/messaging/memory.py: `_consume_loop` → `retry`), so nothing
# is lost. That one, and only that one, is tolerated in a stack's server log (docs/deployment.md, "Prefect on
# SQLite"); production runs Prefect on PostgreSQL.
# The same lock, met by the worker channel persisting a worker's heartbeat on a busy machine: Prefect logs it, closes
# that channel (prefect/server/utilities/worker_channel.py) and the worker opens a new one; no run is affected.
_RETRIED_LOCK = re.compile(
    r"^[^\n]*(?:prefect\.server\.utilities\.messaging\.memory - Failed in consume_loop|"
    r"prefect\.server\.utilities\.worker_channel - Worker channel heartbeat persistence failed:[^\n]*)\n"
    r"Traceback \(most recent call last\):\n(?:(?:[ \t][^\n]*|The above exception[^\n]*|Traceback[^\n]*|"
    r"sqlite3\.OperationalError: database is locked|)\n)*?"
    r"sqlalchemy\.exc\.OperationalError: \(sqlite3\.OperationalError\) database is locked\n"
    r"(?:[ \t(\[][^\n]*\n)*", re.MULTILINE)


def without_retried_locks(log: str) -> str:
    """A Prefect server log without the retried "database is locked" tracebacks of its trigger service and worker
    channel."""
    return _RETRIED_LOCK.sub("", log)


def unexpected_tracebacks(log: str) -> list[str]:
    """The tracebacks of a Prefect server log, minus the retried "database is locked" of its trigger service."""
    rest = without_retried_locks(log)
    return [rest[max(0, i - 300):i + 3000] for i in (m.start() for m in re.finditer("Traceback", rest))]


@dataclass
class ProductionStack:
    """A stack whose Prefect API requires basic auth, with a load balancer (`up --production-like`)."""

    home: Path
    api: str
    auth: tuple[str, str]
    sandbox: str
    hook_url: str
    store_url: str
    prefect_db: str

    def call(self, method: str, path: str, **kwargs) -> httpx.Response:
        return httpx.request(method, f"{self.api}{path}", auth=self.auth, timeout=60, **kwargs)

    def deployment_id(self, name: str) -> str:
        found = self.call("POST", "/deployments/filter", json={"deployments": {"name": {"any_": [name]}}}).json()
        return found[0]["id"]

    def flow_runs(self, deployment: str, state: str) -> list[dict]:
        """The deployment's runs in `state` (e.g. COMPLETED), newest first."""
        body = {"deployments": {"id": {"any_": [self.deployment_id(deployment)]}}, "sort": "START_TIME_DESC",
                "flow_runs": {"state": {"type": {"any_": [state]}}}, "limit": 200}
        return self.call("POST", "/flow_runs/filter", json=body).json()

    def wait_run(self, run_id: str, timeout: float = 240) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.call("GET", f"/flow_runs/{run_id}").json()
            if run["state"]["type"] in TERMINAL:
                return run
            time.sleep(1)
        raise AssertionError(f"flow run {run_id} did not finish within {timeout} s")

    def ran_by(self, run_ids: list[str]) -> dict[str, str]:
        """Which worker ran each run, from the workers' logs: both may submit a run, the one the server refuses
        logs "Aborted submission" (Prefect's orchestration lets one run go Pending once)."""
        found: dict[str, str] = {}
        for path in sorted((self.home / "stack").glob("worker-*.log")):
            text = path.read_text(errors="replace")
            aborted = set(ABORTED.findall(text))
            for worker, run_id in SUBMITTED.findall(text):
                if run_id in run_ids and run_id not in aborted:
                    found[run_id] = worker
        return found

    def log(self, name: str) -> str:
        return (self.home / "stack" / f"{name}.log").read_text(errors="replace")

    def pid(self, name: str) -> int:
        return int((self.home / "stack" / f"{name}.pid").read_text())

    def stats(self) -> dict[str, dict[str, str]]:
        return loadbalancer.server_stats(self.home / "stack" / loadbalancer.STATS_SOCKET)
