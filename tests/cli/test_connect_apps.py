"""`passerelle connect APP` for every registered app, built from its credentials Block's fields: secrets are
prompted without echo or read from `<APP>_<FIELD>`, the Block is checked by its test() before it is saved, and
it lands in Prefect under the connection's name."""

from __future__ import annotations

import uuid

import pytest

from connectors.amilia.credentials import AmiliaCredentials
from connectors.cyberimpact.credentials import CyberimpactCredentials
from connectors.registry import apps
from passerelle.cli.main import app
from tests.cli.support import assert_short

pytestmark = pytest.mark.prefect
TOKEN = "sandbox-cyberimpact-token"  # the sandbox's default Cyberimpact account


@pytest.fixture
def prefect(prefect_server) -> None:
    """The run's Prefect test server (tests/conftest.py) holds the Blocks."""


def _name() -> str:
    return f"cli-{uuid.uuid4().hex[:8]}"


def test_connect_offers_every_registered_app(runner) -> None:
    result = runner.invoke(app, ["connect", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in apps():
        assert f"│ {name} " in result.output


@pytest.mark.parametrize("app_name", sorted(apps()))
def test_each_block_field_is_an_option_and_each_secret_has_its_env_var(runner, app_name) -> None:
    entry = apps()[app_name]
    cls = entry.credentials_class()
    result = runner.invoke(app, ["connect", app_name, "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    for field in cls.model_fields:
        assert f"--{field.replace('_', '-')} " in result.output
    for secret in cls.secret_field_names():
        assert entry.env_var(secret) in result.output
    assert "--name" in result.output and "--no-check" in result.output


def test_token_from_the_environment_is_checked_then_saved(runner, prefect, sandbox) -> None:
    name = _name()
    result = runner.invoke(app, ["connect", "cyberimpact", "--name", name, "--base-url", sandbox.cyberimpact_url],
                           env={"CYBERIMPACT_API_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    assert "Cyberimpact accepted the API token (GET /ping)" in result.output
    assert f"saved CyberimpactCredentials block '{name}'" in result.output and TOKEN not in result.output
    saved = CyberimpactCredentials.load(name)
    assert saved.api_token.get_secret_value() == TOKEN and saved.base_url == sandbox.cyberimpact_url


def test_the_password_prompt_does_not_echo(runner, prefect, sandbox) -> None:
    name = _name()
    result = runner.invoke(app, ["connect", "amilia", "--name", name, "--username", "demo@passerelle.dev",
                                 "--organization", "8008", "--language", "fr", "--max-concurrency", "3",
                                 "--base-url", sandbox.amilia_url], input="demo-password\n")
    assert result.exit_code == 0, result.output
    assert "Password: " in result.output and "demo-password" not in result.output
    saved = AmiliaCredentials.load(name)
    assert (saved.username, saved.organization, saved.language, saved.max_concurrency) == (
        "demo@passerelle.dev", "8008", "fr", 3)
    assert saved.password.get_secret_value() == "demo-password"


def test_refused_credentials_are_not_saved(runner, prefect, sandbox) -> None:
    name = _name()
    result = runner.invoke(app, ["connect", "cyberimpact", "--name", name, "--api-token", "wrong-token",
                                 "--base-url", sandbox.cyberimpact_url])
    assert_short(result, "not saved", "Cyberimpact rejected the API token", f"'cyberimpact-credentials/{name}'")
    assert "wrong-token" not in result.output
    with pytest.raises(ValueError, match="Unable to find block document"):
        CyberimpactCredentials.load(name)


def test_no_check_saves_without_calling_the_vendor(runner, prefect, closed_port) -> None:
    name = _name()
    result = runner.invoke(app, ["connect", "cyberimpact", "--name", name, "--no-check", "--api-token", TOKEN,
                                 "--base-url", f"http://127.0.0.1:{closed_port}/cyberimpact"])
    assert result.exit_code == 0, result.output
    assert CyberimpactCredentials.load(name).base_url == f"http://127.0.0.1:{closed_port}/cyberimpact"


def test_a_field_out_of_range_names_its_option(runner) -> None:
    result = runner.invoke(app, ["connect", "cyberimpact", "--api-token", TOKEN, "--max-concurrency", "0"])
    assert_short(result, "--max-concurrency", "greater than or equal to 1", exit_code=2)
    assert TOKEN not in result.output


def test_an_unknown_app_is_a_usage_error(runner) -> None:
    result = runner.invoke(app, ["connect", "zapier"])
    assert result.exit_code == 2 and "zapier" in result.output
