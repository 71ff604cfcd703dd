"""`passerelle up` / `passerelle down`: the full local stack on embedded defaults.

`up` starts, each as its own process group with a PID file under `.passerelle/stack/`:
a Prefect server on SQLite, a process worker on the `passerelle` pool, the sandbox (seeded, with demo
Blocks named `default` pointing at it) and the webhook gateway; it creates the work pool and runs
`prefect deploy --all`. `down` stops exactly those processes, by PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from passerelle.cli import prefect_env

console = Console()
PROCESSES = ("prefect-server", "worker", "sandbox", "gateway")
# What each port is for, and the option that changes it (`make up` and `passerelle up`).
PORTS = {"prefect": ("Prefect server", "PREFECT_PORT", "--prefect-port"),
         "sandbox": ("sandbox", "SANDBOX_PORT", "--sandbox-port"),
         "gateway": ("webhook gateway", "GATEWAY_PORT", "--gateway-port")}


class StackError(Exception):
    """`up` could not finish: one line for the operator; what it had started is stopped."""


def _home() -> Path:
    return prefect_env.passerelle_home()


def _stack_dir() -> Path:
    path = prefect_env.stack_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _stack_settings(prefect_port: int) -> dict[str, str]:
    """What every process of the stack, and every `passerelle` command while it is up, uses."""
    settings = {
        "PASSERELLE_HOME": str(_home()),
        "PREFECT_HOME": str(prefect_env.prefect_home()),
        "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
        "PREFECT_UI_URL": f"http://127.0.0.1:{prefect_port}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    if os.environ.get("PASSERELLE_DATABASE_URL"):
        settings["PASSERELLE_DATABASE_URL"] = os.environ["PASSERELLE_DATABASE_URL"]
    return settings


def _env(settings: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(settings)
    env["PASSERELLE_ROOT"] = str(Path.cwd().resolve())
    Path(env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    return env


def _start(name: str, args: list[str], env: dict[str, str]) -> int:
    log = open(_stack_dir() / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    (_stack_dir() / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def check_ports(ports: dict[str, int]) -> None:
    """Every port free before anything starts; else one line naming the port and the option to change it."""
    seen: dict[int, str] = {}
    for key, port in ports.items():
        what, make_var, option = PORTS[key]
        if not 1 <= port <= 65535:
            raise StackError(f"{what} port {port} is not a TCP port (1-65535): choose another with "
                             f"`make up {make_var}=…` or `passerelle up {option} …`")
        if port in seen:
            raise StackError(f"{what} and {seen[port]} both asked for port {port}: choose another with "
                             f"`make up {make_var}=…` or `passerelle up {option} …`")
        seen[port] = what
        if _port_in_use(port):
            raise StackError(f"port {port} ({what}) is already in use on 127.0.0.1: stop what holds it or "
                             f"choose another with `make up {make_var}=…` or `passerelle up {option} …`")


def _wait_http(url: str, what: str, name: str, pid: int, timeout: float = 180.0) -> None:
    """Wait for the process `name` (its log: <stack>/<name>.log) to answer on `url`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            raise StackError(f"{what} exited while starting; see {_stack_dir() / f'{name}.log'}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise StackError(f"{what} did not answer on {url} within {timeout:.0f} s; see {_stack_dir()}")


def _verify_prefect(api: str, home: str) -> None:
    """What answers on the Prefect port is the server `up` started (its home is ours), not another one."""
    try:
        answer = httpx.get(f"{api}/admin/settings", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        answer = {}
    if Path(str(answer.get("home", ""))).resolve() != Path(home).resolve():
        raise StackError(f"the Prefect server answering on {api} is not the one `up` started (another "
                         "Prefect holds the port?): choose another with `make up PREFECT_PORT=…`")


def _run(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(args, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        log = _stack_dir() / f"{Path(args[0]).name}-{args[1]}.log"
        log.write_text(result.stdout + result.stderr)
        raise StackError(f"`{' '.join(Path(a).name if i == 0 else a for i, a in enumerate(args[:4]))}` "
                         f"failed; its output is in {log}")


def up(
    prefect_port: int = typer.Option(4200, help="Prefect server (UI and API) port"),
    sandbox_port: int = typer.Option(8765, help="sandbox port"),
    gateway_port: int = typer.Option(8000, help="webhook gateway port"),
    persons: int = typer.Option(2000, help="size of the seeded Amilia organisation"),
) -> None:
    """Start Prefect server, worker, deployments, sandbox and gateway; print their URLs."""
    running = [n for n in PROCESSES if _pid_alive(_stack_dir() / f"{n}.pid")]
    if running:
        raise typer.Exit(_fail(f"a stack is already up ({', '.join(running)}; PID files in {_stack_dir()}): "
                               "run `passerelle down` first"))
    for name in PROCESSES:  # left by a stack that crashed or a machine that rebooted
        (_stack_dir() / f"{name}.pid").unlink(missing_ok=True)
    try:
        check_ports({"prefect": prefect_port, "sandbox": sandbox_port, "gateway": gateway_port})
        hook = _up(prefect_port, sandbox_port, gateway_port, persons)
    except StackError as exc:
        _stop_all()
        raise typer.Exit(_fail(f"passerelle up: {exc}")) from None
    except BaseException:
        _stop_all()
        raise
    console.print(f"""
[bold]Passerelle stack is up[/] (logs and PIDs in {_stack_dir()})
  Prefect UI    http://127.0.0.1:{prefect_port}
  Prefect API   http://127.0.0.1:{prefect_port}/api
  Gateway       http://127.0.0.1:{gateway_port}  (receivers: /docs)
  Sandbox       http://127.0.0.1:{sandbox_port}  (control API: /_sandbox, docs/sandbox.md)
Blocks 'default' point at the sandbox. While the stack is up every `passerelle` command talks to this
Prefect (settings in {_stack_dir() / prefect_env.STACK_ENV}). Stop everything with `passerelle down`.""",
                  soft_wrap=True)
    console.print(escape(hook) if hook else "[yellow]no Amilia webhook link created[/]", soft_wrap=True)


def _up(prefect_port: int, sandbox_port: int, gateway_port: int, persons: int) -> str:
    settings = _stack_settings(prefect_port)
    env = _env(settings)
    api = settings["PREFECT_API_URL"]
    server = _start("prefect-server", [_bin("prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                                       str(prefect_port)], env)
    sandbox = _start("sandbox", [_bin("passerelle"), "sandbox", "serve", "--port", str(sandbox_port)], env)
    _wait_http(f"{api}/health", "Prefect server", "prefect-server", server)
    _verify_prefect(api, settings["PREFECT_HOME"])
    _wait_http(f"http://127.0.0.1:{sandbox_port}/_sandbox/healthz", "sandbox", "sandbox", sandbox)
    prefect_env.write_stack_env(settings)
    console.print("Prefect server and sandbox are up; deploying…")
    _run([_bin("prefect"), "work-pool", "create", "passerelle", "--type", "process", "--overwrite"], env)
    _run([_bin("passerelle"), "deploy"], env)  # prefect deploy --all, then unknown parameter names refused
    _run([_bin("passerelle"), "stack", "seed-sandbox", "--url", f"http://127.0.0.1:{sandbox_port}",
          "--persons", str(persons)], env)
    _start("worker", [_bin("prefect"), "worker", "start", "--pool", "passerelle"], env)
    gateway = _start("gateway", [_bin("passerelle"), "gateway", "serve", "--port", str(gateway_port)], env)
    _wait_http(f"http://127.0.0.1:{gateway_port}/healthz", "webhook gateway", "gateway", gateway)
    hook = subprocess.run([_bin("passerelle"), "hooks", "add", "amilia", "--link", "default", "--base-url",
                           f"http://127.0.0.1:{gateway_port}"], env=env, capture_output=True, text=True)
    return hook.stdout.strip() if hook.returncode == 0 else ""


def _fail(message: str) -> int:
    Console(stderr=True, soft_wrap=True).print(message, style="red", markup=False, highlight=False)
    return 1


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
    stopped = _stop_all()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


def _stop_all() -> list[str]:
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
    prefect_env.remove_stack_env()
    return stopped


def _pid_alive(pid_file: Path) -> bool:
    try:
        return _alive(int(pid_file.read_text()))
    except (FileNotFoundError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    try:  # reap our own child if it is one (zombies count as alive for kill 0)
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True
