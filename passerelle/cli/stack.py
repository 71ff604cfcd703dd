"""`passerelle up` / `passerelle down`: the full local stack on embedded defaults.

`up` starts, each as its own process group with a PID file under `.passerelle/stack/`:
a Prefect server on SQLite, a process worker on the `passerelle` pool, the sandbox (seeded, with demo
Blocks named `default` pointing at it) and the webhook gateway; it creates the work pool and runs
`prefect deploy --all`. `down` stops exactly those processes, by PID.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import typer
from rich.console import Console

console = Console()
PROCESSES = ("prefect-server", "worker", "sandbox", "gateway")


def _home() -> Path:
    return Path(os.environ.get("PASSERELLE_HOME", ".passerelle")).resolve()


def _stack_dir() -> Path:
    path = _home() / "stack"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _env(prefect_port: int) -> dict[str, str]:
    root = Path.cwd().resolve()
    env = dict(os.environ)
    env.update({
        "PASSERELLE_ROOT": str(root),
        "PASSERELLE_HOME": str(_home()),
        "PREFECT_HOME": str(_home() / "prefect-server"),
        "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_URL": f"http://127.0.0.1:{prefect_port}",
    })
    Path(env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    return env


def _start(name: str, args: list[str], env: dict[str, str]) -> int:
    log = open(_stack_dir() / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    (_stack_dir() / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def _wait_http(url: str, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise typer.Exit(_fail(f"{what} did not answer on {url} within {timeout:.0f} s; see {_stack_dir()}"))


def _fail(message: str) -> int:
    console.print(f"[red]{message}[/]")
    return 1


def _run(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(args, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        console.print(result.stdout[-2000:], result.stderr[-2000:])
        raise typer.Exit(_fail(f"failed: {' '.join(args[:4])}"))


def up(
    prefect_port: int = typer.Option(4200, help="Prefect server (UI and API) port"),
    sandbox_port: int = typer.Option(8765, help="sandbox port"),
    gateway_port: int = typer.Option(8000, help="webhook gateway port"),
    persons: int = typer.Option(2000, help="size of the seeded Amilia organisation"),
) -> None:
    """Start Prefect server, worker, deployments, sandbox and gateway; print their URLs."""
    if any((_stack_dir() / f"{n}.pid").exists() for n in PROCESSES):
        raise typer.Exit(_fail("a stack is already up (PID files in .passerelle/stack): run `passerelle down`"))
    env = _env(prefect_port)
    _start("prefect-server", [_bin("prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                              str(prefect_port)], env)
    _start("sandbox", [_bin("passerelle"), "sandbox", "serve", "--port", str(sandbox_port)], env)
    _wait_http(f"http://127.0.0.1:{prefect_port}/api/health", "Prefect server")
    _wait_http(f"http://127.0.0.1:{sandbox_port}/_sandbox/healthz", "sandbox")
    console.print("Prefect server and sandbox are up; deploying…")
    _run([_bin("prefect"), "work-pool", "create", "passerelle", "--type", "process", "--overwrite"], env)
    _run([_bin("prefect"), "--no-prompt", "deploy", "--all"], env)
    _run([_bin("passerelle"), "stack", "seed-sandbox", "--url", f"http://127.0.0.1:{sandbox_port}",
          "--persons", str(persons)], env)
    _start("worker", [_bin("prefect"), "worker", "start", "--pool", "passerelle"], env)
    _start("gateway", [_bin("passerelle"), "gateway", "serve", "--port", str(gateway_port)], env)
    _wait_http(f"http://127.0.0.1:{gateway_port}/healthz", "gateway")
    hook = subprocess.run([_bin("passerelle"), "hooks", "add", "amilia", "--link", "default", "--base-url",
                           f"http://127.0.0.1:{gateway_port}"], env=env, capture_output=True, text=True)
    console.print(f"""
[bold]Passerelle stack is up[/] (logs and PIDs in {_stack_dir()})
  Prefect UI    http://127.0.0.1:{prefect_port}
  Prefect API   http://127.0.0.1:{prefect_port}/api
  Gateway       http://127.0.0.1:{gateway_port}  (receivers: /docs)
  Sandbox       http://127.0.0.1:{sandbox_port}  (control API: /_sandbox, docs/sandbox.md)
Blocks 'default' point at the sandbox. Stop everything with `passerelle down` (or `make down`).""")
    console.print(hook.stdout.strip() if hook.returncode == 0 else "[yellow]no Amilia webhook link created[/]")


def seed_sandbox(url: str = typer.Option(...), persons: int = typer.Option(2000), seed: int = 7) -> None:
    """(internal to `up`) Seed the sandbox and save `default` Blocks pointing at it."""
    from connectors.amilia.credentials import AmiliaCredentials
    from connectors.cyberimpact.credentials import CyberimpactCredentials
    from sandbox.seed import generate, load_into

    document = generate(persons=persons, seed=seed)
    load_into(url, document)
    amilia, credentials = document["amilia"], document["amilia"]["credentials"][0]
    AmiliaCredentials(username=credentials["username"], password=credentials["password"],
                      organization=str(amilia["organization"]["Id"]),
                      base_url=f"{url}/amilia/api/V3").save("default", overwrite=True)
    CyberimpactCredentials(api_token=document["cyberimpact"]["tokens"][0],
                           base_url=f"{url}/cyberimpact").save("default", overwrite=True)


def down() -> None:
    """Stop exactly the processes `up` started (by PID file), and wait for them to exit."""
    stopped = []
    for name in reversed(PROCESSES):
        pid_file = _stack_dir() / f"{name}.pid"
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text())
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pid_file.unlink()
            continue
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
        pid_file.unlink()
        stopped.append(name)
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    try:  # reap our own child if it is one (zombies count as alive for kill 0)
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True
