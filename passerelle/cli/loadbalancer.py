"""The load balancer in front of the gateway replicas of `passerelle up --production-like`: HAProxy.

Why HAProxy (docs/deployment.md, "The production-like stack"): it is one static binary in every distribution
(`apt-get install haproxy`), runs in the foreground as one process (a PID file like the others), health-checks
the replicas on `/healthz` and takes a dead one out within about two seconds, retries a request a dead replica
never answered on the other one (a webhook is safe to replay: the inbox keeps one row per delivery), and tells
how many requests each replica served over a local stats socket (what the stack test reads).

The configuration is rendered from :data:`TEMPLATE` into the stack's folder and checked with `haproxy -c`
before the process starts; nothing is written outside that folder.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from string import Template

CONFIG = "haproxy.cfg"
STATS_SOCKET = "haproxy.sock"
INSTALL_HINT = "install it (`make haproxy`, or `apt-get install haproxy`)"

TEMPLATE = Template("""\
# Rendered by `passerelle up --production-like` (passerelle/cli/loadbalancer.py); `passerelle down` removes it.
global
    # no request log: HAProxy's own warnings (a replica DOWN or UP again) go to its standard error, the stack's log
    stats socket $stats_socket mode 600 level operator
    maxconn 4096

defaults
    mode http
    option forwardfor
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 10s
    # A request a replica never answered (refused, or its connection closed with no answer: the replica died) is
    # sent again to the other one, and so is a 503 (a replica over its limits). Safe for webhooks: a delivery is
    # acknowledged only once committed, and the inbox keeps one row per delivery, so a replay is a duplicate.
    retries 2
    option redispatch 1
    retry-on conn-failure empty-response 503

frontend webhooks
    bind $bind:$port
    # One client address never holds more than this many connections (the replicas' own caps stay behind).
    stick-table type ip size 100k expire 30s store conn_cur
    tcp-request connection track-sc0 src
    tcp-request connection reject if { sc_conn_cur(0) gt $per_client }
    default_backend gateways

backend gateways
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server check inter 1s fastinter 500ms downinter 1s fall 2 rise 2
$servers
""")


def haproxy_path() -> str | None:
    return shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")
                                            if Path(p).exists()), None)


def render(port: int, replicas: dict[str, int], stats_socket: Path, bind: str = "127.0.0.1",
           per_client: int = 1000) -> str:
    """The HAProxy configuration: `bind:port` in front of `replicas` (name → port on 127.0.0.1)."""
    if not replicas:
        raise ValueError("the load balancer needs at least one replica")
    servers = "\n".join(f"    server {name} 127.0.0.1:{replica}" for name, replica in replicas.items())
    return TEMPLATE.substitute(port=port, bind=bind, servers=servers, stats_socket=stats_socket,
                               per_client=per_client)


def write_config(folder: Path, port: int, replicas: dict[str, int]) -> Path:
    """Render the configuration into `folder` and check it with `haproxy -c`; its path."""
    binary = haproxy_path()
    if binary is None:
        raise RuntimeError(f"HAProxy is not installed: {INSTALL_HINT}")
    path = folder / CONFIG
    path.write_text(render(port, replicas, folder / STATS_SOCKET))
    check = subprocess.run([binary, "-c", "-q", "-f", str(path)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"HAProxy refused {path}: {(check.stdout + check.stderr).strip()[:500]}")
    return path


def command(config: Path) -> list[str]:
    """HAProxy in the foreground (`-db`: no daemon), one process the stack stops by its PID."""
    return [haproxy_path() or "haproxy", "-db", "-f", str(config)]


def server_stats(stats_socket: Path, backend: str = "gateways") -> dict[str, dict[str, str]]:
    """`show stat` over the stats socket: per server of `backend`, its CSV fields (`stot`: requests sent to
    it, `status`: UP/DOWN, `chkfail`, …)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(stats_socket))
        sock.sendall(b"show stat\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    lines = b"".join(chunks).decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
    return {r["svname"]: r for r in rows if r.get("pxname") == backend and r["svname"] not in ("BACKEND",)}


def remove(folder: Path) -> None:
    for name in (CONFIG, STATS_SOCKET):
        (folder / name).unlink(missing_ok=True)
