"""Benchmark of the webhook gateway under a flood of hostile slow clients: its memory, and valid calls' latency.

    .venv/bin/python bench/gateway_flood.py [--hostile 2000] [--duration 20] [--rate 40] [--code-root PATH]

The gateway (`passerelle gateway serve`, SQLite store in a temporary folder, nudges off) runs in its own
process. A load process (asyncio, raw HTTP/1.1) then runs three phases: `--quiet` seconds of valid calls
alone (the baseline), `--duration` seconds of valid calls during the flood, `--quiet` seconds of valid calls
after it. Valid calls post distinct ~1 KB Amilia envelopes with the link's token at `--rate` calls/s, each
on a new connection (as a vendor does). The flood is `--hostile` connections to the same link without any
token, each one of:

- slow body (the default 3/4): a head announcing a 1 MB body, then `--chunk` bytes every `--interval` s;
- slow head (`--slow-heads`, 1/4): the request line, then one header line every `--interval` s, never ending.

A hostile client ignores answers and trickles until the gateway hangs up, then reconnects after
`--reconnect-delay` s (±50 %), so the flood keeps `--hostile` connections open or opening; the connections
first open over `--ramp` s. The hostile load process runs at the lowest CPU priority (`nice 19`: an
attacker's CPU is not on the gateway's machine; on a shared machine the gateway still competes with other
work, and the bench reports how long its event loop waited for a CPU). The parent samples the gateway's
RSS every 100 ms.

Reported: the gateway's RSS (baseline, peak during the flood, at the end of the quiet phase after it), valid
calls' p50/p99/max and statuses per phase, what the hostile connections got, the gateway's CPU. A valid 200
is a durable acknowledgement: the bench checks that the inbox holds every one. `--code-root` measures
another checkout (e.g. the code before the fix: `git archive <rev> | tar -x -C /tmp/old`).
Writes bench/results/gateway_flood.json (`--output`); the last line printed is the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, ROOT, gateway_env, log, start_gateway  # noqa: E402
from webhook_ingest import envelope_body  # noqa: E402

from sandbox.server import free_port  # noqa: E402

TARGET_RSS_MB, TARGET_P99_MS = 250.0, 100.0
LINK = "default"  # the default link name: a flood needs no secret to find it


# ---- the load process ------------------------------------------------------------------------------

async def _valid(port: int, path: str, phase: str, until: float, rate: float, counter: list[int],
                 out: dict[str, Any], origin: float = 0.0, settled_from: float = float("inf")) -> None:
    """One valid call every 1/rate s on a new connection each; latency includes connect and answer. Per
    second since `origin`, the slowest; apart, the calls started after `settled_from`."""
    interval, next_at = 1.0 / rate, time.monotonic()
    record = out.setdefault(phase, {"lat": [], "settled": [], "statuses": Counter(), "seconds": Counter()})
    lat, statuses, seconds = record["lat"], record["statuses"], record["seconds"]
    pending: set[asyncio.Task] = set()

    async def call(body: bytes) -> None:
        start = time.perf_counter()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
            writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            status = head[9:12].decode()
            writer.close()
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            status = type(exc).__name__
        took = time.perf_counter() - start
        lat.append(took)
        if time.monotonic() - took >= settled_from:
            record["settled"].append(took)
        statuses[status] += 1
        second = int(time.monotonic() - origin)
        seconds[second] = max(seconds[second], round(took * 1000))

    while time.monotonic() < until:
        counter[0] += 1
        task = asyncio.create_task(call(envelope_body(counter[0])))
        pending.add(task)
        task.add_done_callback(pending.discard)
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    if pending:
        await asyncio.wait(pending)


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    """The first bytes the gateway answers, once it has closed the connection (b"" if it never answered)."""
    first = await reader.read(64)
    while await reader.read(65536):
        pass
    return first


async def _hostile(port: int, slow_head: bool, args: argparse.Namespace, until: float, stats: Counter) -> None:
    """A slow client that ignores answers: it trickles until the gateway hangs up, then comes back."""
    await asyncio.sleep(random.uniform(0, args.ramp))  # the flood builds up over `--ramp` seconds
    head = (f"POST /hooks/amilia/{LINK} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {args.body_bytes}\r\n\r\n").encode()
    chunk = b" " * args.chunk
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
        except (TimeoutError, OSError):
            stats["connect_failed"] += 1
            await asyncio.sleep(args.reconnect_delay * random.uniform(0.5, 1.5))
            continue
        stats["connections"] += 1
        stats["open"] += 1
        stats["peak_open"] = max(stats["peak_open"], stats["open"])
        closed = asyncio.ensure_future(_until_closed(reader))
        sent, i = 0, 0
        try:
            writer.write(b"POST /hooks/amilia/%s HTTP/1.1\r\n" % LINK.encode() if slow_head else head)
            while not closed.done() and time.monotonic() < until and (slow_head or sent < args.body_bytes):
                await asyncio.wait([closed], timeout=args.interval)
                i += 1
                writer.write(b"X-Slow-%d: x\r\n" % i if slow_head else chunk)
                sent += 0 if slow_head else len(chunk)
                await asyncio.wait_for(writer.drain(), max(0.01, until - time.monotonic()))
            data = await asyncio.wait_for(closed, max(0.01, until - time.monotonic()))
            stats[f"answered {data[9:12].decode()}" if data.startswith(b"HTTP/") else "closed, no answer"] += 1
        except (TimeoutError, OSError):
            stats["reset, or still open at the end"] += 1
        finally:
            stats["bytes_sent"] += sent
            closed.cancel()
            writer.transport.abort()
            stats["open"] -= 1
        await asyncio.sleep(args.reconnect_delay * random.uniform(0.5, 1.5))


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000, 1) if ordered else 0.0


def _phases(args: argparse.Namespace) -> list[tuple[str, float, float]]:
    """(phase, start, end) on the monotonic clock, which both load processes and the parent share."""
    t0 = args.start_at
    return [("before", t0, t0 + args.quiet), ("flood", t0 + args.quiet, t0 + args.quiet + args.duration),
            ("after", t0 + args.quiet + args.duration, t0 + 2 * args.quiet + args.duration)]


async def _load(args: argparse.Namespace) -> dict[str, Any]:
    """`--load valid`: the valid calls of every phase; `--load hostile`: the flood. Separate processes, so
    that the flood's own event loop does not delay the valid calls' clocks."""
    port, phases = args.port, _phases(args)
    if args.load == "hostile":  # lowest priority: an attacker's CPU is not the gateway's machine's
        os.nice(19)
        _, start, until = phases[1]
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        hostile: Counter = Counter()
        slow_heads = round(args.hostile * args.slow_heads)
        await asyncio.gather(*(_hostile(port, i < slow_heads, args, until, hostile) for i in range(args.hostile)))
        return {"hostile": {**dict(hostile), "client_cpu_s": round(time.process_time(), 1)}}
    path, counter, valid = f"/hooks/amilia/{LINK}?token={os.environ['BENCH_TOKEN']}", [0], {}
    await _valid(port, path, "warm-up", min(args.start_at, time.monotonic() + 1.0), args.rate, counter, {})
    await asyncio.sleep(max(0.0, args.start_at - time.monotonic()))
    for phase, _, until in phases:
        await _valid(port, path, phase, until, args.rate, counter, valid, origin=args.start_at,
                     settled_from=phases[1][1] + args.ramp + 1)  # the flood's connections all open by then
    return {"valid": {phase: {"calls": len(v["lat"]), "p50_ms": _pct(v["lat"], 50), "p99_ms": _pct(v["lat"], 99),
                              "max_ms": _pct(v["lat"], 100), "statuses": dict(v["statuses"]),
                              "p99_ms_once_open": _pct(v["settled"], 99),
                              "slowest_ms_per_second": dict(sorted(v["seconds"].items()))}
                      for phase, v in valid.items()}, "valid_client_cpu_s": round(time.process_time(), 1)}


# ---- the parent -------------------------------------------------------------------------------------

def _runqueue_wait(pid: int) -> float:
    """Seconds the gateway's event-loop thread waited, runnable, for a CPU so far (Linux; 0 elsewhere)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class RssSampler(threading.Thread):
    """The gateway's RSS every `interval` s, with the time it was read."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        import psutil

        super().__init__(daemon=True)
        self.process, self.interval = psutil.Process(pid), interval
        self.samples: list[tuple[float, float]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.samples.append((time.monotonic(), self.process.memory_info().rss / 2**20))
            except Exception:  # noqa: BLE001 - the process ended
                return

    def between(self, start: float, end: float) -> list[float]:
        return [mb for at, mb in self.samples if start <= at < end]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hostile", type=int, default=2000, help="hostile connections during the flood")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of flood")
    parser.add_argument("--quiet", type=float, default=10.0, help="seconds of valid calls alone, before and after")
    parser.add_argument("--rate", type=float, default=40.0, help="valid calls per second")
    parser.add_argument("--slow-heads", type=float, default=0.25, help="share of hostile connections that "
                        "never finish their head (the others trickle a body)")
    parser.add_argument("--body-bytes", type=int, default=1_000_000, help="body size a hostile head announces")
    parser.add_argument("--chunk", type=int, default=16384, help="bytes a slow body sends each interval")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between a slow client's sends")
    parser.add_argument("--reconnect-delay", type=float, default=1.0, help="seconds (±50 %%, random) before a "
                        "hostile client whose connection ended opens another")
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds over which the hostile connections "
                        "open at first")
    parser.add_argument("--code-root", type=Path, default=ROOT, help="checkout whose gateway is measured")
    parser.add_argument("--output", type=Path, default=RESULTS / "gateway_flood.json")
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--load", choices=("valid", "hostile"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        print("RESULT " + json.dumps(asyncio.run(_load(args))), flush=True)
        return

    import psutil

    with tempfile.TemporaryDirectory(prefix="gateway-flood-") as tmp:
        store = f"sqlite:///{tmp}/passerelle.db"
        os.environ["PASSERELLE_HOME"] = tmp
        from passerelle.store.inbox import stats
        from passerelle.store.links import create_link

        token = create_link("amilia", LINK, url=store)
        port = free_port()
        gateway = start_gateway(args.code_root.resolve(), tmp, store, port)
        sampler = RssSampler(gateway.pid)
        sampler.start()
        cpu0, wait0 = psutil.Process(gateway.pid).cpu_times(), _runqueue_wait(gateway.pid)
        log(f"gateway ({args.code_root}) on port {port}: {args.quiet:g} s quiet, {args.duration:g} s of "
            f"{args.hostile} hostile connections, {args.quiet:g} s quiet; valid calls at {args.rate:g}/s")
        start_at = time.monotonic() + 5  # both load processes are up by then; they wait for it
        args.start_at = start_at
        common = ["--port", str(port), "--start-at", repr(start_at), *sys.argv[1:]]
        loads = {role: subprocess.Popen([sys.executable, __file__, "--load", role, *common], cwd=ROOT,
                                        env=gateway_env(ROOT, BENCH_TOKEN=token), stdout=subprocess.PIPE, text=True)
                 for role in ("valid", "hostile")}
        result: dict[str, Any] = {}
        log(f"load processes started; the flood runs from {args.quiet:g} s to {args.quiet + args.duration:g} s")
        try:
            for proc in loads.values():
                out, _ = proc.communicate(timeout=args.duration + 2 * args.quiet + 120)
                for line in out.splitlines():
                    if line.startswith("RESULT "):
                        result.update(json.loads(line[7:]))
        finally:
            for proc in loads.values():
                if proc.poll() is None:
                    proc.kill()
            cpu1, wait1 = psutil.Process(gateway.pid).cpu_times(), _runqueue_wait(gateway.pid)
            sampler.stopped.set()
            sampler.join()
            gateway.send_signal(signal.SIGTERM)
            try:
                gateway.wait(timeout=30)
            except subprocess.TimeoutExpired:
                gateway.kill()
        if not {"valid", "hostile"} <= set(result):
            raise SystemExit(f"a load process failed (exit codes {[p.returncode for p in loads.values()]})")
        acked = sum(v["statuses"].get("200", 0) for v in result["valid"].values())
        stored = sum(stats("amilia", LINK, url=store).values())
        if stored < acked:
            raise SystemExit(f"durability violated: {acked} valid calls answered 200 but {stored} rows stored")

    before, flood, after = (sampler.between(start, end) for _, start, end in _phases(args))
    rss = {"baseline_mb": round(sorted(before)[len(before) // 2], 1) if before else None,
           "peak_flood_mb": round(max(flood), 1) if flood else None,
           "end_after_mb": round(after[-1], 1) if after else None}
    valid = result["valid"]
    p99 = valid["flood"]["p99_ms"]
    meets = (rss["peak_flood_mb"] or 0) <= TARGET_RSS_MB and p99 <= TARGET_P99_MS
    output = {"bench": "gateway_flood", "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                          "load_average_1m": round(os.getloadavg()[0], 2)},
              "code_root": str(args.code_root), "settings": {k: v for k, v in vars(args).items()
                                                             if k not in ("load", "port", "code_root", "output")},
              "rss": rss, "valid": valid, "hostile": result["hostile"], "inbox_rows": stored, "valid_acked": acked,
              "gateway_cpu_s": round(cpu1.user + cpu1.system - cpu0.user - cpu0.system, 1),
              "gateway_runqueue_wait_s": round(wait1 - wait0, 1),
              "targets": {"peak_rss_mb_max": TARGET_RSS_MB, "flood_p99_ms_max": TARGET_P99_MS},
              "meets_targets": meets}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(output, indent=1, default=str) + "\n")
    for phase in ("before", "flood", "after"):
        v = valid[phase]
        log(f"valid calls {phase:>6}: {v['calls']} calls, p50 {v['p50_ms']} ms, p99 {v['p99_ms']} ms, max "
            f"{v['max_ms']} ms, statuses {v['statuses']}")
    log(f"valid calls during the flood once its connections were all open (from {args.ramp + 1:g} s in): p99 "
        f"{valid['flood']['p99_ms_once_open']} ms; slowest call per second: {valid['flood']['slowest_ms_per_second']}")
    log(f"hostile: {result['hostile']}")
    log(f"gateway RSS: baseline {rss['baseline_mb']} MB, flood peak {rss['peak_flood_mb']} MB, "
        f"{args.quiet:g} s after {rss['end_after_mb']} MB; CPU {output['gateway_cpu_s']} s, waiting for a CPU "
        f"{output['gateway_runqueue_wait_s']} s (event-loop thread; the machine's load: other work shares the cores)")
    print(f"gateway_flood: peak RSS {rss['peak_flood_mb']:.0f} MB (baseline {rss['baseline_mb']:.0f}, after "
          f"{rss['end_after_mb']:.0f}), valid p99 {p99:.0f} ms during {args.hostile} hostile connections vs "
          f"target ≤{TARGET_RSS_MB:.0f} MB, ≤{TARGET_P99_MS:.0f} ms")


if __name__ == "__main__":
    main()
