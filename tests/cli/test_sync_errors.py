"""`passerelle sync amilia` with a missing link or a vendor down: one line before any run starts."""

from __future__ import annotations

import uuid

import pytest

from connectors.amilia.credentials import AmiliaCredentials
from connectors.cyberimpact.credentials import CyberimpactCredentials
from passerelle.cli.main import app
from tests.cli.support import assert_short

pytestmark = pytest.mark.prefect


@pytest.fixture(autouse=True)
def prefect(prefect_server) -> None:
    """The run's Prefect test server (tests/conftest.py) holds the Blocks."""


def _name() -> str:
    return f"cli-{uuid.uuid4().hex[:8]}"


def test_unknown_link_names_both_connect_commands(runner) -> None:
    result = runner.invoke(app, ["sync", "amilia", "--link", "nope"])
    text = assert_short(result, "no link named 'nope'", "`passerelle connect amilia --name nope`",
                        "`passerelle connect cyberimpact --name nope`")
    assert len(text.splitlines()) == 1


def test_half_a_link_names_the_missing_block(runner) -> None:
    name = _name()
    CyberimpactCredentials(api_token="t", base_url="http://127.0.0.1:1/cyberimpact").save(name)
    result = runner.invoke(app, ["sync", "amilia", "--link", name])
    text = assert_short(result, f"link '{name}' has no Amilia credentials", f"'amilia-credentials/{name}'",
                        f"`passerelle connect amilia --name {name}`")
    assert "connect cyberimpact" not in text


def test_invalid_link_name_is_refused_by_the_option(runner) -> None:
    result = runner.invoke(app, ["sync", "amilia", "--link", "../x"])
    assert_short(result, "--link", "lowercase letters, digits and dashes", exit_code=2)


def test_stopped_sandbox_is_one_line_naming_the_url(runner, closed_port) -> None:
    name, base = _name(), f"http://127.0.0.1:{closed_port}"
    AmiliaCredentials(username="demo@passerelle.dev", password="demo-password", organization="8008",
                      base_url=f"{base}/amilia/api/V3").save(name)
    CyberimpactCredentials(api_token="t", base_url=f"{base}/cyberimpact").save(name)
    result = runner.invoke(app, ["sync", "amilia", "--link", name])
    assert_short(result, "Amilia could not be reached", f"Check the base URL ({base}/amilia/api/V3)")
    assert "demo-password" not in result.output
