"""The Prefect way, end to end: `passerelle up` (real Prefect server, work pool, worker, `prefect deploy
--all`, gateway, sandbox), runs started over Prefect's REST API, from an event trigger and from the UI's run
form in a real browser, then `passerelle down` leaving no process behind.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.stack.support import PASSERELLE, ROOT, running_stack, unexpected_tracebacks

SCREENSHOTS = ROOT / "tests" / "_artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass
class Stack:
    env: dict[str, str]
    prefect: str
    gateway: str
    sandbox: str
    hook_url: str
    home: Path

    @property
    def api(self) -> str:
        return f"{self.prefect}/api"

    def deployment_id(self, name: str) -> str:
        found = prefect_call("POST", f"{self.api}/deployments/filter", json={}).json()
        return next(d["id"] for d in found if d["name"] == name)

    def flow_runs(self, deployment: str) -> list[dict]:
        body = {"deployments": {"id": {"any_": [self.deployment_id(deployment)]}}, "sort": "EXPECTED_START_TIME_DESC"}
        return prefect_call("POST", f"{self.api}/flow_runs/filter", json=body).json()

    def wait_run(self, run_id: str, timeout: float = 240) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = prefect_call("GET", f"{self.api}/flow_runs/{run_id}").json()
            if run["state"]["type"] in TERMINAL:
                return run
            time.sleep(1)
        raise AssertionError(f"flow run {run_id} did not finish within {timeout} s")

    def progress_artifact(self, run_id: str, below: float, timeout: float = 120) -> dict:
        """The run's progress artifact once its percent is below `below` (a sync still running: < 100)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = prefect_call("POST", f"{self.api}/artifacts/filter", json={
                "artifacts": {"flow_run_id": {"any_": [run_id]}, "type": {"any_": ["progress"]}}}).json()
            if found and float(found[0]["data"]) < below:
                return found[0]
            time.sleep(0.3)
        raise AssertionError(f"no progress artifact below {below} % for run {run_id} within {timeout} s")

    def server_log(self) -> str:
        return (self.home / "stack" / "prefect-server.log").read_text(errors="replace")

    def members(self) -> list[dict]:
        return httpx.get(f"{self.sandbox}/_sandbox/cyberimpact/state", timeout=30).json()["members"]


def prefect_call(method: str, url: str, **kwargs) -> httpx.Response:
    """A call to the SQLite-backed Prefect server, which answers write bursts with 503 (DESIGN.md): retried
    the way Prefect's own client does."""
    for attempt in range(30):
        response = httpx.request(method, url, timeout=30, **kwargs)
        if response.status_code != 503:
            return response
        time.sleep(min(5, 0.5 * (attempt + 1)))
    return response


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    # sync runs beat every 10 s and are dead after 45 s without a beat (defaults: 30 s and 120 s)
    quick = {"PASSERELLE_RUN_HEARTBEAT_SECONDS": "10", "PASSERELLE_RUN_STALE_AFTER_SECONDS": "45"}
    with running_stack(tmp_path_factory.mktemp("stack-home"), persons=300, extra_env=quick) as up:
        yield Stack(up.env, f"http://127.0.0.1:{up.ports['prefect']}", f"http://127.0.0.1:{up.ports['gateway']}",
                    f"http://127.0.0.1:{up.ports['sandbox']}", up.hook_url, up.home)


def test_up_deploys_every_flow(stack: Stack):
    names = {d["name"] for d in prefect_call("POST", f"{stack.api}/deployments/filter", json={}).json()}
    assert {"amilia-initial-sync", "amilia-webhooks", "amilia-reconcile"} <= names
    assert httpx.get(f"{stack.gateway}/healthz", timeout=10).status_code == 200


def test_flow_run_created_over_the_rest_api_completes(stack: Stack):
    deployment = stack.deployment_id("amilia-initial-sync")
    created = prefect_call("POST", f"{stack.api}/deployments/{deployment}/create_flow_run",
                           json={"parameters": {"link": "default"}})
    assert created.status_code == 201, created.text
    run = stack.wait_run(created.json()["id"])
    assert run["state"]["type"] == "COMPLETED", run["state"]
    assert len([m for m in stack.members() if m["status"] == "active"]) > 50


def test_bad_parameters_are_refused_when_the_run_is_created(stack: Stack):
    deployment = stack.deployment_id("amilia-initial-sync")
    for parameters, field in (({"link": "default", "dryrun": True}, "dryrun"),
                              ({"link": "default", "as_of": "2026-13-45"}, "as_of")):
        created = prefect_call("POST", f"{stack.api}/deployments/{deployment}/create_flow_run",
                               json={"parameters": parameters})
        assert created.status_code == 409, created.text
        assert field in created.text


