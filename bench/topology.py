"""Benchmark of the two local topologies under the same Amilia webhook load: `passerelle up` (the single-machine
default) versus `passerelle up --production-like` (Prefect and the store on PostgreSQL, two workers, two gateway
replicas behind HAProxy, basic auth), in the same run.

    .venv/bin/python bench/topology.py [--events 3000] [--concurrency 32] [--persons 2000] [--rounds 2]
                                       [--only single|production]

For each topology, one after the other (never both at once: they would share the two cores), `--rounds` times
alternately (the medians are the headline: when the first drain starts swings the end-to-end figure):
1. `passerelle up [--production-like]` on free ports, in a temporary PASSERELLE_HOME (the production-like one on
   databases of its own, dropped by `passerelle down --drop` at the end); every setting at its default.
2. The initial sync of link `default`, started over Prefect's REST API, to completion.
3. The same `--events` Amilia deliveries (bench/amilia_events.py's mix, same seed: new, changed and cancelled
   registrations, new and changed persons, purchases, deletions), the emulator's state changed first and each
   payload rendered by its API, are POSTed to the stack's receiver URL (the gateway, or HAProxy) by wrk, each body
   once, `--concurrency` connections (without wrk: an asyncio client, said in the output).
4. **Ingest** events/s: deliveries / the time until wrk had them all answered. **End to end**: deliveries / (first
   sent → last applied, the inbox's `done_at`), by the drains the deployment starts (nudge, trigger, schedule).
5. CPU seconds of each part of the stack (processes and their children, flow runs included), of every `postgres`
   process and of the load generator, over both windows, and the whole machine's busy share.
Writes bench/results/topology.json; the last line printed is the headline."""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from types import SimpleNamespace
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, ROOT, log, machine  # noqa: E402
from _wrk import wrk_path  # noqa: E402

from passerelle.cli import prefect_env  # noqa: E402
from sandbox.server import free_port  # noqa: E402

PASSERELLE = str(Path(sys.executable).with_name("passerelle"))
POSTGRES = os.environ.get("PASSERELLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CLEAN = ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_PROFILES_PATH", "PASSERELLE_DATABASE_URL",
         "PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_API_AUTH_STRING", "PREFECT_SERVER_API_AUTH_STRING")
PARTS = {"prefect-server": "Prefect server", "worker": "worker (and its flow runs)", "worker-1": "worker 1 (+ runs)",
         "worker-2": "worker 2 (+ runs)", "gateway": "gateway", "gateway-1": "gateway replica 1",
         "gateway-2": "gateway replica 2", "loadbalancer": "HAProxy", "sandbox": "sandbox (the vendors)"}
# wrk sends each line of BODIES once, in order, and writes DONE once all are answered (the parent then stops wrk with
# SIGINT). Idle connections ask /healthz every 50 ms (answers `{"status": …}` not counted). wrk 4.1 calls request()
# once without sending its result: that first call gets a /healthz, never a body.
LUA = """
local bodies, calls, sent, answered, path, total = {}, 0, 0, 0, nil, 0
local threads = {}
statuses = {}
function setup(thread) table.insert(threads, thread) end
local marker
function init(args)
  path, marker = args[1], args[3]
  for line in io.lines(args[2]) do bodies[#bodies + 1] = line end
  total = #bodies
end
function delay()
  if sent >= total then return 50 end
  return 0
end
function request()
  calls = calls + 1
  if calls == 1 or sent >= total then return wrk.format("GET", "/healthz") end
  sent = sent + 1
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, bodies[sent])
end
function response(status, headers, body)
  if body ~= nil and string.find(body, '"status"', 1, true) then return end
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if answered == total then
    local f = io.open(marker, "w"); f:write("done"); f:close()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local total_, out = {}, {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do total_[status] = (total_[status] or 0) + n end
  end
  for status, n in pairs(total_) do out[#out + 1] = string.format('"%d":%d', status, n) end
  io.write(string.format('RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"statuses":{%s}}\\n', summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, table.concat(out, ",")))
end
"""


