"""`passerelle connect iadvize-zendesk` (docs/iadvize-zendesk.md, "Install"): the Zendesk domain rule of the seed
("https://[votredomaine].zendesk.com"), both credentials checked against the sandbox before saving (each failure
naming its credential, nothing saved), the saved Block read back by `load_install`, secrets never printed."""

from __future__ import annotations

import random

import httpx
import pytest

from passerelle.cli.main import app
from tasks.iadvize_zendesk.install import (
    IadvizeZendeskInstall,
    InstallCheckFailed,
    InstallNotFound,
    install_block_name,
    load_install,
    register_install_block_type,
)
from tests.cli.support import assert_short

ZENDESK_KEY, REST_KEY = "sandbox-zendesk-token", "rest-KEY-123"  # the Zendesk emulator's default API token
FORM = "https://<subdomain>.zendesk.com"


@pytest.fixture
def prefect(prefect_server) -> None:
    """The run's Prefect test server (tests/conftest.py) holds the Blocks."""


@pytest.fixture
def site() -> str:
    return str(random.randint(10_000, 99_999_999))  # Blocks outlive a test: each test has a site of its own


@pytest.fixture
def graphql_token(sandbox, site) -> str:
    """A site of the iAdvize emulator and a token for it (the sandbox issues tokens at its login)."""
    state = {"account": {"clientId": 335, "platform": "ha"},
             "projects": [{"id": int(site), "name": "Boutique FR", "country": "FR"}]}
    httpx.put(f"{sandbox.url}/_sandbox/iadvize/state", json=state, timeout=10).raise_for_status()
    answer = httpx.post(f"{sandbox.vendor_url('iadvize')}/oauth2/token", timeout=10, data={
        "grant_type": "password", "username": "demo@passerelle.dev", "password": "demo-password"})
    return answer.json()["access_token"]


def args(site: str, sandbox=None, domain: str = "https://acme.zendesk.com", *extra: str) -> list[str]:
    out = ["connect", "iadvize-zendesk", "--site", site, "--zendesk-domain", domain,
           "--zendesk-email", "admin@passerelle.dev", *extra]
    if sandbox is not None:
        out += ["--zendesk-base-url", sandbox.vendor_url("zendesk"),
                "--iadvize-base-url", sandbox.vendor_url("iadvize")]
    return out


def env(token: str, zendesk_key: str = ZENDESK_KEY) -> dict[str, str]:
    return {"IADVIZE_ZENDESK_ZENDESK_API_KEY": zendesk_key, "IADVIZE_ZENDESK_IADVIZE_REST_API_KEY": REST_KEY,
            "IADVIZE_ZENDESK_IADVIZE_GRAPHQL_TOKEN": token}


@pytest.mark.parametrize("domain", ["acme.zendesk.com", "http://acme.zendesk.com", "https://acme.example.com"])
def test_a_domain_not_of_the_form_https_sub_zendesk_com_is_refused_naming_the_form(runner, domain) -> None:
    result = runner.invoke(app, args("4242", None, domain), env=env("t"))
    text = assert_short(result, "--zendesk-domain", FORM, exit_code=2)
    assert "t" not in text.split() and ZENDESK_KEY not in text
    with pytest.raises(ValueError, match=r"zendesk_domain\n.*must be of the form https://<subdomain>\.zendesk\.com"):
        IadvizeZendeskInstall(site="4242", zendesk_domain=domain, zendesk_email="a@acme.com", zendesk_api_key="k",
                              iadvize_rest_api_key="r", iadvize_graphql_token="t")


def test_the_documented_domain_form_is_accepted_in_its_canonical_form() -> None:
    install = IadvizeZendeskInstall(site=4242, zendesk_domain="https://Acme.zendesk.com/", zendesk_email="a@acme.com",
                                    zendesk_api_key="k", iadvize_rest_api_key="r", iadvize_graphql_token="t")
    assert install.zendesk_domain == "https://acme.zendesk.com" and install.site == "4242"
    assert install_block_name("4242") == "site-4242" and install.block_ref == "iadvize-zendesk-install/site-4242"
    with pytest.raises(ValueError, match="site must be the iAdvize site"):
        install_block_name("boutique")


