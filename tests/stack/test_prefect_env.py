"""Which Prefect a `passerelle` command talks to: the running stack's, else the local home — never ~/.prefect."""

from __future__ import annotations

import os
import subprocess

from passerelle.cli import prefect_env


def _stack(home, pid: int) -> None:
    prefect_env.write_stack_env({"PREFECT_API_URL": "http://127.0.0.1:4311/api",
                                 "PREFECT_HOME": str(home / "prefect"), "PASSERELLE_HOME": str(home)}, home)
    (home / "stack" / "prefect-server.pid").write_text(str(pid))


def test_a_running_stack_is_used_without_any_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("PASSERELLE_HOME", str(tmp_path))
    _stack(tmp_path, os.getpid())
    env: dict[str, str] = {"PASSERELLE_HOME": str(tmp_path)}
    line = prefect_env.apply(env)
    assert env["PREFECT_API_URL"] == "http://127.0.0.1:4311/api"
    assert env["PREFECT_HOME"] == str(tmp_path / "prefect")
    assert line == "Prefect API: http://127.0.0.1:4311/api (the stack started by `passerelle up`)"


def test_what_the_user_exported_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("PASSERELLE_HOME", str(tmp_path))
    _stack(tmp_path, os.getpid())
    env = {"PREFECT_API_URL": "https://prefect.example.org/api", "PREFECT_HOME": str(tmp_path / "mine")}
    line = prefect_env.apply(env)
    assert env["PREFECT_API_URL"] == "https://prefect.example.org/api"
    assert env["PREFECT_HOME"] == str(tmp_path / "mine")
    assert line == "Prefect API: https://prefect.example.org/api (PREFECT_API_URL)"


def test_a_stack_whose_server_is_gone_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("PASSERELLE_HOME", str(tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()
    _stack(tmp_path, gone.pid)
    env: dict[str, str] = {}
    assert prefect_env.apply(env) is None
    assert "PREFECT_API_URL" not in env
    assert env["PREFECT_HOME"] == str(tmp_path / "prefect"), "Prefect must not default to ~/.prefect"


def test_without_a_stack_prefect_lives_under_the_passerelle_home(tmp_path, monkeypatch):
    monkeypatch.setenv("PASSERELLE_HOME", str(tmp_path / "home"))
    env: dict[str, str] = {}
    assert prefect_env.apply(env) is None
    assert env["PREFECT_HOME"] == str(tmp_path / "home" / "prefect")
    assert (tmp_path / "home" / "prefect").is_dir()


def test_values_with_spaces_survive_the_settings_file(tmp_path):
    prefect_env.write_stack_env({"PREFECT_HOME": str(tmp_path / "a b")}, tmp_path)
    (tmp_path / "stack" / "prefect-server.pid").write_text(str(os.getpid()))
    assert prefect_env.read_stack_env(tmp_path) == {"PREFECT_HOME": str(tmp_path / "a b")}
    sourced = subprocess.run(["sh", "-c", f'set -a; . "{tmp_path}/stack/stack.env"; printf %s "$PREFECT_HOME"'],
                             capture_output=True, text=True, check=True)
    assert sourced.stdout == str(tmp_path / "a b")


def test_the_stack_auth_string_reaches_the_cli_and_make_prefect(tmp_path, monkeypatch):
    """`passerelle up --auth`: the CLI (and `make prefect`, which sources the file) sends the stack's auth."""
    monkeypatch.setenv("PASSERELLE_HOME", str(tmp_path))
    prefect_env.write_stack_env({"PREFECT_API_URL": "http://127.0.0.1:4311/api",
                                 "PREFECT_API_AUTH_STRING": "admin:s3-cr_et"}, tmp_path)
    (tmp_path / "stack" / "prefect-server.pid").write_text(str(os.getpid()))
    env: dict[str, str] = {}
    prefect_env.apply(env)
    assert env["PREFECT_API_AUTH_STRING"] == "admin:s3-cr_et"
    assert (tmp_path / "stack" / "stack.env").stat().st_mode & 0o777 == 0o600
    script = f'set -a; . "{tmp_path}/stack/stack.env"; printf %s "$PREFECT_API_AUTH_STRING"'
    sourced = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert sourced.stdout == "admin:s3-cr_et"
