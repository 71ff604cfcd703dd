"""`passerelle up` checks its ports before starting anything, and stops what it started when it fails."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import respx

from passerelle.cli.stack import StackError, _verify_prefect, check_ports
from sandbox.server import free_port

ROOT = Path(__file__).resolve().parents[2]
PASSERELLE = str(Path(sys.executable).with_name("passerelle"))


@pytest.fixture
def busy_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize(("option", "make_var"), [("--prefect-port", "PREFECT_PORT"),
                                                  ("--sandbox-port", "SANDBOX_PORT"),
                                                  ("--gateway-port", "GATEWAY_PORT")])
def test_up_refuses_a_busy_port_in_one_line_before_starting_anything(tmp_path, busy_port, option, make_var):
    ports = {"--prefect-port": free_port(), "--sandbox-port": free_port(), "--gateway-port": free_port()}
    ports[option] = busy_port
    env = {**os.environ, "PASSERELLE_HOME": str(tmp_path), "HOME": str(tmp_path)}
    args = [a for pair in ports.items() for a in (pair[0], str(pair[1]))]
    done = subprocess.run([PASSERELLE, "up", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) <= 2, lines
    assert f"port {busy_port}" in lines[0] and f"{make_var}=" in lines[0] and option in lines[0], lines
    assert not list((tmp_path / "stack").glob("*.pid")), "up started something before refusing"
    assert not (tmp_path / "prefect").exists(), "up started Prefect before refusing"


def test_two_services_on_one_port_are_refused():
    port = free_port()
    with pytest.raises(StackError, match=f"both asked for port {port}"):
        check_ports({"prefect": free_port(), "sandbox": port, "gateway": port})


def test_another_prefect_on_the_port_is_not_taken_for_ours(tmp_path):
    with respx.mock(assert_all_called=True) as router:
        router.get("http://127.0.0.1:4299/api/admin/settings").mock(
            return_value=httpx.Response(200, json={"home": "/somebody/else/.prefect"}))
        with pytest.raises(StackError, match="not the one `up` started"):
            _verify_prefect("http://127.0.0.1:4299/api", str(tmp_path))


def test_our_prefect_is_recognised_by_its_home(tmp_path):
    with respx.mock(assert_all_called=True) as router:
        router.get("http://127.0.0.1:4299/api/admin/settings").mock(
            return_value=httpx.Response(200, json={"home": str(tmp_path)}))
        _verify_prefect("http://127.0.0.1:4299/api", str(tmp_path))


def test_a_busy_port_of_the_production_like_stack_names_its_own_commands():
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(StackError) as refused:
            check_ports({"gateway": port}, production_like=True)
    message = str(refused.value)
    assert f"port {port} (" in message and "`make up-pg GATEWAY_PORT=…`" in message
    assert "`passerelle up --production-like --gateway-port …`" in message
