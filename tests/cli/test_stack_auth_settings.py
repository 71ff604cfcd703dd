"""`passerelle up --auth/--expose` without a stack: which auth string, which address, and the 0600 stack.env."""

from __future__ import annotations

import base64
import os
import socket
import stat

import httpx
import pytest
import respx

from passerelle.cli import prefect_env, stack
from passerelle.cli.main import app
from passerelle.cli.stack import (
    CLIENT_AUTH,
    SERVER_AUTH,
    StackError,
    _print_auth,
    _verify_prefect,
    _wait_http,
    basic_auth,
    check_ports,
    choose_auth,
    prefect_host,
)
from sandbox.server import free_port
from tests.cli.support import assert_short


def test_no_auth_by_default():
    assert choose_auth(False, False, {}) == (None, "")
    assert choose_auth(False, False, {CLIENT_AUTH: "me:pw"}) == (None, ""), "a client setting alone changes nothing"


@pytest.mark.parametrize(("auth", "expose"), [(True, False), (False, True), (True, True)])
def test_auth_or_expose_generates_an_admin_string_each_time(auth, expose):
    first, origin = choose_auth(auth, expose, {})
    second, _ = choose_auth(auth, expose, {})
    assert origin == "generated"
    user, _, password = first.partition(":")
    assert user == "admin" and len(password) >= 32 and first != second
    assert all(c.isalnum() or c in "-_" for c in password), "must survive shell sourcing unquoted"


@pytest.mark.parametrize("name", [SERVER_AUTH, CLIENT_AUTH])
def test_a_string_from_the_environment_is_used(name):
    assert choose_auth(True, False, {name: "ops:s3cret:with-colon"}) == ("ops:s3cret:with-colon", name)


def test_the_server_setting_alone_turns_auth_on():
    """The server would require it anyway: the clients must get it too."""
    assert choose_auth(False, False, {SERVER_AUTH: "ops:pw"}) == ("ops:pw", SERVER_AUTH)


def test_the_same_string_in_both_variables_is_fine_and_empty_ones_are_unset():
    assert choose_auth(True, False, {SERVER_AUTH: "ops:pw", CLIENT_AUTH: "ops:pw"})[0] == "ops:pw"
    assert choose_auth(True, False, {SERVER_AUTH: "", CLIENT_AUTH: ""})[1] == "generated"


def test_two_different_strings_are_refused():
    with pytest.raises(StackError, match=f"{SERVER_AUTH} and {CLIENT_AUTH} are both set and differ") as err:
        choose_auth(True, False, {SERVER_AUTH: "a:1", CLIENT_AUTH: "b:2"})
    assert "1" not in str(err.value) and "2" not in str(err.value), "never echo a password"


@pytest.mark.parametrize("value", ["nopassword", "admin:", ":pw"])
def test_a_string_that_is_not_user_colon_password_is_refused(value):
    with pytest.raises(StackError, match=f"{CLIENT_AUTH} must be `user:password`"):
        choose_auth(True, False, {CLIENT_AUTH: value})


def test_basic_auth_sends_exactly_what_prefect_compares():
    """Prefect base64-decodes the Basic credentials and compares them with its whole setting."""
    request = httpx.Request("GET", "http://x/api/health")
    for auth_string in ("admin:abc", "ops:pa:ss"):
        header = next(httpx.BasicAuth(*basic_auth(auth_string)).auth_flow(request)).headers["Authorization"]
        assert base64.b64decode(header.split()[1]).decode() == auth_string
    assert basic_auth(None) is None


def test_the_server_stays_on_loopback_unless_exposed():
    assert prefect_host(None, False) == "127.0.0.1"
    assert prefect_host("localhost", False) == "localhost"
    assert prefect_host(None, True) == "0.0.0.0"
    assert prefect_host("10.1.2.3", True) == "10.1.2.3"
    with pytest.raises(StackError, match="--host 0.0.0.0 would serve the Prefect API beyond this machine: "
                                         "add --expose"):
        prefect_host("0.0.0.0", False)


def test_up_refuses_an_outside_host_without_expose_in_one_line(runner, tmp_path):
    result = runner.invoke(app, ["up", "--host", "0.0.0.0", "--prefect-port", str(free_port())])
    assert_short(result, "--host 0.0.0.0", "--expose")
    assert not list((tmp_path / "home" / "stack").glob("*.pid")), "up started something before refusing"