def test_checked_then_saved_and_read_back_by_load_install_secrets_never_printed(
        runner, prefect, sandbox, site, graphql_token) -> None:
    # the secrets typed at hidden prompts, as a person would
    result = runner.invoke(app, args(site, sandbox, "https://acme.zendesk.com", "--auto-archive", "--archive-form-id",
                                     "11", "--escalation", "--escalation-note-label", "Synthèse en une ligne",
                                     "--escalation-form-id", "22"),
                           input=f"{ZENDESK_KEY}\n{REST_KEY}\n{graphql_token}\n")
    assert result.exit_code == 0, result.output
    assert "Zendesk accepted the API key of admin@passerelle.dev (admin)" in result.output
    assert f"iAdvize accepted the GraphQL token and knows site {site} (Boutique FR)" in result.output
    assert f"saved IadvizeZendeskInstall block 'site-{site}'" in result.output
    for secret in (ZENDESK_KEY, REST_KEY, graphql_token):
        assert secret not in result.output
    import asyncio

    install = asyncio.run(load_install(site))
    assert (install.site, install.zendesk_domain, install.zendesk_email) == (site, "https://acme.zendesk.com",
                                                                             "admin@passerelle.dev")
    assert install.zendesk_api_key.get_secret_value() == ZENDESK_KEY
    assert install.iadvize_rest_api_key.get_secret_value() == REST_KEY
    assert install.iadvize_graphql_token.get_secret_value() == graphql_token
    assert (install.auto_archive, install.archive_form_id, install.escalation, install.escalation_note_label,
            install.escalation_form_id) == (True, 11, True, "Synthèse en une ligne", 22)
    assert install.site_country == "FR"  # filled from iAdvize at the check
    for secret in (ZENDESK_KEY, REST_KEY, graphql_token):
        assert secret not in repr(install)


def test_a_refused_zendesk_key_is_named_and_nothing_is_saved(runner, prefect, sandbox, site, graphql_token) -> None:
    result = runner.invoke(app, args(site, sandbox), env=env(graphql_token, zendesk_key="wrong-zendesk-key"))
    text = assert_short(result, "not saved", "Zendesk rejected the e-mail and API token (401 on GET /api/v2/users/me)",
                        "Zendesk email and Zendesk API key", f"--site {site}")
    assert "wrong-zendesk-key" not in text and "iAdvize" not in text.replace("iadvize-zendesk", "")
    import asyncio

    with pytest.raises(InstallNotFound, match=f"create it with `passerelle connect iadvize-zendesk --site {site}`"):
        asyncio.run(load_install(site))


def test_a_refused_iadvize_token_is_named_and_nothing_is_saved(runner, prefect, sandbox, site, graphql_token) -> None:
    result = runner.invoke(app, args(site, sandbox), env=env("wrong-graphql-token"))
    text = assert_short(result, "not saved", "iAdvize rejected the GraphQL token (401 on GET /_authenticated)",
                        "iAdvize token for graphQL api")
    assert "wrong-graphql-token" not in text and "Zendesk rejected" not in text
    other_site = str(int(site) + 1)  # a token that does not see the site: named too
    result = runner.invoke(app, args(other_site, sandbox), env=env(graphql_token))
    assert_short(result, "not saved", f"the GraphQL token sees no site {other_site} (sites it sees: {site})",
                 "Check --site")


async def test_both_failures_are_named_by_the_block_test(sandbox, site) -> None:
    install = IadvizeZendeskInstall(site=site, zendesk_domain="https://acme.zendesk.com",
                                    zendesk_email="admin@passerelle.dev", zendesk_api_key="bad",
                                    iadvize_rest_api_key="r",
                                    iadvize_graphql_token="bad", zendesk_base_url=sandbox.vendor_url("zendesk"),
                                    iadvize_base_url=sandbox.vendor_url("iadvize"))
    with pytest.raises(InstallCheckFailed) as info:
        await install.test()
    assert set(info.value.failures) == {"zendesk", "iadvize"}
    assert "Zendesk rejected" in str(info.value) and "iAdvize rejected the GraphQL token" in str(info.value)


async def test_the_install_block_type_is_registered_for_the_ui_catalog(prefect) -> None:
    from prefect.client.orchestration import get_client

    assert await register_install_block_type() == "iadvize-zendesk-install"
    async with get_client() as client:
        block_type = await client.read_block_type_by_slug("iadvize-zendesk-install")
        schemas = [s for s in await client.read_block_schemas() if s.block_type_id == block_type.id]
    assert block_type.name == "iAdvize Zendesk Install"
    assert set(schemas[0].fields["secret_fields"]) == {"zendesk_api_key", "iadvize_rest_api_key",
                                                       "iadvize_graphql_token"}
