"""Benchmark of the zap engine end to end: a webhook → a zap → an idempotent HTTP PUT into the sandbox.

    .venv/bin/python bench/zaps.py [--zap form-to-crm|okast-mailchimp] [--rate 500] [--seconds 10] [--backlog 10000]

Two zaps (``--zap``): **form-to-crm** (default), a catch hook → filter + format → ``http.request`` PUT into the
sandbox's request bin; **okast-mailchimp**, OKAST "new registration" webhooks on the gateway's OKAST source → the
example zap zaps/okast-registration-to-mailchimp.yaml → ``mailchimp.upsert_member`` on the sandbox's Mailchimp
emulator (bench/_zaps_okast.py says how its parts are set up).

1. The sandbox runs in its own process (its request bin or Mailchimp emulator is the zap's target); the gateway
   (`passerelle gateway serve`, SQLite store in a temporary folder) in another; a child process runs the real
   `zaps` flow (`flows/zaps.py:run_zaps`, Prefect's embedded server) in a loop, as the deployment's trigger would
   (okast-mailchimp: ``source="okast", link="default"``, the drain of the OKAST connection's events).
2. **Lag phase** (gateway included): distinct form posts (OKAST events) go to the catch hook (OKAST source) at
   `--rate` per second for `--seconds`, from an asyncio client; lag = ``done_at − received_at`` of each inbox row.
3. **Capacity phase**: `--backlog` calls are put in the inbox at once (as the catch or OKAST source stores them);
   events/s = calls / (first received → last done). Target ≥ 1,000 events/s with the lag phase's p99 ≤ 2 s.
4. **Floor**: the same work — the filter's condition, the format transforms and the PUT, over one shared
   keep-alive httpx client, 16 at a time as the runner does (okast-mailchimp: the same Mailchimp PUTs, 10 at a
   time as the connection allows) — in a plain asyncio loop, on the same backlog.
   Orchestration overhead = floor events/s ÷ zap events/s; target ≤ 1.5×.

Every call must leave exactly one contact in the request bin (one member in the emulated list) and one zap run
`ok`. The sandbox's, the client's, the gateway's and the drain's CPU are reported: the emulator, the client and
Passerelle share the machine's two cores. ``--profile`` runs the drain under cProfile (its top costs are written
in the temporary folder; the results go to *_profiled.json). Writes bench/results/zaps.json (okast-mailchimp:
zaps_okast_mailchimp.json); the last line printed is the headline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _zaps_okast as okast  # noqa: E402
from _common import (  # noqa: E402
    RESULTS,
    ROOT,
    SandboxProcess,
    log,
    machine,
    process_cpu_seconds,
    start_gateway,
    tree_cpu_seconds,
)

from sandbox.server import free_port  # noqa: E402

HOOK = "bench-forms"
TARGET_EPS, TARGET_P99, TARGET_OVERHEAD = 1000.0, 2.0, 1.5
CONCURRENCY = 16
ZAPS = ("form-to-crm", "okast-mailchimp")


def zap_document(bin_url: str) -> dict[str, Any]:
    return {"id": HOOK, "name": "Bench: form to CRM", "trigger": {"app": "catch", "event": "hook"},
            "steps": [
                {"id": "consented", "type": "filter",
                 "all": [{"field": "{{ trigger.json.consent }}", "operator": "equals", "value": "yes"}]},
                {"id": "email", "type": "format", "kind": "text", "transform": "lower",
                 "input": "{{ trigger.json.email }}"},
                {"id": "upsert", "type": "action", "action": "http.request",
                 "inputs": {"method": "PUT", "url": f"{bin_url}/contacts/{{{{ steps.email.output }}}}",
                            "body": {"email": "{{ steps.email.output }}", "n": "{{ trigger.json.n }}"}}}]}


def form(n: int) -> dict[str, Any]:
    return {"email": f"Person{n}@Example.org", "consent": "yes", "n": n, "message": "x" * 200}


# -- child: the zaps flow in a loop ------------------------------------------------------------------------
def child(work: Path) -> None:
    from flows.zaps import run_zaps

    config = json.loads((work / "config.json").read_text())
    where = {"link": HOOK} if config["zap"] == "form-to-crm" else {"link": okast.CONNECTION, "source": "okast"}

    async def loop() -> list[dict[str, Any]]:
        runs = [await run_zaps(**where, max_seconds=5)]  # Prefect's embedded server starts here
        if config["zap"] == "okast-mailchimp":
            await okast.child_setup(config)
            (work / "api_url").write_text(okast.prefect_api_url())
        (work / "ready").write_text("1")
        while not (work / "stop").exists() and os.getppid() != 1:
            runs.append(await run_zaps(**where, batch_size=500, max_seconds=30))
        return runs

    if config.get("profile"):
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        runs = profiler.runcall(asyncio.run, loop())
        profiler.dump_stats(work / "drain.prof")
        with (work / "drain_profile.txt").open("w") as out:
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(40)
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(60)
    else:
        runs = asyncio.run(loop())
    (work / "runs.json").write_text(json.dumps(runs, default=str))


# -- parent ---------------------------------------------------------------------------------------------
async def post_forms(url: str, start: int, count: int, rate: float, headers: dict[str, str] | None = None,
                     body: Any = form) -> dict[str, Any]:
    """POST `count` distinct bodies (`body(n)`) at `rate` per second; returns the statuses and the client's CPU."""
    statuses: dict[int, int] = {}
    cpu0 = time.process_time()
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(timeout=30, limits=limits, headers=headers) as http:
        gate = asyncio.Semaphore(32)

        async def one(n: int) -> None:
            async with gate:
                r = await http.post(url, json=body(n))
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        began, tasks = time.perf_counter(), []
        for i in range(count):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(start + i)))
        await asyncio.gather(*tasks)
    return {"statuses": statuses, "client_cpu_s": round(time.process_time() - cpu0, 2),
            "seconds": round(time.perf_counter() - began, 2)}


