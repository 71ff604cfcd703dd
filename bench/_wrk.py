"""wrk as the load generator of bench/webhook_ingest.py: a compiled client that saturates the bare app.

`run_wrk(url, template, seconds, connections, offset)` runs `wrk -t1` with bench/wrk_distinct.lua (every body
distinct: the gateway dedupes by content) and returns its request count, rate, latency percentiles, statuses
and the client's own CPU (from the child's rusage), so a reader sees whether the client was the bottleneck.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SCRIPT = Path(__file__).resolve().with_name("wrk_distinct.lua")


def wrk_path() -> str | None:
    return shutil.which("wrk")


def body_template(body_for) -> bytes:
    """A `string.format` template with two `%d` from `body_for(i)`, which must contain `i` as a whole number
    in two places (an id and an e-mail, say). Lua's `%` are escaped; the sentinel is far from real values."""
    sentinel = 987654321
    body = body_for(sentinel)
    assert body.count(str(sentinel).encode()) == 2, "the body must contain its number exactly twice"
    return body.replace(b"%", b"%%").replace(str(sentinel).encode(), b"%d")


def run_wrk(url: str, template: bytes, seconds: float, connections: int, offset: int,
            timeout_seconds: float = 10) -> dict[str, Any]:
    """One wrk run of `seconds` against `url`; bodies numbered from `offset`."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    with tempfile.NamedTemporaryFile(prefix="wrk-body-", suffix=".txt") as tpl:
        tpl.write(template)
        tpl.flush()
        cmd = [wrk_path() or "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               f"--timeout={timeout_seconds:g}s", "-s", str(SCRIPT), f"{parts.scheme}://{parts.netloc}",
               "--", str(offset), path, tpl.name]
        with tempfile.TemporaryFile() as out:
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            elapsed = time.perf_counter() - start
            out.seek(0)
            text = out.read().decode(errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {text[-2000:]}")
    raw = json.loads(line[7:])
    duration = raw["duration_us"] / 1e6
    client_cpu = usage.ru_utime + usage.ru_stime
    return {"requests": raw["requests"], "seconds": round(duration, 3), "rps": round(raw["requests"] / duration, 1),
            "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
            "max_ms": raw["max_us"] / 1000, "errors": raw["errors"],
            "statuses": dict(sorted(raw["statuses"].items())),
            "client_cpu_percent": round(100 * client_cpu / elapsed, 1),
            "client_cpu_us_per_call": round(client_cpu / max(1, raw["requests"]) * 1e6, 1)}
