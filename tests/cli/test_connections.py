"""`passerelle connections list`: app, name and base URL of every saved connection, never a secret; `--check`
asks each vendor; text from outside (a vendor's message) is printed as text, control characters visible."""

from __future__ import annotations

import uuid

import pytest

from connectors.amilia.credentials import AmiliaCredentials
from connectors.cyberimpact.credentials import CyberimpactCredentials
from passerelle.cli.main import app
from tests.cli.support import assert_short

pytestmark = pytest.mark.prefect
TOKEN = "sandbox-cyberimpact-token"
WIDE = {"COLUMNS": "500"}


@pytest.fixture(autouse=True)
def prefect(prefect_server) -> None:
    """The run's Prefect test server (tests/conftest.py) holds the Blocks."""


def _name() -> str:
    return f"ls-{uuid.uuid4().hex[:8]}"


def rows(output: str) -> dict[str, list[str]]:
    """Table rows by connection name: the cells of each line of rich's table."""
    out = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) >= 3:
            out[cells[1]] = cells
    return out


def test_list_shows_app_name_and_base_url_and_no_secret(runner, sandbox) -> None:
    good, other = _name(), _name()
    CyberimpactCredentials(api_token=TOKEN, base_url=sandbox.cyberimpact_url).save(good)
    AmiliaCredentials(username="demo@passerelle.dev", password="demo-password", organization="8008",
                      base_url="https://user:pw-in-url@proxy.example/amilia/api/V3?key=k-SECRET").save(other)
    result = runner.invoke(app, ["connections", "list"], env=WIDE)
    assert result.exit_code == 0, result.output
    table = rows(result.output)
    assert table[good] == ["cyberimpact", good, sandbox.cyberimpact_url]
    assert table[other] == ["amilia", other, "https://proxy.example/amilia/api/V3"]
    for secret in (TOKEN, "demo-password", "pw-in-url", "k-SECRET"):
        assert secret not in result.output
    only = runner.invoke(app, ["connections", "list", "--app", "amilia"], env=WIDE)
    assert other in rows(only.output) and good not in rows(only.output)


def test_check_asks_each_vendor(runner, sandbox) -> None:
    good, bad = _name(), _name()
    CyberimpactCredentials(api_token=TOKEN, base_url=sandbox.cyberimpact_url).save(good)
    CyberimpactCredentials(api_token="wrong-token", base_url=sandbox.cyberimpact_url).save(bad)
    result = runner.invoke(app, ["connections", "list", "--app", "cyberimpact", "--check"], env=WIDE)
    assert result.exit_code == 0, result.output
    table = rows(result.output)
    assert table[good][3] == "yes: Cyberimpact accepted the API token (GET /ping)"
    assert table[bad][3] == ("no: Cyberimpact rejected the API token (401 on GET /ping): Unauthenticated. "
                             f"Check the token in the 'cyberimpact-credentials/{bad}' block.")
    assert "wrong-token" not in result.output and TOKEN not in result.output


def test_a_vendors_message_is_printed_as_text(runner, sandbox) -> None:
    """The Amilia emulator echoes the organisation in its 404: markup and escapes in it stay inert."""
    name = _name()
    AmiliaCredentials(username="demo@passerelle.dev", password="demo-password",
                      organization="[bold]x\x1b]0;pwned\x07", base_url=sandbox.amilia_url).save(name)
    result = runner.invoke(app, ["connections", "list", "--app", "amilia", "--check"], env=WIDE)
    assert result.exit_code == 0, result.output
    verdict = rows(result.output)[name][3]
    assert verdict.startswith("no: Amilia has no such resource (404 on GET ")
    assert "Organization '[bold]x\\x1b]0;pwned\\x07' was not found" in verdict
    assert "\x1b" not in result.output and "\x07" not in result.output


def test_an_unknown_app_is_refused_by_the_option(runner) -> None:
    result = runner.invoke(app, ["connections", "list", "--app", "zapier"])
    assert_short(result, "--app", "no app named 'zapier'", exit_code=2)


async def _forget_block_type(slug: str) -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        await client.delete_block_type((await client.read_block_type_by_slug(slug)).id)


def test_an_app_nobody_registered_or_saved_lists_nothing(runner) -> None:
    import asyncio

    from connectors.registry import register_block_types

    AmiliaCredentials(username="u", password="p", organization="1").save(_name())  # the type exists now
    asyncio.run(_forget_block_type("amilia-credentials"))  # as on a Prefect server that never saw it
    try:
        result = runner.invoke(app, ["connections", "list", "--app", "amilia"])
        assert result.exit_code == 0, result.output
        assert result.output.startswith("no connections: create one with `passerelle connect APP --name NAME`")
    finally:
        asyncio.run(register_block_types())
