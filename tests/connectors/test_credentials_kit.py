"""The credentials Block base and the app registry (no Prefect server): every app's Block keeps its slug and
field names, declares its secrets as SecretStr, and its test() is one line from the vendor's cheapest call."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import SecretStr

from connectors._http import AuthError
from connectors._http.credentials import ConnectionCredentials, base_url_field
from connectors.amilia import AmiliaCredentials
from connectors.cyberimpact import CyberimpactCredentials
from connectors.registry import App, UnknownApp, apps, get_app, register_app
from tests.connectors.conftest import AMILIA_ORG_SLUG, AMILIA_PASSWORD, AMILIA_USER, CYBER_TOKEN, Control


def test_each_connector_package_registers_its_app() -> None:
    known = apps()
    assert {"amilia", "cyberimpact"} <= set(known)
    assert known["amilia"].credentials_class() is AmiliaCredentials
    assert known["cyberimpact"].credentials_class() is CyberimpactCredentials
    for app in known.values():
        cls = app.credentials_class()
        assert issubclass(cls, ConnectionCredentials) and cls.app == app.name
        assert cls.secret_field_names(), f"{app.name} holds no secret"
        assert "base_url" in cls.model_fields


def test_saved_blocks_keep_their_type_slugs_and_field_names() -> None:
    """Blocks saved before the kit existed are found by slug and read by field name."""
    assert AmiliaCredentials.get_block_type_slug() == "amilia-credentials"
    assert CyberimpactCredentials.get_block_type_slug() == "cyberimpact-credentials"
    assert list(AmiliaCredentials.model_fields) == ["username", "password", "organization", "language",
                                                    "base_url", "max_concurrency"]
    assert list(CyberimpactCredentials.model_fields) == ["api_token", "base_url", "max_concurrency"]
    assert AmiliaCredentials.secret_field_names() == ["password"]
    assert CyberimpactCredentials.secret_field_names() == ["api_token"]


def test_env_vars_of_secrets_are_named_after_the_app() -> None:
    assert get_app("amilia").env_var("password") == "AMILIA_PASSWORD"
    assert get_app("cyberimpact").env_var("api_token") == "CYBERIMPACT_API_TOKEN"
    assert App("google-sheets", "Google Sheets", "x:Y").env_var("private_key") == "GOOGLE_SHEETS_PRIVATE_KEY"


def test_unknown_app_lists_the_known_ones() -> None:
    with pytest.raises(UnknownApp) as info:
        get_app("zapier")
    assert str(info.value).startswith("no app named 'zapier': use one of ")
    assert "amilia" in str(info.value) and "cyberimpact" in str(info.value)


def test_an_app_name_registered_twice_for_another_block_is_refused() -> None:
    register_app("amilia", "Amilia", "connectors.amilia.credentials:AmiliaCredentials")  # same: harmless
    with pytest.raises(ValueError, match="registered twice"):
        register_app("amilia", "Amilia", "elsewhere:Other")
    with pytest.raises(ValueError, match="not a valid app name"):
        register_app("Bad Name", "X", "x:Y")


def test_a_credentials_block_must_keep_secrets_in_secretstr() -> None:
    with pytest.raises(TypeError, match=r"KitLeaky.api_key holds a secret: declare it as SecretStr"):
        class KitLeaky(ConnectionCredentials):
            app: ClassVar[str] = "kit-leaky"
            _block_type_slug = "kit-leaky-credentials"
            api_key: str
            base_url: str = base_url_field("https://x.test", "http://HOST:PORT/x")

            def client(self, **options): ...

            async def test(self) -> str:
                return "ok"


def test_a_credentials_block_needs_a_base_url() -> None:
    with pytest.raises(TypeError, match="KitNoUrl needs a base_url field"):
        class KitNoUrl(ConnectionCredentials):
            app: ClassVar[str] = "kit-no-url"
            _block_type_slug = "kit-no-url-credentials"
            api_token: SecretStr

            def client(self, **options): ...

            async def test(self) -> str:
                return "ok"


async def test_test_is_one_line_from_each_vendor(sb: Control) -> None:
    amilia = AmiliaCredentials(username=AMILIA_USER, password=AMILIA_PASSWORD, organization=AMILIA_ORG_SLUG,
                               base_url=sb.server.amilia_url)
    cyber = CyberimpactCredentials(api_token=CYBER_TOKEN, base_url=sb.server.cyberimpact_url)
    assert await amilia.test() == f"Amilia accepted the username and password for organisation '{AMILIA_ORG_SLUG}'"
    assert await cyber.test() == "Cyberimpact accepted the API token (GET /ping)"
    log = sb.requests("cyberimpact")
    assert [(r["method"], r["path"]) for r in log] == [("GET", "/cyberimpact/ping")]


async def test_test_failures_name_the_block_and_hide_the_secret(sb: Control) -> None:
    cyber = CyberimpactCredentials(api_token="not-the-token", base_url=sb.server.cyberimpact_url)
    cyber._block_document_name = "newsletter"
    with pytest.raises(AuthError) as info:
        await cyber.test()
    assert str(info.value) == ("Cyberimpact rejected the API token (401 on GET /ping): Unauthenticated. "
                               "Check the token in the 'cyberimpact-credentials/newsletter' block.")
    amilia = AmiliaCredentials(username=AMILIA_USER, password="wrong-pw", organization=AMILIA_ORG_SLUG,
                               base_url=sb.server.amilia_url)
    with pytest.raises(AuthError) as info:
        await amilia.test()
    assert "(401 on GET /authenticate)" in str(info.value) and "'amilia-credentials'" in str(info.value)
    for text in (str(info.value), repr(info.value), repr(amilia), repr(cyber)):
        assert "wrong-pw" not in text and "not-the-token" not in text
