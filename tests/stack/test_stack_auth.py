"""The Prefect server's door: `passerelle up --auth` on free ports (one stack for the module).

The API refuses callers without the stack's `user:password` (Blocks' secrets are readable with
`include_secrets=true`), while every process of the stack — worker, gateway nudge, deploy, seed — and the CLI
(through stack.env, mode 0600) use it: an Amilia webhook still triggers a drain run the worker completes, and
no log holds a 401. The tests run in file order: the deliberate unauthenticated calls come after the log check.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from passerelle.cli import prefect_env
from tests.stack.support import AUTH_VARS, ROOT, running_stack, without_retried_locks

BIN = Path(sys.executable).parent
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
# What a client refused by the server, or a server refusing a client, writes in a log.
REFUSED = re.compile(r"\b401\b|Unauthorized|Traceback|Invalid token|connection rejected|Auth required|"
                     r"Unable to connect to the events WebSocket|could not nudge")


@dataclass
class Stack:
    env: dict[str, str]
    api: str
    gateway: str
    sandbox: str
    hook_url: str
    home: Path
    auth_string: str
    up_output: str

    @property
    def auth(self) -> tuple[str, str]:
        user, _, password = self.auth_string.partition(":")
        return user, password

    def call(self, method: str, path: str, **kwargs) -> httpx.Response:
        """An authenticated call, retried on the SQLite-backed server's 503 as Prefect's client does."""
        for attempt in range(30):
            response = httpx.request(method, f"{self.api}{path}", auth=self.auth, timeout=30, **kwargs)
            if response.status_code != 503:
                return response
            time.sleep(min(5, 0.5 * (attempt + 1)))
        return response

    def log(self, name: str) -> str:
        path = self.home / "stack" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def cli_env(self) -> dict[str, str]:
        """A shell with none of the stack's settings: the CLI must find them (and the auth) in stack.env."""
        return {k: v for k, v in self.env.items() if not k.startswith("PREFECT_")}


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("auth-stack-home"), "--auth", persons=100,
                       drop_env=AUTH_VARS) as up:  # `up` generates the auth string
        auth_string = prefect_env.read_stack_env(up.home).get("PREFECT_API_AUTH_STRING", "")
        yield Stack(up.env, f"http://127.0.0.1:{up.ports['prefect']}/api", f"http://127.0.0.1:{up.ports['gateway']}",
                    f"http://127.0.0.1:{up.ports['sandbox']}", up.hook_url, up.home, auth_string, up.output)


def test_the_auth_string_is_generated_into_a_private_stack_env_and_never_printed(stack: Stack):
    path = stack.home / "stack" / "stack.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    user, password = stack.auth
    assert user == "admin" and len(password) >= 32, "no generated `admin:<random>` in stack.env"
    assert "Basic auth is on" in stack.up_output and str(path) in stack.up_output.replace("\n", "")
    assert password not in stack.up_output
    for log in (stack.home / "stack").glob("*.log"):
        assert password not in log.read_text(errors="replace"), f"{log.name} holds the password"


def test_the_api_answers_the_stack_auth_string(stack: Stack):
    found = stack.call("POST", "/block_documents/filter", json={"include_secrets": False})
    assert found.status_code == 200, found.text
    assert {"amilia-credentials", "cyberimpact-credentials"} <= {b["block_type"]["slug"] for b in found.json()}
    settings = stack.call("GET", "/admin/settings")
    assert settings.status_code == 200 and settings.json()["home"] == str(stack.home / "prefect")


