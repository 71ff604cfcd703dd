"""Benchmark of the webhook gateway's durable ingest against a bare ASGI app that stores nothing.

    .venv/bin/python bench/webhook_ingest.py [--seconds 8] [--warmup-seconds 2] [--rounds 5] [--concurrency 32]
                                             [--client wrk|python] [--gateway-processes N] [--bare-processes 1]

Both servers run under uvicorn in their own process with the same settings (h11 or httptools, whichever
uvicorn picks; no access log): the gateway is `passerelle gateway serve` on a SQLite store in a temporary
folder (WAL, `synchronous=FULL` unless PASSERELLE_GATEWAY_SQLITE_SYNCHRONOUS says otherwise); the bare app
reads the body and answers 200 without storing. The gateway serves with `--gateway-processes` processes on its
port (`passerelle gateway serve --processes`, default: one per core, as a deployment on its own machine would),
the bare app with `--bare-processes` (default 1, the issue's reference); both figures are in the headline.

The load comes from wrk (one thread, `--concurrency` keep-alive connections, bench/wrk_distinct.lua making
every ~1 KB Amilia envelope distinct: the gateway dedupes by content, so a repeated body, as `hey` or `ab`
send, would measure the duplicate path instead of durable writes). wrk is compiled and saturates the bare
app on this 2-core machine, where the Python client below tops out near the bare app's rate; the client's
own CPU is printed for each run so a reader sees it was not the bottleneck. Without wrk (`apt-get install
wrk`; `make bench` installs it when it can), the bench falls back to an asyncio client with a warning, and its
ratio then flatters the gateway. Each round: `--warmup-seconds` unmeasured, then `--seconds` measured.

A gateway 200 is a durable acknowledgement: the bench checks afterwards that the inbox holds at least as
many rows as 200s were counted. Gateway and bare app alternate `--rounds` times (the medians are reported,
the ratio is the median of the per-round ratios: this machine may be busy with other work). Writes
bench/results/webhook_ingest.json; the last line printed is the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, ROOT, log, tree_cpu_times  # noqa: E402
from _wrk import body_template, run_wrk, wrk_path  # noqa: E402

from sandbox.server import free_port  # noqa: E402

TARGET_RATIO, TARGET_P99_MS = 50.0, 20.0
FIRST_ID = 100000
ROUND_SPAN = 10**7  # body numbers of one round (warm-up, measured): rounds never repeat a body
LINK = "bench"


# ---- the bodies --------------------------------------------------------------------------------------

def envelope_body(i: int, size: int = 1024) -> bytes:
    """A distinct Amilia `Person.Update` envelope of about `size` bytes; `i` is its person's Id (and in the
    e-mail), so bodies differ as their numbers do (bench/wrk_distinct.lua fills the same template)."""
    person = {"Id": i, "AccountId": 50000 + i // 3, "FirstName": "Léa", "LastName": "Tremblay-Roy",
              "Email": f"lea.roy{i}@videotron.ca", "Gender": "Female", "DateOfBirth": "1986-04-02",
              "IsChild": False, "Telephone": "514-555-0101", "TelephoneMobile": "514-555-0199",
              "Address": {"Address1": "12 rue Saint-Denis", "City": "Montréal", "StateProvince": "QC",
                          "Country": "CA", "PostalCode": "H2X 1Y4"},
              "Skills": [{"Id": 3, "Name": "Natation niveau 2"}], "ExternalId": "", "IsArchived": False,
              "DateCreated": "2021-03-04T10:11:12"}
    envelope = {"OrganizationId": 8008, "Context": "Person", "Action": "Update", "Name": "Passerelle",
                "EventTime": "2026-03-15T14:07:31.123456Z",
                "Payload": person}
    base = len(json.dumps(envelope, ensure_ascii=False).encode())
    person["ExternalId"] = "EXT-" + "x" * max(0, size - base - 4)
    return json.dumps(envelope, ensure_ascii=False).encode()


# ---- the load process ------------------------------------------------------------------------------

async def _worker(host: str, port: int, path: str, bodies: list[bytes], counter: list[int], limit: int,
                  latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
    try:
        while counter[0] < limit:
            i = counter[0]
            counter[0] += 1
            body = bodies[i]
            start = time.perf_counter()
            writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            header = await reader.readuntil(b"\r\n\r\n")
            status = int(header[9:12])
            length = 0
            for line in header.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _phase(url: str, bodies: list[bytes], concurrency: int) -> dict[str, Any]:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    counter, latencies, statuses = [0], [], {}
    start = time.perf_counter()
    await asyncio.gather(*(_worker(parts.hostname, parts.port, path, bodies, counter, len(bodies), latencies,
                                   statuses) for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000, 2)

    return {"requests": len(latencies), "seconds": round(elapsed, 3), "rps": round(len(latencies) / elapsed, 1),
            "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": round(latencies[-1] * 1000, 2),
            "statuses": {str(k): v for k, v in sorted(statuses.items())}}


def load_main(args: argparse.Namespace) -> None:
    url = os.environ["BENCH_TARGET_URL"]
    bodies = [envelope_body(FIRST_ID + i + args.offset, args.body_bytes) for i in range(args.warmup + args.count)]
    asyncio.run(_phase(url, bodies[:args.warmup], args.concurrency))
    result = asyncio.run(_phase(url, bodies[args.warmup:], args.concurrency))
    result["body_bytes"] = round(sum(map(len, bodies)) / len(bodies))
    print("RESULT " + json.dumps(result), flush=True)


# ---- the bare server -------------------------------------------------------------------------------

async def bare_app(scope, receive, send) -> None:
    """Reads the body, answers what the gateway answers, stores nothing."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"accepted":1,"duplicates":0}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def serve_bare(port: int, processes: int = 1) -> None:
    import uvicorn

    # the settings `passerelle gateway serve` uses (passerelle/gateway/server.py), lifespan aside
    config = {"access_log": False, "log_level": "warning", "lifespan": "off", "server_header": False,
              "timeout_graceful_shutdown": 10}
    if processes == 1:
        uvicorn.run(bare_app, host="127.0.0.1", port=port, **config)
        return
    from passerelle.gateway.processes import reuse_port_socket, supervise  # the gateway's own way

    def child(_index: int) -> None:
        uvicorn.Server(uvicorn.Config(bare_app, host="127.0.0.1", port=port, **config)).run(
            sockets=[reuse_port_socket("127.0.0.1", port)])

    raise SystemExit(supervise(processes, child))