def inbox_rows(store: Path, first_id: int = 0) -> list[tuple[float, float | None, str]]:
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT received_at, done_at, status FROM inbox_event WHERE id > ? ORDER BY id",
                          (first_id,)).fetchall()

    def seconds(value: str | None) -> float | None:
        from datetime import datetime

        return datetime.fromisoformat(value).timestamp() if value else None

    return [(seconds(r), seconds(d), s) for r, d, s in rows]


def wait_done(store: Path, expected: int, timeout: float, first_id: int = 0) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = inbox_rows(store, first_id)
        if len(rows) >= expected and all(s == "done" for _, _, s in rows):
            return rows
        time.sleep(0.25)
    rows = inbox_rows(store, first_id)
    raise RuntimeError(f"{sum(s == 'done' for *_, s in rows)} of {expected} calls done after {timeout:g} s")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else 0.0


def backlog(store_url: str, start: int, count: int, zap: str = "form-to-crm") -> None:
    from passerelle.store.inbox import Delivery, store_deliveries

    deliveries = []
    for n in range(start, start + count):
        if zap == "okast-mailchimp":
            deliveries += okast.deliveries(n, 1)
            continue
        envelope = {"method": "POST", "query": {}, "json": form(n)}
        event_id = f"bench-{n}"
        deliveries.append(Delivery("catch", HOOK, event_id, "catch_hook", f"call:{event_id}", envelope))
    for i in range(0, len(deliveries), 2000):
        store_deliveries(deliveries[i:i + 2000], url=store_url)


