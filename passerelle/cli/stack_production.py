"""`passerelle up --production-like`: the local stack laid out the way production runs it (docs/deployment.md).

Each as its own process group with a PID file and a log under `.passerelle/stack/`, like `passerelle up`:

| process | what |
| --- | --- |
| `prefect-server` | `prefect server start` on PostgreSQL (its own database, `passerelle_prefect`), basic auth |
| `sandbox` | the vendor emulators, seeded |
| `worker-1`, `worker-2` | `prefect worker start --pool passerelle` (two process workers on one pool) |
| `gateway-1`, `gateway-2` | `passerelle gateway serve` on their own ports (`--replica-ports`), one PostgreSQL store |
| `loadbalancer` | HAProxy on `--gateway-port`, health-checking the replicas on `/healthz` (loadbalancer.py) |

Both databases are created when missing (the store's is migrated to the newest revision) and named in
`databases.json` (mode 0600) in the stack's folder; `passerelle down` stops everything and leaves them, `passerelle
down --drop` drops the ones `up` created (never one it found already there) and forgets them.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from passerelle.cli import loadbalancer, prefect_env
from passerelle.cli import stack as base
from passerelle.settings import normalise_database_url

PREFECT_DB_ENV, STORE_DB_ENV = "PREFECT_API_DATABASE_CONNECTION_URL", "PASSERELLE_DATABASE_URL"
DEFAULT_PREFECT_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/passerelle_prefect"
DEFAULT_STORE_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/passerelle"
WORKERS = ("worker-1", "worker-2")
REPLICAS = ("gateway-1", "gateway-2")
PROCESSES = ("prefect-server", "sandbox", *WORKERS, *REPLICAS, "loadbalancer")
RECORD = "databases.json"


@dataclass(frozen=True)
class Databases:
    prefect: str  # postgresql+asyncpg://… (Prefect's server uses asyncpg)
    store: str  # postgresql+psycopg://… (the store's driver)


def _url(raw: str, option: str, driver: str) -> URL:
    try:
        url = make_url(normalise_database_url(raw))
    except ArgumentError:
        raise base.StackError(f"{option} is not a database URL: give postgresql://user@host:5432/name") from None
    if url.get_backend_name() != "postgresql" or not url.database:
        raise base.StackError(f"{option} must name a PostgreSQL database (postgresql://user@host:5432/name), "
                              f"not {url.render_as_string(hide_password=True)}")
    return url.set(drivername=f"postgresql+{driver}")


def database_urls(prefect: str | None, store: str | None, environ: dict[str, str] | None = None) -> Databases:
    """The two databases: options first, then the environment, then the local defaults; never the same one."""
    env = os.environ if environ is None else environ
    prefect_url = _url(prefect or env.get(PREFECT_DB_ENV) or DEFAULT_PREFECT_DB,
                       "--prefect-database-url" if prefect else PREFECT_DB_ENV if env.get(PREFECT_DB_ENV)
                       else "the default Prefect database", "asyncpg")
    store_url = _url(store or env.get(STORE_DB_ENV) or DEFAULT_STORE_DB,
                     "--store-database-url" if store else STORE_DB_ENV if env.get(STORE_DB_ENV)
                     else "the default store database", "psycopg")
    where = lambda u: (u.host or "localhost", u.port or 5432, u.database)  # noqa: E731
    if where(prefect_url) == where(store_url):
        raise base.StackError(f"the Prefect server and the store would share the database {store_url.database}: "
                              "give each its own (--prefect-database-url, --store-database-url)")
    return Databases(prefect_url.render_as_string(hide_password=False),
                     store_url.render_as_string(hide_password=False))


def replica_ports(raw: str | None, gateway_port: int) -> dict[str, int]:
    if raw is None:
        return {"replica-1": gateway_port + 1, "replica-2": gateway_port + 2}
    try:
        ports = [int(part) for part in raw.split(",")]
    except ValueError:
        ports = []
    if len(ports) != len(REPLICAS):
        raise base.StackError(f"--replica-ports {raw!r}: give the two replicas' ports, e.g. --replica-ports 8001,8002")
    return {f"replica-{i}": port for i, port in enumerate(ports, 1)}


def _connect(url: str, database: str = "postgres"):
    import psycopg

    parts = make_url(url)
    shown = f"{parts.host or 'localhost'}:{parts.port or 5432}"
    try:
        return psycopg.connect(host=parts.host, port=parts.port, user=parts.username, password=parts.password,
                               dbname=database, autocommit=True, connect_timeout=5, **parts.query)
    except psycopg.Error as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[0][:200] if lines else type(exc).__name__
        raise base.StackError(f"PostgreSQL at {shown} refused {parts.username or 'the user'} ({reason}): start it "
                              "(e.g. `pg_ctlcluster 15 main start`) or point --prefect-database-url / "
                              "--store-database-url at one that runs") from None


def ensure_database(url: str) -> bool:
    """Create the URL's database when it is missing (on the same server, through `postgres`); True if created."""
    from psycopg import sql

    name = make_url(url).database
    with _connect(url) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