def test_a_run_for_a_link_that_does_not_exist_fails_with_the_fix_in_its_message(stack: Stack):
    deployment = stack.deployment_id("amilia-initial-sync")
    created = prefect_call("POST", f"{stack.api}/deployments/{deployment}/create_flow_run",
                           json={"parameters": {"link": "nope"}})
    assert created.status_code == 201, created.text
    run = stack.wait_run(created.json()["id"])
    assert run["state"]["type"] == "FAILED", run["state"]
    message = run["state"]["message"]
    assert "passerelle connect amilia --name nope" in message and len(message) < 400, message


def test_webhook_accepted_by_the_gateway_triggers_the_processing_deployment(stack: Stack):
    amilia = httpx.get(f"{stack.sandbox}/_sandbox/amilia/state", timeout=30).json()
    person = next(p for p in amilia["persons"] if p["Email"] and not p["IsChild"] and not p["IsArchived"])
    before = {r["id"] for r in stack.flow_runs("amilia-webhooks")}
    fired = httpx.post(f"{stack.sandbox}/_sandbox/amilia/webhooks/fire", timeout=60, json={
        "url": stack.hook_url, "events": [{"Context": "Person", "Action": "Create", "Id": person["Id"]}]})
    assert fired.json()["sent"] == 1, fired.text
    deadline = time.monotonic() + 180
    triggered = None
    while time.monotonic() < deadline and triggered is None:
        for run in stack.flow_runs("amilia-webhooks"):
            if run["id"] not in before and (run.get("created_by") or {}).get("type") == "AUTOMATION":
                triggered = run
        time.sleep(1)
    assert triggered, "no amilia-webhooks run was created by the event trigger"
    assert stack.wait_run(triggered["id"])["state"]["type"] == "COMPLETED"
    emails = {m["email"] for m in stack.members()}
    assert person["Email"].lower() in emails


def browser_or_skip():
    """Playwright's sync API, with Debian's Chromium present (required when PASSERELLE_REQUIRE_BROWSER is set)."""
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        if os.environ.get("PASSERELLE_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is required here (PASSERELLE_REQUIRE_BROWSER) but missing")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); .ci/run installs it")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return playwright


def test_initial_sync_started_from_the_ui_run_form_completes(stack: Stack):
    playwright = browser_or_skip()
    before = {r["id"] for r in stack.flow_runs("amilia-initial-sync")}
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{stack.prefect}/deployments", wait_until="networkidle")
        for name in ("amilia-initial-sync", "amilia-webhooks", "amilia-reconcile"):
            page.get_by_role("link", name=name).first.wait_for(timeout=30_000)
        page.screenshot(path=str(SCREENSHOTS / "1-deployments.png"))
        page.get_by_role("link", name="amilia-initial-sync").first.click()
        run_button = page.get_by_role("button", name="Run", exact=True)
        run_button.wait_for(timeout=30_000)
        run_button.click()
        page.get_by_text("Custom run", exact=True).click()
        page.wait_for_url("**/run**", timeout=30_000)
        page.get_by_text("Read everything and report what would change").wait_for(timeout=30_000)
        page.screenshot(path=str(SCREENSHOTS / "2-run-form.png"), full_page=True)
        # Slow Cyberimpact down so that the sync is still running while the UI is looked at.
        httpx.put(f"{stack.sandbox}/_sandbox/faults", json={"cyberimpact": {"latency_ms": 150}},
                  timeout=10).raise_for_status()
        try:
            submit = page.get_by_role("button", name="Submit", exact=True)
            submit.wait_for(timeout=30_000)
            # Once the server created the run, the UI leaves the form for the deployment's page. A click that
            # lands while the form is still settling does nothing (seen on a loaded machine): click again.
            for attempt in range(4):
                if not re.search(r"/run(\?|$)", page.url):  # left the form: the run was created
                    break
                submit.click()
                try:
                    page.wait_for_url(re.compile(r"/deployments/deployment/[^/?]+(\?.*)?$"), timeout=20_000)
                except Exception:
                    page.screenshot(path=str(SCREENSHOTS / f"2-run-form-click-{attempt}.png"), full_page=True)
            deadline, new = time.monotonic() + 120, []
            while time.monotonic() < deadline and not new:
                new = [r for r in stack.flow_runs("amilia-initial-sync") if r["id"] not in before]
                time.sleep(0.5)
            if not new:
                page.screenshot(path=str(SCREENSHOTS / "2-run-form-submitted.png"), full_page=True)
            assert new, "submitting the run form created no flow run"
            running = stack.progress_artifact(new[0]["id"], below=100)
            page.goto(f"{stack.prefect}/runs/flow-run/{new[0]['id']}", wait_until="networkidle")
            page.get_by_text("Artifacts", exact=True).first.click()
            page.get_by_text(running["key"]).first.wait_for(timeout=30_000)
            page.screenshot(path=str(SCREENSHOTS / "3-run-progress.png"), full_page=True)
            run = stack.wait_run(new[0]["id"])
        finally:
            httpx.put(f"{stack.sandbox}/_sandbox/faults", json={"cyberimpact": {}}, timeout=10)
        assert run["state"]["type"] == "COMPLETED", run["state"]
        assert stack.progress_artifact(run["id"], below=101)["data"] == 100
        page.goto(f"{stack.prefect}/runs/flow-run/{run['id']}", wait_until="networkidle")
        page.get_by_text("Completed").first.wait_for(timeout=30_000)
        page.screenshot(path=str(SCREENSHOTS / "4-run-completed.png"), full_page=True)
        browser.close()


