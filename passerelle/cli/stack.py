"""`passerelle up` / `passerelle down`: the full local stack on embedded defaults.

`up` starts, each as its own process group with a PID file under `.passerelle/stack/`:
a Prefect server on SQLite, a process worker on the `passerelle` pool, the sandbox (seeded, with demo
Blocks named `default` pointing at it) and the webhook gateway; it creates the work pool and runs
`prefect deploy --all`. `down` stops exactly those processes, by PID.

The Prefect server listens on 127.0.0.1 only, without authentication (its API hands Block secrets to any
caller asking `include_secrets=true`). `--auth` makes it require Prefect's basic auth (the server gets
`PREFECT_SERVER_API_AUTH_STRING`, every client process `PREFECT_API_AUTH_STRING`, the same `user:password`);
`--expose` listens on 0.0.0.0 (or `--host`) and always requires it (docs/deployment.md, "The Prefect
server's door: authentication"). `--production-like` runs the same stack the way production does (PostgreSQL,
two workers, two gateway replicas behind HAProxy, basic auth): passerelle/cli/stack_production.py.
"""

from __future__ import annotations

import errno
import os
import secrets
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
# What `down` stops, front first, of either stack (the production-like one: stack_production.PROCESSES).
STOP_ORDER = ("loadbalancer", "gateway", "gateway-1", "gateway-2", "sandbox", "worker", "worker-1", "worker-2",
              "prefect-server")
# What each port is for, and the option that changes it (`make up` and `passerelle up`).
PORTS = {"prefect": ("Prefect server", "PREFECT_PORT", "--prefect-port"),
         "sandbox": ("sandbox", "SANDBOX_PORT", "--sandbox-port"),
         "gateway": ("webhook gateway", "GATEWAY_PORT", "--gateway-port"),
         "replica-1": ("gateway replica 1", "REPLICA_PORTS", "--replica-ports"),
         "replica-2": ("gateway replica 2", "REPLICA_PORTS", "--replica-ports")}
SERVER_AUTH, CLIENT_AUTH = "PREFECT_SERVER_API_AUTH_STRING", "PREFECT_API_AUTH_STRING"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


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


def choose_auth(auth: bool, expose: bool, environ: dict[str, str] | None = None) -> tuple[str | None, str]:
    """The `user:password` the stack's server requires, and where it comes from; (None, "") without auth.

    Auth is on with `--auth`, with `--expose`, or when PREFECT_SERVER_API_AUTH_STRING is set (the server
    would require it anyway). The string is PREFECT_SERVER_API_AUTH_STRING or PREFECT_API_AUTH_STRING from
    the environment, else a new `admin:<random>`."""
    env = os.environ if environ is None else environ
    server, client = env.get(SERVER_AUTH) or None, env.get(CLIENT_AUTH) or None
    if not (auth or expose or server):
        return None, ""
    if server and client and server != client:
        raise StackError(f"{SERVER_AUTH} and {CLIENT_AUTH} are both set and differ: unset one, or give both "
                         "the same `user:password`")
    if not (server or client):
        return f"admin:{secrets.token_urlsafe(24)}", "generated"
    name = SERVER_AUTH if server else CLIENT_AUTH
    user, _, password = (server or client or "").partition(":")
    if not user or not password:
        raise StackError(f"{name} must be `user:password` (both non-empty): fix it, or unset it and "
                         "`passerelle up --auth` generates one")
    return server or client, name


def basic_auth(auth_string: str | None) -> tuple[str, str] | None:
    """httpx's `auth=` for Prefect's basic auth (it compares the decoded `user:password` with its setting)."""
    if not auth_string:
        return None
    user, _, password = auth_string.partition(":")
    return user, password


def prefect_host(host: str | None, expose: bool) -> str:
    """The address the Prefect server listens on: 127.0.0.1 unless `--expose` (then 0.0.0.0 or `--host`)."""
    if expose:
        return host or "0.0.0.0"
    if host and host not in LOOPBACK:
        raise StackError(f"--host {host} would serve the Prefect API beyond this machine: add --expose (it "
                         "requires basic auth; `make up EXPOSE=1`), or leave --host out")
    return host or "127.0.0.1"