def _record(databases: Databases, created: dict[str, bool]) -> None:
    """Name the databases in `databases.json` (0600: a URL may hold a password); `created` is sticky for a URL."""
    path = base._stack_dir() / RECORD
    old = _read_record()
    entries = {}
    for key, url in (("prefect", databases.prefect), ("store", databases.store)):
        before = old.get(key) or {}
        entries[key] = {"url": url, "created": created[key] or (before.get("url") == url and before.get("created"))}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(entries, out, indent=1)


def _read_record() -> dict:
    try:
        return json.loads((base._stack_dir() / RECORD).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def drop(console: Console) -> list[str]:
    """`passerelle down --drop`: drop the databases `up --production-like` created, then forget them."""
    from psycopg import sql

    record, dropped = _read_record(), []
    for key in ("prefect", "store"):
        entry = record.get(key)
        if not entry or not entry.get("created"):
            continue
        name = make_url(entry["url"]).database
        with _connect(entry["url"]) as conn:  # WITH (FORCE): a connection left by a killed process does not block
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        dropped.append(name)
    (base._stack_dir() / RECORD).unlink(missing_ok=True)
    kept = [make_url(e["url"]).database for e in record.values() if e and not e.get("created")]
    console.print(f"dropped: {', '.join(dropped) or 'no database'}"
                  + (f" (kept {', '.join(kept)}: `up` found them already there)" if kept else ""))
    return dropped


def _migrate(env: dict[str, str]) -> None:
    done = subprocess.run([base._bin("python"), "-m", "passerelle.store.migrations", "upgrade", "head"], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        log = base._stack_dir() / "migrate.log"
        log.write_text(done.stdout + done.stderr)
        raise base.StackError(f"migrating the store failed; its output is in {log}")


def up(prefect_port: int, sandbox_port: int, gateway_port: int, persons: int, expose: bool, host: str | None,
       prefect_database_url: str | None, store_database_url: str | None, replicas: str | None) -> None:
    """`passerelle up --production-like`: start it all, or stop what was started and exit 1 with one line."""
    import typer

    try:
        listen = base.prefect_host(host, expose)
        auth_string, origin = base.choose_auth(True, expose)
        databases = database_urls(prefect_database_url, store_database_url)
        ports = replica_ports(replicas, gateway_port)
        base.check_ports({"prefect": prefect_port, "sandbox": sandbox_port, "gateway": gateway_port, **ports},
                         {"prefect": listen}, production_like=True)
        if loadbalancer.haproxy_path() is None:
            raise base.StackError(f"HAProxy (the load balancer in front of the gateway replicas) is not installed: "
                                  f"{loadbalancer.INSTALL_HINT}")
        hook = _up(prefect_port, sandbox_port, gateway_port, list(ports.values()), persons, listen, auth_string,
                   databases)
    except base.StackError as exc:
        base._stop_all()
        raise typer.Exit(base._fail(f"passerelle up: {exc}")) from None
    except BaseException:
        base._stop_all()
        raise
    prefect = f"http://{base._client_host(listen)}:{prefect_port}"
    shown = {k: make_url(v).render_as_string(hide_password=True) for k, v in vars(databases).items()}
    base.console.print(f"""
[bold]Passerelle production-like stack is up[/] (logs and PIDs in {base._stack_dir()})
  Prefect UI    {prefect}  (server on PostgreSQL: {escape(shown['prefect'])})
  Prefect API   {prefect}/api
  Gateway       http://127.0.0.1:{gateway_port}  (HAProxy → replicas on {', '.join(map(str, ports.values()))})
  Workers       {', '.join(f'passerelle-{w}' for w in WORKERS)} on pool 'passerelle'
  Store         {escape(shown['store'])}
  Sandbox       http://127.0.0.1:{sandbox_port}
Stop everything with `passerelle down` (the databases stay; `passerelle down --drop` drops those `up` created).""",
                       soft_wrap=True)
    base._print_auth(origin, expose)
    base.console.print(escape(hook) if hook else "[yellow]no Amilia webhook link created[/]", soft_wrap=True)


def _up(prefect_port: int, sandbox_port: int, gateway_port: int, replica_ports_: list[int], persons: int,
        host: str, auth_string: str, databases: Databases) -> str:
    created = {"prefect": ensure_database(databases.prefect), "store": ensure_database(databases.store)}
    _record(databases, created)
    settings = base._stack_settings(prefect_port, host)
    settings[STORE_DB_ENV] = databases.store  # the gateways, the workers' flow runs and the CLI (stack.env)
    settings[base.CLIENT_AUTH] = auth_string
    env = base._env(settings)
    for name in (base.SERVER_AUTH, PREFECT_DB_ENV):  # only the server holds these
        env.pop(name, None)
    server_env = {**env, base.SERVER_AUTH: auth_string, PREFECT_DB_ENV: databases.prefect}
    api, auth = settings["PREFECT_API_URL"], base.basic_auth(auth_string)
    _migrate(env)
    server = base._start("prefect-server", [base._bin("prefect"), "server", "start", "--host", host, "--port",
                                            str(prefect_port)], server_env)
    sandbox = base._start("sandbox", [base._bin("passerelle"), "sandbox", "serve", "--port", str(sandbox_port)], env)
    base._wait_http(f"{api}/health", "Prefect server", "prefect-server", server, auth=auth)
    base._verify_prefect(api, settings["PREFECT_HOME"], auth)
    base._wait_http(f"http://127.0.0.1:{sandbox_port}/_sandbox/healthz", "sandbox", "sandbox", sandbox)
    prefect_env.write_stack_env(settings)
    base.console.print("Prefect server (PostgreSQL) and sandbox are up; deploying…")
    base._run([base._bin("prefect"), "work-pool", "create", "passerelle", "--type", "process", "--overwrite"], env)
    base._run([base._bin("passerelle"), "deploy"], env)
    base._run([base._bin("passerelle"), "stack", "seed-sandbox", "--url", f"http://127.0.0.1:{sandbox_port}",
               "--persons", str(persons)], env)
    for name in WORKERS:
        base._start(name, [base._bin("prefect"), "worker", "start", "--pool", "passerelle", "--name",
                           f"passerelle-{name}"], env)
    for name, port in zip(REPLICAS, replica_ports_, strict=True):
        pid = base._start(name, [base._bin("passerelle"), "gateway", "serve", "--port", str(port)], env)
        base._wait_http(f"http://127.0.0.1:{port}/healthz", f"gateway replica {name}", name, pid)
    try:
        config = loadbalancer.write_config(base._stack_dir(), gateway_port, dict(zip(REPLICAS, replica_ports_,
                                                                                      strict=True)))
    except RuntimeError as exc:
        raise base.StackError(str(exc)) from None
    front = base._start("loadbalancer", loadbalancer.command(config), env)
    base._wait_http(f"http://127.0.0.1:{gateway_port}/healthz", "load balancer (HAProxy)", "loadbalancer", front)
    hook = subprocess.run([base._bin("passerelle"), "hooks", "add", "amilia", "--link", "default", "--base-url",
                           f"http://127.0.0.1:{gateway_port}"], env=env, capture_output=True, text=True)
    return hook.stdout.strip() if hook.returncode == 0 else ""
