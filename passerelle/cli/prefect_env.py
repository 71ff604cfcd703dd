"""Which Prefect every `passerelle` command talks to, decided before Prefect is imported.

- While the stack that `passerelle up` started is running, its settings file
  (`<PASSERELLE_HOME>/stack/stack.env`: `PREFECT_API_URL`, `PREFECT_HOME`, …) is applied, so `connect`,
  `sync` and `hooks` read and write the Blocks the stack's UI shows, with no environment variable to set.
  The Makefile includes the same file for the `prefect` it runs (`make prefect ARGS=…`).
  When the stack's server requires basic auth (`passerelle up --auth` / `--expose`), the file also holds
  `PREFECT_API_AUTH_STRING` (`user:password`): it is written with mode 0600, readable by its owner only.
- Otherwise Prefect's home is `<PASSERELLE_HOME>/prefect` (the database an embedded Prefect and the stack's
  server share), never `~/.prefect`.

Whatever the user exported themselves wins: only unset variables are filled in.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

STACK_ENV = "stack.env"


def passerelle_home() -> Path:
    return Path(os.environ.get("PASSERELLE_HOME", ".passerelle")).resolve()


def stack_dir(home: Path | None = None) -> Path:
    return (home or passerelle_home()) / "stack"


def prefect_home(home: Path | None = None) -> Path:
    """The Prefect home of this Passerelle home: the stack's server database and the CLI's Blocks."""
    return (home or passerelle_home()) / "prefect"


def write_stack_env(values: dict[str, str], home: Path | None = None) -> Path:
    """Write the running stack's settings (`KEY=value` lines, readable by make, `set -a; .` and us).

    The file may hold the Prefect API's auth string: it is created with mode 0600 (never readable by
    others, not even for a moment), and a file left with a wider mode is narrowed before it is written."""
    path = stack_dir(home) / STACK_ENV
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by `passerelle up`, removed by `passerelle down`: the Prefect this stack runs."]
    lines += [f"{key}={shlex.quote(value)}" for key, value in values.items()]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write("\n".join(lines) + "\n")
    return path


def read_stack_env(home: Path | None = None) -> dict[str, str]:
    """The running stack's settings, or {} when no stack is up (no file, or its server process is gone)."""
    directory = stack_dir(home)
    path = directory / STACK_ENV
    if not path.exists() or not _server_alive(directory):
        return {}
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        parts = shlex.split(raw)
        values[key.strip()] = parts[0] if parts else ""
    return values


def remove_stack_env(home: Path | None = None) -> None:
    (stack_dir(home) / STACK_ENV).unlink(missing_ok=True)


def _server_alive(directory: Path) -> bool:
    pid_file = directory / "prefect-server.pid"
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def apply(environ: dict[str, str] | None = None) -> str | None:
    """Point this process's Prefect at the running stack, or at the local home. Returns a line saying
    which Prefect API is used when it is not the default embedded one, else None."""
    env = os.environ if environ is None else environ
    stack = {} if env.get("PREFECT_API_URL") else read_stack_env()
    for key, value in stack.items():
        env.setdefault(key, value)
    if "PREFECT_HOME" not in env:
        env["PREFECT_HOME"] = str(prefect_home())
    Path(env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)  # Prefect creates only the leaf
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    api = env.get("PREFECT_API_URL")
    if not api:
        return None
    origin = "the stack started by `passerelle up`" if stack else "PREFECT_API_URL"
    return f"Prefect API: {api} ({origin})"
