"""Shared helpers of the benchmarks: the sandbox in its own process, its control API, child processes.

Only the standard library, httpx and psutil are imported at module level, so that a benchmark's child
process can import this module without pulling Prefect or pandas into its own peak RSS.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from sandbox.server import SandboxAddress, free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
VENDORS = ("amilia", "cyberimpact")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def log(message: str) -> None:
    """A progress line, flushed at once (the bench runs for minutes)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this one's, the project root importable, unbuffered output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class SandboxProcess(SandboxAddress):
    """The sandbox app served by uvicorn in a separate process, so its CPU and memory are its own.

    Example:
        with SandboxProcess(log_path) as sb:
            sb.reset(); sb.load(document)
    """

    def __init__(self, log_path: Path, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self._http: httpx.Client | None = None

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=300)
        return self._http

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def start(self, timeout: float = 60.0) -> SandboxProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = self.log_path.open("wb")
        cmd = [sys.executable, "-m", "uvicorn", "sandbox.app:create_app", "--factory", "--host", self.host,
               "--port", str(self.port), "--log-level", "warning", "--no-access-log", "--lifespan", "off"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=child_env(), stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sandbox exited with code {self.proc.returncode}:\n{self._log_tail()}")
            try:
                if httpx.get(f"{self.url}/_sandbox/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"sandbox not healthy on {self.url} after {timeout:g} s:\n{self._log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control API ------------------------------------------------------------------------------
    def reset(self) -> None:
        self.http.post("/_sandbox/reset").raise_for_status()

    def load(self, document: dict[str, Any]) -> None:
        for vendor in VENDORS:
            if vendor in document:
                self.http.put(f"/_sandbox/{vendor}/state", json=document[vendor]).raise_for_status()

    def state(self, vendor: str) -> dict[str, Any]:
        response = self.http.get(f"/_sandbox/{vendor}/state")
        response.raise_for_status()
        return response.json()

    def clear_requests(self) -> None:
        for vendor in VENDORS:
            self.http.delete(f"/_sandbox/{vendor}/requests").raise_for_status()

    def requests(self, vendor: str) -> dict[str, Any]:
        response = self.http.get(f"/_sandbox/{vendor}/requests")
        response.raise_for_status()
        return response.json()

    def cpu_seconds(self) -> float:
        """User + system CPU time the sandbox process used so far."""
        return 0.0 if self.proc is None else process_cpu_seconds(self.proc.pid)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time one process (all its threads, not its children) used so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def tree_cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds so far of a process and its live children (e.g. a flow and its Prefect server,
    a gateway serving from several processes), all their threads."""
    import psutil

    user = system = 0.0
    try:
        root = psutil.Process(pid)
        for proc in (root, *root.children(recursive=True)):
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                user, system = user + times.user, system + times.system
    except psutil.Error:
        pass
    return user, system


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children."""
    return sum(tree_cpu_times(pid))


def _route(vendor: str, method: str, path: str) -> str:
    """A request's route with ids replaced by ``{id}``, e.g. ``GET /batches/{id}``."""
    prefix = {"amilia": "/amilia/api/V3", "cyberimpact": "/cyberimpact"}[vendor]
    rest = path[len(prefix):] if path.startswith(prefix) else path
    parts = rest.split("/")
    if vendor == "amilia" and len(parts) > 3 and parts[2] == "org":
        parts = ["", "{lang}", "org", "{org}", *parts[4:]]
    parts = ["{id}" if p.isdigit() or "@" in p else p for p in parts]
    return f"{method} {'/'.join(parts)}"


def call_counts(sandbox: SandboxProcess) -> dict[str, Any]:
    """API calls answered by each emulator since the log was cleared: total, reads, writes, by route."""
    out: dict[str, Any] = {}
    for vendor in VENDORS:
        log_ = sandbox.requests(vendor)
        records = log_["requests"]
        writes = sum(1 for r in records if r["method"] in WRITE_METHODS)
        statuses = Counter(str(r["status"]) for r in records)
        routes = Counter(_route(vendor, r["method"], r["path"]) for r in records)
        span = (max(r["at"] for r in records) - min(r["at"] for r in records)) if records else 0.0
        out[vendor] = {"total": log_["total"], "reads": len(records) - writes, "writes": writes,
                       "by_status": dict(sorted(statuses.items())), "by_route": dict(routes.most_common()),
                       "first_to_last_s": round(span, 3)}
    return out


def cyberimpact_outcome(state: dict[str, Any]) -> dict[str, Any]:
    """What a sync left in Cyberimpact, in ids-free terms, to compare two runs."""
    titles = {g["id"]: g["title"] for g in state["groups"]}
    per_group: Counter[str] = Counter()
    for member in state["members"]:
        for gid in member.get("groups") or []:
            per_group[titles[gid]] += 1
    fields = {f["id"]: f["name"] for f in state["customFields"]}
    return {
        "emails": sorted(m["email"] for m in state["members"]),
        "group_titles": sorted(titles.values()),
        "dynamic_groups": sorted(g["title"] for g in state["groups"] if g.get("isDynamic")),
        "memberships_per_group": dict(sorted(per_group.items())),
        "custom_fields": sorted(fields.values()),
        "custom_values": sum(len(m.get("customFields") or {}) for m in state["members"]),
        "with_consent": sum(1 for m in state["members"] if m.get("consentDate")),
    }


def compare_outcomes(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Differences between two :func:`cyberimpact_outcome` results (empty when the same)."""
    problems = []
    for key in ("emails", "group_titles", "dynamic_groups", "custom_fields"):
        if a[key] != b[key]:
            only_a, only_b = set(a[key]) - set(b[key]), set(b[key]) - set(a[key])
            problems.append(f"{key}: {len(a[key])} vs {len(b[key])} (only first: {sorted(only_a)[:3]}, "
                            f"only second: {sorted(only_b)[:3]})")
    if a["memberships_per_group"] != b["memberships_per_group"]:
        diff = {t: (a["memberships_per_group"].get(t, 0), b["memberships_per_group"].get(t, 0))
                for t in set(a["memberships_per_group"]) | set(b["memberships_per_group"])
                if a["memberships_per_group"].get(t, 0) != b["memberships_per_group"].get(t, 0)}
        problems.append(f"group memberships differ in {len(diff)} groups, e.g. {dict(list(diff.items())[:3])}")
    for key in ("custom_values", "with_consent"):
        if a[key] != b[key]:
            problems.append(f"{key}: {a[key]} vs {b[key]}")
    return problems


def run_child(args: list[str], env: dict[str, str], out_path: Path, timeout: float, label: str) -> dict[str, Any]:
    """Run ``python <args>`` from the project root; the child writes its result as JSON to ``out_path``.

    The child's stdout/stderr pass through (its progress lines show up live). Raises on a non-zero exit
    or a missing result.
    """
    cmd = [sys.executable, *args]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{label} child exited with code {proc.returncode} after "
                           f"{time.perf_counter() - started:.1f} s (command: {' '.join(cmd)})")
    if not out_path.exists():
        raise RuntimeError(f"{label} child wrote no result to {out_path}")
    return json.loads(out_path.read_text())


def gateway_env(code_root: Path, **extra: str) -> dict[str, str]:
    """A gateway's environment: no PREFECT_/PASSERELLE_ setting of this shell, `code_root` importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PASSERELLE_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(code_root), str(ROOT / "bench")) if p)
    env.update(extra)
    return env


def start_gateway(code_root: Path, tmp: str, store: str, port: int, **extra: str) -> subprocess.Popen:
    """`passerelle gateway serve` of the checkout `code_root` on `port`, its store `store`, in its own process;
    `extra`: more environment (e.g. PREFECT_API_URL, for sources whose secret is a Prefect block)."""
    env = gateway_env(code_root, PASSERELLE_DATABASE_URL=store, PASSERELLE_HOME=tmp,
                      PREFECT_HOME=f"{tmp}/prefect", PREFECT_SERVER_ANALYTICS_ENABLED="false", **extra)
    log_path = Path(tmp) / "gateway.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "passerelle.cli.main", "gateway", "serve", "--port",
                                 str(port), "--log-level", "warning"], cwd=code_root, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"the gateway did not start on port {port}; see {log_path}")


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"nproc": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform()}
    try:
        from importlib.metadata import version

        for package in ("prefect", "httpx", "pandas", "uvicorn"):
            info[package] = version(package)
    except Exception:  # noqa: BLE001 - informative only
        pass
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return info