# ---- the parent -------------------------------------------------------------------------------------

def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "PASSERELLE_DATABASE"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def _start(cmd: list[str], env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen:
    import httpx

    out = log_path.open("wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[1]} exited with {proc.returncode}; see {log_path}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"server not up on port {port}; see {log_path}")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _load(url: str, args: argparse.Namespace, offset: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--load", "--count", str(args.count), "--warmup", str(args.warmup),
           "--concurrency", str(args.concurrency), "--body-bytes", str(args.body_bytes), "--offset", str(offset)]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(BENCH_TARGET_URL=url), capture_output=True, text=True,
                          timeout=900, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"load process failed ({proc.returncode}): {proc.stderr[-2000:]}")


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _measure(proc: subprocess.Popen, url: str, args: argparse.Namespace, offset: int) -> dict[str, Any]:
    """One measured phase after a warm-up one; the server's CPU is counted over the measured phase only
    with wrk, over both with the Python client (one process runs both)."""
    if args.client == "wrk":
        template = body_template(lambda i: envelope_body(i, args.body_bytes))
        run_wrk(url, template, args.warmup_seconds, args.concurrency, FIRST_ID + offset)
        user0, sys0 = tree_cpu_times(proc.pid)
        result = run_wrk(url, template, args.seconds, args.concurrency, FIRST_ID + offset + ROUND_SPAN // 2)
        calls = result["requests"]
        result["body_bytes"] = len(envelope_body(FIRST_ID + offset, args.body_bytes))
    else:
        user0, sys0 = tree_cpu_times(proc.pid)
        result = _load(url, args, offset)
        calls = args.count + args.warmup
    user1, sys1 = tree_cpu_times(proc.pid)
    result["server_cpu_us_per_call"] = round((user1 - user0 + sys1 - sys0) / calls * 1e6, 1)
    result["server_sys_us_per_call"] = round((sys1 - sys0) / calls * 1e6, 1)
    result["server_cpu_percent"] = round(100 * (user1 - user0 + sys1 - sys0) / result["seconds"], 1)
    return result


def _line(run: dict[str, Any]) -> str:
    client = (f"; client {run['client_cpu_percent']}% of a core, {run['client_cpu_us_per_call']} µs/call"
              if "client_cpu_percent" in run else "")
    return (f"{run['rps']} req/s, p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms; server "
            f"{run['server_cpu_percent']}% of a core, {run['server_cpu_us_per_call']} µs CPU/call "
            f"({run['server_sys_us_per_call']} system){client}")


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ["rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "server_cpu_us_per_call", "server_sys_us_per_call",
            "server_cpu_percent"]
    keys += [k for k in ("client_cpu_percent", "client_cpu_us_per_call") if k in runs[0]]
    return {**{k: round(_median([r[k] for r in runs]), 2) for k in keys}, "rounds": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client", choices=("wrk", "python"), default="wrk" if wrk_path() else "python",
                        help="the load generator (default: wrk when installed)")
    parser.add_argument("--seconds", type=float, default=8, help="wrk: measured seconds per server and round")
    parser.add_argument("--warmup-seconds", type=float, default=2, help="wrk: unmeasured seconds first, each round")
    parser.add_argument("--count", type=int, default=6000, help="python client: measured calls per server and round")
    parser.add_argument("--warmup", type=int, default=1000, help="python client: unmeasured calls first, each round")
    parser.add_argument("--rounds", type=int, default=5, help="gateway and bare alternate this many times "
                        "(medians are reported: the machine may be busy with other work)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--body-bytes", type=int, default=1024)
    parser.add_argument("--gateway-processes", type=int, default=os.cpu_count() or 1,
                        help="`passerelle gateway serve --processes` (default: one per core)")
    parser.add_argument("--bare-processes", type=int, default=1, help="processes of the bare app (default 1)")
    parser.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        return load_main(args)
    if args.serve_bare:
        return serve_bare(args.serve_bare, args.bare_processes)

    if args.client == "python":
        log("WARNING: wrk is not installed (apt-get install wrk): the Python client tops out near the bare "
            "app's rate on this machine, so the ratio below flatters the gateway")
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="webhook-ingest-") as tmp:
        store = f"sqlite:///{tmp}/passerelle.db"
        os.environ["PASSERELLE_DATABASE_URL"] = store
        from passerelle.store.inbox import stats
        from passerelle.store.links import create_link

        token = create_link("amilia", LINK, url=store)
        gw_port, bare_port = free_port(), free_port()
        passerelle = str(Path(sys.executable).with_name("passerelle"))
        gw = _start([passerelle, "gateway", "serve", "--port", str(gw_port), "--log-level", "warning",
                     "--processes", str(args.gateway_processes)],
                    _env(PASSERELLE_DATABASE_URL=store, PASSERELLE_HOME=tmp), gw_port, Path(tmp) / "gw.log")
        bare_proc = _start([sys.executable, __file__, "--serve-bare", str(bare_port), "--bare-processes",
                            str(args.bare_processes)], _env(), bare_port, Path(tmp) / "bare.log")
        gw_runs, bare_runs, acked = [], [], 0
        try:
            for r in range(args.rounds):
                phase = (f"{args.seconds:g} s after {args.warmup_seconds:g} s warm-up" if args.client == "wrk"
                         else f"{args.count} calls after {args.warmup} warm-up")
                log(f"round {r + 1}/{args.rounds} ({args.client}): {phase}, concurrency {args.concurrency}")
                run = _measure(gw, f"http://127.0.0.1:{gw_port}/hooks/amilia/{LINK}?token={token}", args,
                               r * ROUND_SPAN)
                acked += run["statuses"].get("200", 0)
                gw_runs.append(run)
                log(f"  gateway: {_line(run)}, statuses {run['statuses']}")
                run = _measure(bare_proc, f"http://127.0.0.1:{bare_port}/hooks/amilia/{LINK}", args, 10**8)
                bare_runs.append(run)
                log(f"  bare:    {_line(run)}")
        finally:
            _stop(gw)
            _stop(bare_proc)
        stored = sum(stats("amilia", LINK, url=store).values())
        log(f"inbox rows: {stored} (measured 200s: {acked}, plus warm-up calls)")
        if stored < acked:
            raise SystemExit(f"durability violated: {acked} measured 200s but only {stored} rows stored")

    gateway, bare = _summary(gw_runs), _summary(bare_runs)
    ratio = round(100 * _median([g["rps"] / b["rps"] for g, b in zip(gw_runs, bare_runs, strict=True)]), 1)
    result = {"bench": "webhook_ingest", "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                          "load_average_1m": round(os.getloadavg()[0], 2)},
              "settings": {"client": args.client, "rounds": args.rounds,
                           **({"seconds": args.seconds, "warmup_seconds": args.warmup_seconds}
                              if args.client == "wrk" else {"count": args.count, "warmup": args.warmup}),
                           "concurrency": args.concurrency, "body_bytes": gw_runs[0]["body_bytes"],
                           "gateway_processes": args.gateway_processes, "bare_processes": args.bare_processes,
                           "gateway_env": {k: v for k, v in sorted(os.environ.items())
                                           if k.startswith("PASSERELLE_GATEWAY_")}},
              "gateway": gateway, "bare": bare, "ratio_percent": ratio, "inbox_rows": stored,
              "targets": {"ratio_percent_min": TARGET_RATIO, "p99_ms_max": TARGET_P99_MS},
              "meets_targets": ratio >= TARGET_RATIO and gateway["p99_ms"] <= TARGET_P99_MS}
    (RESULTS / "webhook_ingest.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"webhook_ingest: {ratio}% of bare ({gateway['rps']:.0f} req/s from {args.gateway_processes} gateway "
          f"process(es) vs {bare['rps']:.0f} from {args.bare_processes} bare, {args.client}), "
          f"p99 {gateway['p99_ms']:.1f} ms vs target ≥{TARGET_RATIO:.0f}%, ≤{TARGET_P99_MS:.0f} ms")


if __name__ == "__main__":
    main()