def _client_host(host: str) -> str:
    """The address this machine's clients use to reach a server listening on `host`."""
    if host in {"0.0.0.0", "::", "localhost", ""}:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _stack_settings(prefect_port: int, host: str = "127.0.0.1") -> dict[str, str]:
    """What every process of the stack, and every `passerelle` command while it is up, uses."""
    settings = {
        "PASSERELLE_HOME": str(_home()),
        "PREFECT_HOME": str(prefect_env.prefect_home()),
        "PREFECT_API_URL": f"http://{_client_host(host)}:{prefect_port}/api",
        "PREFECT_UI_URL": f"http://{_client_host(host)}:{prefect_port}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # Flow runs beat every 30 s (Prefect's minimum; default 180); the automation `crash-silent-flow-runs`
        # of prefect.yaml marks a run Crashed after 90 s without one (docs/deployment.md, "Crashed runs").
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
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


def _port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror:
        raise StackError(f"--host {host} is not an address of this machine: fix --host (or use 0.0.0.0)") from None
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise StackError(f"--host {host} is not an address of this machine: fix --host (or use "
                                 "0.0.0.0)") from None
            return True
    return False


def check_ports(ports: dict[str, int], hosts: dict[str, str] | None = None, production_like: bool = False) -> None:
    """Every port free before anything starts; else one line naming the port and the option to change it.

    `hosts`: the address a service listens on when it is not 127.0.0.1 (the Prefect server with `--expose`).
    Two services never share a port, whatever their addresses: the gateway is never reached on Prefect's.
    `production_like`: the fix names `make up-pg` and `passerelle up --production-like`."""
    make_target, up = ("make up-pg", "passerelle up --production-like") if production_like else ("make up",
                                                                                                 "passerelle up")
    seen: dict[int, str] = {}
    for key, port in ports.items():
        what, make_var, option = PORTS[key]
        if not 1 <= port <= 65535:
            raise StackError(f"{what} port {port} is not a TCP port (1-65535): choose another with "
                             f"`{make_target} {make_var}=…` or `{up} {option} …`")
        if port in seen:
            raise StackError(f"{what} and {seen[port]} both asked for port {port}: choose another with "
                             f"`{make_target} {make_var}=…` or `{up} {option} …`")
        seen[port] = what
        host = (hosts or {}).get(key, "127.0.0.1")
        if _port_in_use(port, host):
            raise StackError(f"port {port} ({what}) is already in use on {host}: stop what holds it or "
                             f"choose another with `{make_target} {make_var}=…` or `{up} {option} …`")


def _wait_http(url: str, what: str, name: str, pid: int, timeout: float = 180.0,
               auth: tuple[str, str] | None = None) -> None:
    """Wait for the process `name` (its log: <stack>/<name>.log) to answer on `url` (with basic `auth`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            raise StackError(f"{what} exited while starting; see {_stack_dir() / f'{name}.log'}")
        try:
            if httpx.get(url, timeout=2, auth=auth).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise StackError(f"{what} did not answer on {url} within {timeout:.0f} s; see {_stack_dir()}")


def _verify_prefect(api: str, home: str, auth: tuple[str, str] | None = None) -> None:
    """What answers on the Prefect port is the server `up` started (its home is ours), not another one.
    With auth on, the request carries the stack's basic auth: a server refusing it is not ours either."""
    try:
        response = httpx.get(f"{api}/admin/settings", timeout=10, auth=auth)
        answer = response.json() if response.status_code == 200 else {}
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
    auth: bool = typer.Option(False, "--auth", help="require Prefect's basic auth (string: "
                              f"{SERVER_AUTH} or {CLIENT_AUTH}, else generated into the stack's stack.env)"),
    expose: bool = typer.Option(False, "--expose", help="serve the Prefect server beyond this machine (0.0.0.0 "
                                "or --host); implies --auth; put a TLS reverse proxy in front"),
    host: str | None = typer.Option(None, help="address the Prefect server listens on with --expose "
                                    "(0.0.0.0 if not given)"),
    production_like: bool = typer.Option(False, "--production-like", help="PostgreSQL, two workers, two gateway "
                                         "replicas behind HAProxy, basic auth (docs/deployment.md)"),
    prefect_database_url: str | None = typer.Option(None, help="--production-like: Prefect's PostgreSQL database, "
                                                    "created if missing (default: passerelle_prefect, local)"),
    store_database_url: str | None = typer.Option(None, help="--production-like: the store's PostgreSQL database, "
                                                  "created if missing, migrated (default: passerelle, local)"),
    replica_ports: str | None = typer.Option(None, help="--production-like: the replicas' ports, e.g. 8001,8002"),
) -> None:
    """Start Prefect server, worker, deployments, sandbox and gateway; print their URLs."""
    running = [n for n in STOP_ORDER if _pid_alive(_stack_dir() / f"{n}.pid")]
    if running:
        raise typer.Exit(_fail(f"a stack is already up ({', '.join(running)}; PID files in {_stack_dir()}): "
                               "run `passerelle down` first"))
    for name in STOP_ORDER:  # left by a stack that crashed or a machine that rebooted
        (_stack_dir() / f"{name}.pid").unlink(missing_ok=True)
    if production_like:
        from passerelle.cli import stack_production

        return stack_production.up(prefect_port, sandbox_port, gateway_port, persons, expose, host,
                                   prefect_database_url, store_database_url, replica_ports)
    try:
        listen = prefect_host(host, expose)
        auth_string, origin = choose_auth(auth, expose)
        check_ports({"prefect": prefect_port, "sandbox": sandbox_port, "gateway": gateway_port},
                    {"prefect": listen})
        hook = _up(prefect_port, sandbox_port, gateway_port, persons, listen, auth_string)
    except StackError as exc:
        _stop_all()
        raise typer.Exit(_fail(f"passerelle up: {exc}")) from None
    except BaseException:
        _stop_all()
        raise
    prefect = f"http://{_client_host(listen)}:{prefect_port}"
    where = f"  (listening on {listen})" if listen != "127.0.0.1" else ""
    console.print(f"""
[bold]Passerelle stack is up[/] (logs and PIDs in {_stack_dir()})
  Prefect UI    {prefect}{where}
  Prefect API   {prefect}/api
  Gateway       http://127.0.0.1:{gateway_port}  (receivers: /docs)
  Sandbox       http://127.0.0.1:{sandbox_port}  (control API: /_sandbox, docs/sandbox.md)
Blocks 'default' point at the sandbox. While the stack is up every `passerelle` command talks to this
Prefect (settings in {_stack_dir() / prefect_env.STACK_ENV}). Stop everything with `passerelle down`.""",
                  soft_wrap=True)
    if auth_string:
        _print_auth(origin, expose)
    console.print(escape(hook) if hook else "[yellow]no Amilia webhook link created[/]", soft_wrap=True)