def test_cli_talks_to_the_running_stack(stack: Stack):
    """`connect` then `sync --dry-run` with no extra environment variable: the Blocks land in the stack's
    Prefect (its UI lists them), and the CLI says which Prefect API it talks to."""
    amilia = httpx.get(f"{stack.sandbox}/_sandbox/amilia/state", timeout=30).json()
    cyberimpact = httpx.get(f"{stack.sandbox}/_sandbox/cyberimpact/state", timeout=30).json()
    user = amilia["credentials"][0]
    env = {k: v for k, v in stack.env.items() if not k.startswith("PREFECT_")}
    commands = [
        ["connect", "amilia", "--name", "my-club", "--username", user["username"], "--organization",
         str(amilia["organization"]["Id"]), "--base-url", f"{stack.sandbox}/amilia/api/V3"],
        ["connect", "cyberimpact", "--name", "my-club", "--base-url", f"{stack.sandbox}/cyberimpact"],
        ["sync", "amilia", "--link", "my-club", "--dry-run"],
    ]
    secrets = {"AMILIA_PASSWORD": user["password"], "CYBERIMPACT_API_TOKEN": cyberimpact["tokens"][0]}
    for args in commands:
        done = subprocess.run([PASSERELLE, *args], cwd=ROOT, env={**env, **secrets}, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        assert f"Prefect API: {stack.api}" in done.stderr, done.stderr
    names = {(b["name"], b["block_type"]["slug"]) for b in prefect_call(
        "POST", f"{stack.api}/block_documents/filter", json={"include_secrets": False}).json()}
    assert {("my-club", "amilia-credentials"), ("my-club", "cyberimpact-credentials")} <= names


def test_interval_schedule_produces_runs_that_the_worker_completes(stack: Stack):
    """The `amilia-webhooks` deployment's every-minute schedule: Prefect's scheduler creates runs and the
    stack's worker completes them (SQLAlchemy 2.1 once broke the scheduler: no run was ever created)."""
    deadline = time.monotonic() + 240
    completed: list[dict] = []
    while time.monotonic() < deadline and not completed:
        completed = [r for r in stack.flow_runs("amilia-webhooks")
                     if r.get("auto_scheduled") and r["state"]["type"] == "COMPLETED"]
        time.sleep(2)
    runs = [(r["name"], r["state"]["type"], r.get("auto_scheduled")) for r in stack.flow_runs("amilia-webhooks")]
    assert completed, f"no scheduled amilia-webhooks run completed within 4 minutes: {runs}"
    assert not unexpected_tracebacks(stack.server_log())


def _flow_run_pids(run_id: str) -> list[int]:
    """The processes running a flow run (Prefect gives them PREFECT__FLOW_RUN_ID)."""
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"PREFECT__FLOW_RUN_ID={run_id}".encode() in environ.read_bytes().split(b"\0"):
                pids.append(int(environ.parent.name))
        except OSError:
            continue
    return pids


def _store_row(home: Path, flow_run_id: str) -> tuple[str, str] | None:
    """(status, error) of the store's sync-run row of a flow run, read as it is (no reaping on read)."""
    import sqlite3

    with sqlite3.connect(home / "passerelle.db", timeout=30) as db:
        return db.execute("SELECT status, error FROM sync_run WHERE flow_run_id = ?", (flow_run_id,)).fetchone()


def test_a_run_whose_machine_died_turns_crashed_and_the_next_run_of_its_link_starts(stack: Stack):
    """Hardening issue, part 5: the worker and the flow's process killed with SIGKILL (a lost machine or
    container). Prefect's run turns Crashed (heartbeats stop; the `crash-silent-flow-runs` automation of
    prefect.yaml), the store's run row turns crashed (its own heartbeat stops; the drain's every-minute run
    records it), and a new initial sync of the link runs to completion once a worker is back."""
    from passerelle.cli import prefect_env

    slow = {"latency_ms": 20_000}  # every vendor call takes 20 s: the run is still at its first calls when killed
    httpx.put(f"{stack.sandbox}/_sandbox/faults", json={"amilia": slow, "cyberimpact": slow},
              timeout=10).raise_for_status()
    try:
        run = prefect_call("POST", f"{stack.api}/deployments/{stack.deployment_id('amilia-initial-sync')}"
                           "/create_flow_run", json={"parameters": {"link": "default"}}).json()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not (_flow_run_pids(run["id"]) and _store_row(stack.home, run["id"])):
            time.sleep(0.5)
        assert _store_row(stack.home, run["id"]) == ("running", None), "the run never started"
        time.sleep(5)  # its first heartbeat reaches Prefect
        worker_pid = int((stack.home / "stack" / "worker.pid").read_text())
        os.killpg(worker_pid, 9)
        for pid in _flow_run_pids(run["id"]):
            os.kill(pid, 9)
        killed_at = time.monotonic()
    finally:
        httpx.put(f"{stack.sandbox}/_sandbox/faults", json={"amilia": {}, "cyberimpact": {}}, timeout=10)
    # a worker again (as a restarted machine would start one), stopped by `passerelle down` through its PID file
    env = {**stack.env, **prefect_env.read_stack_env(stack.home)}
    log = open(stack.home / "stack" / "worker.log", "ab")  # noqa: SIM115 - handed to the worker
    worker = subprocess.Popen([str(Path(sys.executable).with_name("prefect")), "worker", "start", "--pool",
                               "passerelle"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    (stack.home / "stack" / "worker.pid").write_text(str(worker.pid))

    crashed = stack.wait_run(run["id"], timeout=240)
    assert crashed["state"]["type"] == "CRASHED", crashed["state"]
    assert "No heartbeat for 90 s" in crashed["state"]["message"]
    assert time.monotonic() - killed_at < 240
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and _store_row(stack.home, run["id"])[0] == "running":
        time.sleep(2)
    status, error = _store_row(stack.home, run["id"])
    assert status == "crashed" and "the process running it died" in error

    again = prefect_call("POST", f"{stack.api}/deployments/{stack.deployment_id('amilia-initial-sync')}"
                         "/create_flow_run", json={"parameters": {"link": "default"}}).json()
    done = stack.wait_run(again["id"], timeout=300)
    assert done["state"]["type"] == "COMPLETED", done["state"]
    assert "Another initial sync" not in (done["state"]["message"] or "")
    assert _store_row(stack.home, again["id"])[0] == "completed"


def test_block_catalog_in_the_ui_offers_every_apps_credentials(stack: Stack):
    """`passerelle deploy` registers every app's credentials Block type: the UI's block catalog shows their
    cards (name and description), where a user creates a connection from the browser."""
    playwright = browser_or_skip()
    cards = {"Amilia Credentials": "Username, password and organisation of an Amilia (SmartRec) account",
             "Cyberimpact Credentials": "API token of a Cyberimpact account"}
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{stack.prefect}/blocks/catalog", wait_until="networkidle")
        search = page.get_by_placeholder("Search blocks")
        search.wait_for(timeout=30_000)
        for name, description in cards.items():
            search.fill(name)  # the catalog filters its cards by name as one types
            page.get_by_text(name, exact=True).first.wait_for(timeout=30_000)
            page.get_by_text(description).first.wait_for(timeout=30_000)
            page.screenshot(path=str(SCREENSHOTS / f"5-catalog-{name.split()[0].lower()}.png"), full_page=True)
        browser.close()


def test_prefect_server_log_has_no_traceback(stack: Stack):
    """Last in this module: everything above ran on this server; its log must hold no traceback."""
    log = stack.server_log()
    unexpected = unexpected_tracebacks(log)
    assert not unexpected, unexpected[0]
