"""Several gateway processes on one port: `passerelle gateway serve --processes N` (PASSERELLE_GATEWAY_PROCESSES).

One Python process runs one event loop under one interpreter lock, so a single gateway uses about one core
however many the machine has. With N processes the parent forks N children before anything else starts
(no thread, no event loop, no open store connection); each binds its own socket on the same port with
`SO_REUSEPORT` and serves it with uvicorn, and the kernel spreads the incoming connections over them. On a
SQLite store their commits take turns on a file lock (`sqlite.CommitLock`); the first child alone runs the
WAL checkpoints.

The parent supervises: SIGTERM or SIGINT stops every child gracefully (each finishes its calls and commits, as
a single gateway does); a child that dies otherwise (killed, crashed) is started again after a second, so the
port keeps being served. A connection the dead child held is reset; what it had acknowledged was committed.
When the parent itself dies (even by SIGKILL) the children get SIGTERM and stop the same graceful way.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable

log = logging.getLogger("passerelle.gateway")
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def reuse_port_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening socket on host:port that other processes may bind too (SO_REUSEPORT)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         proto=socket.IPPROTO_TCP)[0]
    # proto must say TCP: asyncio sets TCP_NODELAY only on such sockets' connections, and without it every
    # answer on a kept-alive connection waits ~40 ms for the client's delayed ACK (Nagle)
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(backlog)
    return sock


def _stop_with_parent(parent: int) -> None:
    """Have the kernel send this child SIGTERM when the supervisor dies, even by SIGKILL (Linux's
    PR_SET_PDEATHSIG): the child then stops as on `passerelle down`, committing what it acknowledged,
    instead of serving on unsupervised. Exits at once if the supervisor is already gone."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os._exit(0)


def supervise(count: int, child: Callable[[int], None], restart_pause: float = 1.0) -> int:
    """Fork `count` children running `child(index)`; restart one that dies unasked; on SIGTERM/SIGINT stop
    them all (SIGTERM) and wait. Returns 0, or 1 when a child failed while stopping."""
    children: dict[int, int] = {}  # pid → index
    parent = os.getpid()
    stopping = False
    failed = False

    def spawn(index: int) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)  # no stop handler runs between fork and reset
        pid = os.fork()
        if pid == 0:  # the child: default signal handling (uvicorn installs its own), then serve
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            _stop_with_parent(parent)
            code = 1
            try:
                child(index)
                code = 0
            except KeyboardInterrupt:
                code = 0
            except BaseException:  # noqa: BLE001 — the child's last word, then a plain exit
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children[pid] = index
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)

    def stop(signum: int, _frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for index in range(count):
        spawn(index)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        index = children.pop(pid, None)
        if index is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            failed = failed or code not in (0, -signal.SIGTERM, -signal.SIGINT)
            continue
        how = f"was killed by signal {-code}" if code < 0 else f"exited with {code}"
        log.warning("gateway process %d (pid %d) %s; starting it again", index, pid, how)
        time.sleep(restart_pause)
        if not stopping:
            spawn(index)
    return 1 if failed else 0