def test_the_cli_uses_the_auth_string_from_stack_env(stack: Stack):
    done = subprocess.run([str(BIN / "passerelle"), "deploy", "--strict-only"], cwd=ROOT, env=stack.cli_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
    assert f"Prefect API: {stack.api} (the stack started by `passerelle up`)" in done.stderr, done.stderr
    # `make prefect ARGS="deployment ls"` sources the same file
    script = f'set -a; . "{stack.home}/stack/stack.env"; set +a; exec "{BIN}/prefect" deployment ls'
    listed = subprocess.run(["sh", "-c", script], cwd=ROOT, env=stack.cli_env(), capture_output=True, text=True,
                            timeout=120)
    assert listed.returncode == 0 and "amilia-webhooks" in listed.stdout, listed.stdout + listed.stderr


def test_a_webhook_nudges_prefect_and_the_worker_completes_the_triggered_run(stack: Stack):
    amilia = httpx.get(f"{stack.sandbox}/_sandbox/amilia/state", timeout=30).json()
    person = next(p for p in amilia["persons"] if p["Email"] and not p["IsChild"] and not p["IsArchived"])
    deployment = next(d["id"] for d in stack.call("POST", "/deployments/filter", json={}).json()
                      if d["name"] == "amilia-webhooks")
    body = {"deployments": {"id": {"any_": [deployment]}}, "sort": "EXPECTED_START_TIME_DESC"}
    before = {r["id"] for r in stack.call("POST", "/flow_runs/filter", json=body).json()}
    fired = httpx.post(f"{stack.sandbox}/_sandbox/amilia/webhooks/fire", timeout=60, json={
        "url": stack.hook_url, "events": [{"Context": "Person", "Action": "Create", "Id": person["Id"]}]})
    assert fired.json()["sent"] == 1, fired.text
    deadline, run = time.monotonic() + 180, None
    while time.monotonic() < deadline and run is None:
        run = next((r for r in stack.call("POST", "/flow_runs/filter", json=body).json() if r["id"] not in before
                    and (r.get("created_by") or {}).get("type") == "AUTOMATION"), None)
        time.sleep(1)
    assert run, f"no amilia-webhooks run was created by the event trigger; gateway log:\n{stack.log('gateway')}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and run["state"]["type"] not in TERMINAL:
        time.sleep(1)
        run = stack.call("GET", f"/flow_runs/{run['id']}").json()
    assert run["state"]["type"] == "COMPLETED", (run["state"], stack.log("worker")[-3000:])
    members = httpx.get(f"{stack.sandbox}/_sandbox/cyberimpact/state", timeout=30).json()["members"]
    assert person["Email"].lower() in {m["email"] for m in members}


def test_no_process_of_the_stack_was_refused(stack: Stack):
    """Worker, gateway, flow runs and the server: nobody met a 401 (nor a traceback)."""
    for name in ("prefect-server", "worker", "gateway"):
        log = without_retried_locks(stack.log(name))
        found = REFUSED.search(log)
        assert not found, f"{name}.log: {log[max(0, found.start() - 1500):found.end() + 1500]}"


def test_callers_without_the_auth_string_are_refused(stack: Stack):
    """Last: these deliberate refusals may be logged by the server."""
    secrets = httpx.post(f"{stack.api}/block_documents/filter", json={"include_secrets": True}, timeout=30)
    assert secrets.status_code == 401, secrets.text
    assert "password" not in secrets.text
    assert httpx.get(f"{stack.api}/admin/settings", timeout=30).status_code == 401
    wrong = httpx.get(f"{stack.api}/admin/settings", auth=("admin", "not-the-password"), timeout=30)
    assert wrong.status_code == 401
    assert httpx.get(f"{stack.api}/health", timeout=30).status_code == 200, "health probes stay open"
    refused = subprocess.run([str(BIN / "prefect"), "deployment", "ls"], cwd=ROOT, timeout=120, text=True,
                             capture_output=True, env={**stack.cli_env(), "PREFECT_API_URL": stack.api,
                                                       "PREFECT_HOME": str(stack.home / "prefect")})
    assert refused.returncode != 0 and "401" in refused.stdout + refused.stderr, refused.stdout + refused.stderr


def test_the_events_websocket_refuses_a_wrong_token(stack: Stack):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = stack.api.replace("http://", "ws://") + "/events/in"
    with connect(url, subprotocols=["prefect"], open_timeout=30) as socket:
        socket.send(json.dumps({"type": "auth", "token": "admin:not-the-password"}))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