def _print_auth(origin: str, expose: bool) -> None:
    """Where the auth string is (never the string: it is a password)."""
    stack_env = escape(str(_stack_dir() / prefect_env.STACK_ENV))
    source = "generated for this stack" if origin == "generated" else f"taken from {origin}"
    console.print(f"[bold]Basic auth is on[/] ({source}): the `user:password` string is {CLIENT_AUTH} in "
                  f"{stack_env} (mode 0600); the UI asks for it, the CLI and `make prefect` read it there.",
                  soft_wrap=True)
    if expose:
        console.print("[bold yellow]warning:[/] the Prefect API now answers beyond this machine over plain "
                      "HTTP, and basic auth sends the password with every request: reach it only through a "
                      "TLS reverse proxy (docs/deployment.md, \"The Prefect server's door: authentication\")"
                      + ("" if os.environ.get("PREFECT_UI_API_URL") else "; for browsers elsewhere, set "
                         "PREFECT_UI_API_URL=https://<the proxy>/api before `passerelle up`") + ".",
                      soft_wrap=True)


def _up(prefect_port: int, sandbox_port: int, gateway_port: int, persons: int, host: str = "127.0.0.1",
        auth_string: str | None = None) -> str:
    settings = _stack_settings(prefect_port, host)
    if auth_string:  # every client: worker, gateway, deploy, seed, and the CLI through stack.env
        settings[CLIENT_AUTH] = auth_string
    env = _env(settings)
    env.pop(SERVER_AUTH, None)  # only the server holds the server's setting
    server_env = {**env, SERVER_AUTH: auth_string} if auth_string else env
    api, auth = settings["PREFECT_API_URL"], basic_auth(auth_string)
    server = _start("prefect-server", [_bin("prefect"), "server", "start", "--host", host, "--port",
                                       str(prefect_port)], server_env)
    sandbox = _start("sandbox", [_bin("passerelle"), "sandbox", "serve", "--port", str(sandbox_port)], env)
    _wait_http(f"{api}/health", "Prefect server", "prefect-server", server, auth=auth)
    _verify_prefect(api, settings["PREFECT_HOME"], auth)
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


def down(drop: bool = typer.Option(False, "--drop", help="then drop the PostgreSQL databases that `up "
                                    "--production-like` created")) -> None:
    """Stop exactly the processes `up` started (by PID file), and wait for them to exit."""
    stopped = _stop_all()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    if drop:
        from passerelle.cli import stack_production

        stack_production.drop(console)


def _stop_all() -> list[str]:
    from passerelle.cli import loadbalancer

    stopped = []
    for name in STOP_ORDER:
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
    loadbalancer.remove(_stack_dir())
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