# ---- a stack -----------------------------------------------------------------------------------------
class Stack:
    def __init__(self, kind: str, home: Path, persons: int) -> None:
        self.kind, self.home = kind, home
        (self.home / "user-home").mkdir(parents=True)
        self.env = {k: v for k, v in os.environ.items() if k not in CLEAN}
        self.env.update(PASSERELLE_HOME=str(self.home), HOME=str(self.home / "user-home"))
        ports = [free_port() for _ in range(5)]
        args = ["--prefect-port", str(ports[0]), "--sandbox-port", str(ports[1]), "--gateway-port", str(ports[2]),
                "--persons", str(persons)]
        self.down_args: list[str] = []
        if kind == "production":
            suffix = secrets.token_hex(3)
            server = POSTGRES.rsplit("/", 1)[0]
            args += ["--production-like", "--replica-ports", f"{ports[3]},{ports[4]}",
                     "--prefect-database-url", f"{server}/passerelle_prefect_bench_{suffix}",
                     "--store-database-url", f"{server}/passerelle_store_bench_{suffix}"]
            self.down_args = ["--drop"]
        self.sandbox = f"http://127.0.0.1:{ports[1]}"
        log(f"{kind}: passerelle up {' '.join(args[6:]) or '(defaults)'}")
        up = subprocess.run([PASSERELLE, "up", *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                            timeout=600)
        hook = re.search(r"(http://\S+/hooks/amilia/default\?token=\S+)", up.stdout.replace("\n", ""))
        if up.returncode != 0 or not hook:
            self.down()
            raise SystemExit(f"FAILED: passerelle up ({kind}):\n{up.stdout[-2000:]}\n{up.stderr[-2000:]}")
        self.hook_url = hook.group(1)
        settings = prefect_env.read_stack_env(self.home)
        self.api = settings["PREFECT_API_URL"]
        user, _, password = settings.get("PREFECT_API_AUTH_STRING", "").partition(":")
        self.auth = (user, password) if user else None
        self.store_url = settings.get("PASSERELLE_DATABASE_URL") or f"sqlite:///{self.home / 'passerelle.db'}"

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(30):  # the SQLite-backed server answers bursts with 503, as Prefect's client retries
            answer = httpx.request(method, f"{self.api}{path}", auth=self.auth, timeout=60, **kwargs)
            if answer.status_code != 503:
                return answer
            time.sleep(min(5, 0.5 * (attempt + 1)))
        return answer

    def initial_sync(self) -> None:
        found = self.call("POST", "/deployments/filter", json={"deployments": {"name": {"any_": [
            "amilia-initial-sync"]}}}).json()
        run = self.call("POST", f"/deployments/{found[0]['id']}/create_flow_run",
                        json={"parameters": {"link": "default"}}).json()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            state = self.call("GET", f"/flow_runs/{run['id']}").json()["state"]
            if state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                if state["type"] != "COMPLETED":
                    raise SystemExit(f"FAILED: the initial sync ended {state['type']}: {state['message']}")
                log(f"{self.kind}: initial sync: {state['message'][:100]}")
                return
            time.sleep(1)
        raise SystemExit("FAILED: the initial sync did not finish in 10 minutes")

    def drain_runs(self, since: float) -> dict[str, int]:
        """The `amilia-webhooks` runs due between `since` and now: how many, started by whom, how many found another
        drain of the link busy, how many had not started yet (each is a new process: its start-up costs CPU even
        when it ends at once)."""
        found = self.call("POST", "/deployments/filter", json={"deployments": {"name": {"any_": [
            "amilia-webhooks"]}}}).json()
        window = {"after_": datetime.fromtimestamp(since, UTC).isoformat(), "before_": datetime.now(UTC).isoformat()}
        runs = self.call("POST", "/flow_runs/filter", json={"limit": 200, "deployments": {"id": {"any_": [
            found[0]["id"]]}}, "flow_runs": {"expected_start_time": window}}).json()
        out = {"due": len(runs), "busy": sum("Another drain" in (r["state"].get("message") or "") for r in runs),
               "not_started": sum(r["state"]["type"] in ("SCHEDULED", "PENDING") for r in runs)}
        for run in runs:
            kind = "by_" + ((run.get("created_by") or {}).get("type") or "other").lower()
            out[kind] = out.get(kind, 0) + 1
        return out

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each process `up` started, with its children (finished ones once reaped)."""
        import psutil

        out: dict[str, float] = {}
        for pid_file in sorted((self.home / "stack").glob("*.pid")):
            try:
                proc = psutil.Process(int(pid_file.read_text()))
                times = proc.cpu_times()
                total = times.user + times.system + times.children_user + times.children_system
                for child in proc.children(recursive=True):
                    try:
                        child_times = child.cpu_times()
                        total += child_times.user + child_times.system
                    except psutil.Error:
                        pass
                out[pid_file.stem] = total
            except (psutil.Error, ValueError):
                continue
        out["postgres"] = _postgres_cpu()
        return out

    def down(self) -> None:
        done = subprocess.run([PASSERELLE, "down", *self.down_args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=300)
        log(f"{self.kind}: {' '.join(done.stdout.split())}")


def _postgres_cpu() -> float:
    """CPU seconds of the PostgreSQL server: its postmaster, the backends that ended (reaped: its children's times)
    and those alive (every database: other work on the server counts too)."""
    import psutil

    total = 0.0
    for proc in psutil.process_iter(["name", "ppid"]):
        try:
            if proc.info["name"] != "postgres" or psutil.Process(proc.info["ppid"]).name() == "postgres":
                continue
            times = proc.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
            for child in proc.children():
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
        except psutil.Error:
            continue
    return total


# ---- the load ----------------------------------------------------------------------------------------
def plan(stack: Stack, events: int, seed: int) -> list[tuple[str, bytes]]:
    """The deliveries (event id, body): amilia_events.py's mix, the emulator's state changed first."""
    from amilia_events import plan_events, render

    state = httpx.get(f"{stack.sandbox}/_sandbox/amilia/state", timeout=60).json()
    doc = {"amilia": state}
    planned = plan_events(doc, events, random.Random(seed))
    httpx.put(f"{stack.sandbox}/_sandbox/amilia/state", json=state, timeout=120).raise_for_status()
    sandbox = SimpleNamespace(amilia_url=f"{stack.sandbox}/amilia/api/V3")
    return [(d.event_id, json.dumps(d.payload).encode()) for d in render(sandbox, doc, planned)]


def send(url: str, bodies: list[bytes], concurrency: int, work: Path) -> dict[str, Any]:
    """Every body once; the wall time until the last answer, latencies, statuses and the client's CPU."""
    split = url.split("/hooks/", 1)
    path = f"/hooks/{split[1]}"
    if not wrk_path():
        import asyncio

        from webhook_ingest import _phase  # bench/ is on sys.path

        started, result, ended = os.times(), asyncio.run(_phase(url, bodies, concurrency)), os.times()
        cpu = ended.user + ended.system - started.user - started.system
        return {**result, "client": "python", "client_cpu_s": round(cpu, 2)}
    (work / "bodies.txt").write_bytes(b"\n".join(bodies) + b"\n")
    (work / "once.lua").write_text(LUA)
    marker = work / "answered"
    marker.unlink(missing_ok=True)
    cmd = [wrk_path(), "-t1", f"-c{concurrency}", "-d600s", "--timeout=30s", "-s", str(work / "once.lua"),
           split[0], "--", path, str(work / "bodies.txt"), str(marker)]
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        while not marker.exists() and proc.poll() is None:
            time.sleep(0.005)
        seconds = time.perf_counter() - started
        proc.send_signal(signal.SIGINT)  # wrk prints its summary and exits
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0)
        text = out.read().decode(errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith("RESULT ")), None)
    if not marker.exists() or line is None:
        raise SystemExit(f"FAILED: wrk ({os.waitstatus_to_exitcode(status)}): {text[-2000:]}")
    raw = json.loads(line[7:])
    return {"requests": raw["requests"], "seconds": round(seconds, 3), "rps": round(len(bodies) / seconds, 1),
            "p50_ms": raw["p50_us"] / 1000, "p99_ms": raw["p99_us"] / 1000, "max_ms": raw["max_us"] / 1000,
            "statuses": raw["statuses"], "client": "wrk",
            "client_cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}


def resend_missing(stack: Stack, deliveries: list[tuple[str, bytes]]) -> int:
    """Deliveries the inbox does not hold (answered other than 200: a vendor sends them again), sent again, one at
    a time every 0.5 s until stored; how many."""
    from passerelle.store.inbox import list_events

    stored = {r.event_id for r in list_events(source="amilia", link="default", limit=10 * len(deliveries),
                                              url=stack.store_url)}
    missing = [(event_id, body) for event_id, body in deliveries if event_id not in stored]
    for _, body in missing:
        for _ in range(120):
            if httpx.post(stack.hook_url, content=body, timeout=30).status_code == 200:
                break
            time.sleep(0.5)
    return len(missing)


def wait_applied(stack: Stack, ids: set[str], timeout: float) -> dict[str, Any]:
    from passerelle.store.inbox import list_events, stats

    deadline = time.monotonic() + timeout
    while True:
        counts = stats(source="amilia", link="default", url=stack.store_url)
        if counts["pending"] == counts["processing"] == 0 and counts["done"] + counts["dead"] >= len(ids):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"FAILED: events not applied after {timeout:g} s: {counts}")
        time.sleep(0.5)
    rows = [r for r in list_events(source="amilia", link="default", limit=10 * len(ids), url=stack.store_url)
            if r.event_id in ids]
    if len(rows) != len(ids):
        raise SystemExit(f"FAILED: {len(ids) - len(rows)} acknowledged deliveries are not in the inbox")
    return {"done": sum(r.status == "done" for r in rows), "dead": sum(r.status == "dead" for r in rows),
            "first_done": _utc(min(r.done_at for r in rows)), "last_done": _utc(max(r.done_at for r in rows))}


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite gives naive UTC