def test_up_refuses_two_different_strings_in_one_line(runner, monkeypatch):
    monkeypatch.setenv(SERVER_AUTH, "a:first-secret")
    monkeypatch.setenv(CLIENT_AUTH, "b:second-secret")
    result = runner.invoke(app, ["up", "--auth", "--prefect-port", str(free_port())])
    text = assert_short(result, SERVER_AUTH, CLIENT_AUTH, "unset one")
    assert "secret" not in text


def test_an_exposed_port_is_checked_on_every_address():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(StackError, match=f"port {port} \\(Prefect server\\) is already in use on 0.0.0.0"):
            check_ports({"prefect": port}, {"prefect": "0.0.0.0"})


def test_an_address_this_machine_does_not_have_is_named():
    address = "203.0.113.254"  # TEST-NET-3: no machine should have it
    with socket.socket() as probe:
        try:
            probe.bind((address, 0))
            pytest.skip(f"this machine has {address}")
        except OSError:
            pass
    with pytest.raises(StackError, match=f"--host {address} is not an address of this machine"):
        check_ports({"prefect": free_port()}, {"prefect": address})


def test_up_checks_prefect_with_the_auth_header(monkeypatch):
    monkeypatch.setattr(stack, "_alive", lambda pid: True)  # no server process here
    expected = "Basic " + base64.b64encode(b"admin:pw").decode()
    with respx.mock(assert_all_called=True) as router:
        health = router.get("http://127.0.0.1:4299/api/health").mock(return_value=httpx.Response(200))
        settings = router.get("http://127.0.0.1:4299/api/admin/settings").mock(
            return_value=httpx.Response(200, json={"home": "/h"}))
        _wait_http("http://127.0.0.1:4299/api/health", "Prefect server", "prefect-server", 1,
                   auth=basic_auth("admin:pw"))
        _verify_prefect("http://127.0.0.1:4299/api", "/h", basic_auth("admin:pw"))
    assert health.calls.last.request.headers["Authorization"] == expected
    assert settings.calls.last.request.headers["Authorization"] == expected


def test_a_prefect_that_refuses_our_auth_is_not_ours():
    with respx.mock() as router:
        router.get("http://127.0.0.1:4299/api/admin/settings").mock(
            return_value=httpx.Response(401, json={"exception_message": "Unauthorized"}))
        with pytest.raises(StackError, match="not the one `up` started"):
            _verify_prefect("http://127.0.0.1:4299/api", "/h", basic_auth("admin:pw"))


def test_the_summary_names_the_file_never_the_string(capsys, monkeypatch):
    monkeypatch.delenv("PREFECT_UI_API_URL", raising=False)
    _print_auth("generated", expose=True)
    out = " ".join(capsys.readouterr().out.split())
    assert str(prefect_env.stack_dir() / "stack.env") in out
    assert CLIENT_AUTH in out and "0600" in out and "TLS reverse proxy" in out and "PREFECT_UI_API_URL" in out


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_stack_env_is_created_readable_by_its_owner_only(tmp_path):
    old = os.umask(0)  # even a permissive umask must not widen it
    try:
        path = prefect_env.write_stack_env({CLIENT_AUTH: "admin:pw", "PREFECT_API_URL": "http://x/api"}, tmp_path)
    finally:
        os.umask(old)
    assert _mode(path) == 0o600
    (tmp_path / "stack" / "prefect-server.pid").write_text(str(os.getpid()))
    assert prefect_env.read_stack_env(tmp_path)[CLIENT_AUTH] == "admin:pw"


def test_a_stack_env_left_world_readable_is_narrowed(tmp_path):
    path = tmp_path / "stack" / "stack.env"
    path.parent.mkdir()
    path.write_text("OLD=1\n")
    path.chmod(0o644)
    prefect_env.write_stack_env({CLIENT_AUTH: "admin:pw"}, tmp_path)
    assert _mode(path) == 0o600
    assert "OLD" not in path.read_text()


def test_a_symlink_is_not_followed(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("keep\n")
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "stack.env").symlink_to(target)
    with pytest.raises(OSError):
        prefect_env.write_stack_env({CLIENT_AUTH: "admin:pw"}, tmp_path)
    assert target.read_text() == "keep\n"