async def floor(bin_url: str, start: int, count: int) -> dict[str, Any]:
    """The zap's work without the engine: condition, format, PUT; 16 at a time over one keep-alive client."""
    from passerelle.zaps.conditions import check
    from passerelle.zaps.formatter import apply

    gate = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(timeout=30) as http:
        async def one(n: int) -> None:
            payload = form(n)
            if not check("equals", payload["consent"], "yes"):
                return
            email = apply("text", "lower", payload["email"])
            async with gate:
                r = await http.put(f"{bin_url}/contacts/{email}", json={"email": email, "n": n})
                r.raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(start, start + count)))
        seconds = time.perf_counter() - began
    return {"events": count, "seconds": round(seconds, 3), "events_per_s": round(count / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zap", choices=ZAPS, default="form-to-crm", help="which zap (default form-to-crm)")
    parser.add_argument("--rate", type=float, default=500.0, help="lag phase: calls per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="lag phase: how long")
    parser.add_argument("--backlog", type=int, default=10000, help="capacity phase: calls at once")
    parser.add_argument("--profile", action="store_true", help="cProfile the drain (top costs next to the results)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)

    with tempfile.TemporaryDirectory(prefix="bench-zaps-") as tmp_name:
        tmp = Path(tmp_name)
        store = tmp / "store.db"
        store_url = f"sqlite:///{store}"
        os.environ.update(PASSERELLE_DATABASE_URL=store_url, PASSERELLE_HOME=str(tmp))
        with SandboxProcess(tmp / "sandbox.log") as sandbox:
            bin_url = f"{sandbox.vendor_url('requestbin')}/bench"
            config: dict[str, Any] = {"zap": args.zap, "profile": args.profile}
            if args.zap == "okast-mailchimp":
                config.update(okast.prepare(tmp, sandbox, store_url))
            else:
                from passerelle.store.links import create_link

                (tmp / "zaps").mkdir()
                (tmp / "zaps" / f"{HOOK}.yaml").write_text(yaml.safe_dump(zap_document(bin_url)))
                config["token"] = create_link("catch", HOOK, url=store_url)
            env = {"PASSERELLE_ZAPS_FOLDER": str(tmp / "zaps"), "PASSERELLE_ZAPS_ALLOW_NETWORKS": "127.0.0.1/32"}
            work = tmp / "work"
            work.mkdir()
            (work / "config.json").write_text(json.dumps(config))
            child_env = {**os.environ, **env, "PREFECT_HOME": str(tmp / "prefect"),
                         "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONPATH": str(ROOT)}
            drainer = subprocess.Popen([sys.executable, __file__, "--child", str(work)], cwd=ROOT, env=child_env)
            gateway = None
            try:
                wait_ready(drainer, work)
                port = free_port()
                extra = {"PREFECT_API_URL": (work / "api_url").read_text()} if (work / "api_url").exists() else {}
                gateway = start_gateway(ROOT, str(tmp), store_url, port, **extra)
                result = run(args, config, store, store_url, bin_url, sandbox, gateway, drainer, port)
            finally:
                (work / "stop").write_text("1")
                try:
                    drainer.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    drainer.kill()
                if gateway is not None:
                    gateway.terminate()
                    gateway.wait(timeout=30)
            if args.profile and (work / "drain_profile.txt").exists():
                for name in ("drain_profile.txt", "drain.prof"):
                    shutil.copy(work / name, Path(tempfile.gettempdir()) / f"{result_name(args.zap)}_{name}")
                log(f"drain profile: {tempfile.gettempdir()}/{result_name(args.zap)}_drain_profile.txt (.prof)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{result_name(args.zap, args.profile)}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"zaps[{args.zap}]: {result['capacity']['events_per_s']:.0f} events/s vs target ≥{TARGET_EPS:.0f}, lag p99 "
          f"{result['lag']['p99_s']:.2f} s at {args.rate:g}/s (≤ {TARGET_P99:g}), overhead "
          f"{result['overhead_x']:.2f}× the floor (≤ {TARGET_OVERHEAD:g}×)")


def result_name(zap: str, profiled: bool = False) -> str:
    name = "zaps" if zap == "form-to-crm" else f"zaps_{zap.replace('-', '_')}"
    return f"{name}_profiled" if profiled else name


def wait_ready(drainer: subprocess.Popen, work: Path) -> None:
    deadline = time.monotonic() + 180
    while not (work / "ready").exists():
        if drainer.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the zaps flow did not start")
        time.sleep(0.2)


def run(args, config: dict[str, Any], store: Path, store_url: str, bin_url: str, sandbox: SandboxProcess, gateway,
        drainer, port: int) -> dict[str, Any]:
    is_okast = args.zap == "okast-mailchimp"
    if is_okast:
        url, headers, body = okast.request(port, config)
    else:
        url, headers, body = f"http://127.0.0.1:{port}/hooks/catch/{HOOK}/{config['token']}/", None, form
    count = int(args.rate * args.seconds)
    log(f"lag phase: {count} {'OKAST events' if is_okast else 'form posts'} at {args.rate:g}/s through the gateway")
    cpu0 = {"sandbox": sandbox.cpu_seconds(), "gateway": tree_cpu_seconds(gateway.pid),
            "drain": tree_cpu_seconds(drainer.pid)}
    posted = asyncio.run(post_forms(url, 0, count, args.rate, headers, body))
    if posted["statuses"] != {200: count}:
        raise RuntimeError(f"the gateway answered {posted['statuses']}")
    rows = wait_done(store, count, timeout=300 + args.seconds)
    lags = [d - r for r, d, _ in rows]
    lag = {"events": count, "p50_s": round(pct(lags, 50), 3), "p99_s": round(pct(lags, 99), 3),
           "max_s": round(max(lags), 3), **posted}
    log(f"lag p50 {lag['p50_s']} s, p99 {lag['p99_s']} s; client CPU {posted['client_cpu_s']} s")

    log(f"capacity phase: {args.backlog} calls in the inbox at once")
    last_id = len(rows)
    cpu1 = {"sandbox": sandbox.cpu_seconds(), "gateway": tree_cpu_seconds(gateway.pid),
            "drain": tree_cpu_seconds(drainer.pid), "flow": process_cpu_seconds(drainer.pid)}
    load0 = psutil.getloadavg()
    backlog(store_url, count, args.backlog, args.zap)
    rows = wait_done(store, args.backlog, timeout=1200, first_id=last_id)
    first, last = min(r for r, _, _ in rows), max(d for _, d, _ in rows)
    capacity = {"events": args.backlog, "seconds": round(last - first, 2),
                "events_per_s": round(args.backlog / (last - first), 1),
                "sandbox_cpu_s": round(sandbox.cpu_seconds() - cpu1["sandbox"], 1),
                "drain_cpu_s": round(tree_cpu_seconds(drainer.pid) - cpu1["drain"], 1),
                "flow_process_cpu_s": round(process_cpu_seconds(drainer.pid) - cpu1["flow"], 1),
                "load_before": load0, "load_after": psutil.getloadavg()}
    capacity["drain_cpu_ms_per_event"] = round(1000 * capacity["drain_cpu_s"] / args.backlog, 2)
    capacity["sandbox_cpu_ms_per_event"] = round(1000 * capacity["sandbox_cpu_s"] / args.backlog, 2)
    cpu = {name: round(now - cpu0[name], 1) for name, now in (
        ("sandbox", sandbox.cpu_seconds()), ("gateway", tree_cpu_seconds(gateway.pid)),
        ("drain", tree_cpu_seconds(drainer.pid)))}
    log(f"capacity: {capacity['events_per_s']} events/s; drain {capacity['drain_cpu_ms_per_event']} ms CPU/event, "
        f"sandbox {capacity['sandbox_cpu_ms_per_event']} ms CPU/event")

    expected = count + args.backlog
    if is_okast:
        okast.check(sandbox.url, config["list_id"], range(expected))
    else:
        documents = httpx.get(f"{sandbox.url}/_sandbox/requestbin/state", timeout=30).json()["documents"]["bench"]
        if len(documents) != expected:
            raise RuntimeError(f"{len(documents)} contacts in the request bin, expected {expected}")
    with sqlite3.connect(store) as db:
        runs = dict(db.execute("SELECT status, count(*) FROM zap_run GROUP BY status").fetchall())
    if runs != {"ok": expected}:
        raise RuntimeError(f"zap runs: {runs}, expected {expected} ok")

    log("floor: the same work in a plain asyncio loop")
    floor_cpu0, client_cpu0 = sandbox.cpu_seconds(), time.process_time()
    if is_okast:
        base = asyncio.run(okast.floor(config, 0, args.backlog))
    else:
        base = asyncio.run(floor(f"{sandbox.vendor_url('requestbin')}/floor", 0, args.backlog))
    base["sandbox_cpu_s"] = round(sandbox.cpu_seconds() - floor_cpu0, 1)
    base["client_cpu_s"] = round(time.process_time() - client_cpu0, 1)
    overhead = base["events_per_s"] / capacity["events_per_s"]
    log(f"floor {base['events_per_s']} events/s: the engine costs {overhead:.2f}×")
    return {"zap": args.zap, "machine": machine(), "load": psutil.getloadavg(), "lag": lag, "capacity": capacity,
            "floor": base, "overhead_x": round(overhead, 2), "sandbox_cpu_s": cpu["sandbox"],
            "gateway_cpu_s": cpu["gateway"], "drain_cpu_s": cpu["drain"], "profiled": bool(args.profile),
            "zap_runs": runs,
            "targets": {"events_per_s": TARGET_EPS, "lag_p99_s": TARGET_P99, "overhead_x": TARGET_OVERHEAD}}


if __name__ == "__main__":
    main()