def measure(kind: str, home: Path, args: argparse.Namespace) -> dict[str, Any]:
    import psutil

    stack = Stack(kind, home, args.persons)
    try:
        stack.initial_sync()
        deliveries = plan(stack, args.events, args.seed)
        time.sleep(args.settle)  # the sync's processes are gone, the schedule's next run is what it would be
        log(f"{kind}: sending {len(deliveries)} deliveries to {stack.hook_url.split('?')[0]}")
        cpu0, machine0, t0 = stack.cpu(), psutil.cpu_times(), time.time()
        ingest = send(stack.hook_url, [body for _, body in deliveries], args.concurrency, home)
        cpu1, machine1, t1 = stack.cpu(), psutil.cpu_times(), time.time()
        log(f"{kind}: answered in {ingest['seconds']} s: {ingest['statuses']}")
        ingest["sent_again"] = resend_missing(stack, deliveries)
        applied = wait_applied(stack, {event_id for event_id, _ in deliveries}, args.timeout)
        cpu2, machine2 = stack.cpu(), psutil.cpu_times()
        time.sleep(3)  # the last runs report their state
        runs = stack.drain_runs(t0)
        e2e_s = applied["last_done"].timestamp() - t0
        drain_s = (applied["last_done"] - applied["first_done"]).total_seconds()
    finally:
        stack.down()
    used = lambda t: t.user + t.nice + t.system + t.irq + t.softirq + t.steal  # noqa: E731
    busy = lambda a, b: used(b) - used(a)  # noqa: E731
    windows = {"ingest": (cpu0, cpu1, machine0, machine1, t1 - t0),
               "end_to_end": (cpu0, cpu2, machine0, machine2, e2e_s)}
    cpu = {name: {"seconds_by_part": {PARTS.get(k, k): round(b.get(k, 0) - a.get(k, 0), 1) for k in a},
                  "machine_busy_percent": round(100 * busy(m0, m1) / (os.cpu_count() * span), 1),
                  "wall_s": round(span, 2)} for name, (a, b, m0, m1, span) in windows.items()}
    cpu["ingest"]["seconds_by_part"]["load generator"] = ingest["client_cpu_s"]
    result = {"ingest": {**ingest, "events_per_s": ingest["rps"]},
              "end_to_end": {"events": len(deliveries), "done": applied["done"], "dead": applied["dead"],
                             "seconds": round(e2e_s, 2), "events_per_s": round(len(deliveries) / e2e_s, 1),
                             "applied_after_last_ack_s": round(e2e_s - (t1 - t0), 2),
                             "first_applied_after_s": round(applied["first_done"].timestamp() - t0, 2),
                             "drain_events_per_s": round(len(deliveries) / max(drain_s, 0.001), 1),
                             "drain_runs": runs},
              "cpu": cpu, "load_average": [round(x, 2) for x in os.getloadavg()]}
    log(f"{kind}: ingest {ingest['rps']} ev/s (p99 {ingest['p99_ms']:.0f} ms, {ingest['statuses']}), end to end "
        f"{result['end_to_end']['events_per_s']} ev/s ({e2e_s:.1f} s; first applied after "
        f"{result['end_to_end']['first_applied_after_s']} s, then {result['end_to_end']['drain_events_per_s']} ev/s);"
        f" drain runs {runs}; CPU s over end to end: "
        + json.dumps(cpu["end_to_end"]["seconds_by_part"], ensure_ascii=False))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--persons", type=int, default=2000, help="the seeded organisation of both stacks")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds of quiet between the sync and the load")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for the drains to apply everything")
    parser.add_argument("--rounds", type=int, default=2, help="each topology this many times, alternately")
    parser.add_argument("--only", choices=("single", "production"), help="measure one topology")
    parser.add_argument("--output", type=Path, default=RESULTS / "topology.json")
    args = parser.parse_args()
    if not wrk_path():
        log("WARNING: wrk is not installed (`make wrk`): an asyncio client sends the load and shares the CPU")
    RESULTS.mkdir(parents=True, exist_ok=True)
    rounds: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="passerelle-bench-topology-") as tmp:
        for number in range(1, args.rounds + 1):
            for kind in ("single", "production"):
                if args.only in (None, kind):
                    home = Path(tmp) / f"{kind}-{number}"
                    rounds.setdefault(kind, []).append(measure(kind, home, args))
    med = lambda runs, part, key: round(median(r[part][key] for r in runs), 2)  # noqa: E731
    summary = {kind: {"ingest_events_per_s": med(runs, "ingest", "events_per_s"),
                      "end_to_end_events_per_s": med(runs, "end_to_end", "events_per_s"),
                      "drain_events_per_s": med(runs, "end_to_end", "drain_events_per_s"),
                      "first_applied_after_s": med(runs, "end_to_end", "first_applied_after_s")}
               for kind, runs in rounds.items()}
    result = {"bench": "topology", "at": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(),
              "settings": {k: v for k, v in vars(args).items() if k != "output"}, "median": summary,
              "rounds": rounds}
    args.output.write_text(json.dumps(result, indent=1, default=str, ensure_ascii=False) + "\n")
    names = {"single": "single", "production": "production-like"}
    e2e = ", ".join(f"{names[k]} {v['end_to_end_events_per_s']} ev/s" for k, v in summary.items())
    ingest = ", ".join(f"{names[k]} {v['ingest_events_per_s']} ev/s" for k, v in summary.items())
    print(f"topology: {e2e} (ingest {ingest}; medians of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
