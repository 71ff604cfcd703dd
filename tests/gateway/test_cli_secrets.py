"""`passerelle hooks add|secret|list|remove` with signing secrets, saved as Prefect Secret blocks on a real
Prefect server; catch links get their token in the path."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
from typer.testing import CliRunner

from passerelle.cli.main import app
from passerelle.gateway.secrets import PrefectSecretStore, secret_block_name
from passerelle.settings import reset_settings_cache
from passerelle.store.links import verify_token
from tests.gateway.signed_source import SignedFormSource

runner = CliRunner()


@pytest.fixture
def store(tmp_path, monkeypatch, prefect_server) -> str:
    import passerelle.gateway.sources as sources

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("PASSERELLE_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    plain = sources.default_sources
    monkeypatch.setattr(sources, "default_sources", lambda: [*plain(), SignedFormSource()])
    reset_settings_cache()
    yield url
    reset_settings_cache()


def stored_secret(link: str) -> str | None:
    return asyncio.run(PrefectSecretStore()(secret_block_name("testvendor", link)))


def invoke(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):
    return runner.invoke(app, list(args), env=env, input=stdin)


def test_add_with_a_secret_then_rotate_the_secret_only(store):
    link = f"club-{uuid.uuid4().hex[:8]}"
    out = invoke("hooks", "add", "testvendor", "--link", link, "--secret-env", "VENDOR_SECRET",
                 env={"VENDOR_SECRET": "whsec-first"})
    assert out.exit_code == 0, out.output
    [token] = re.findall(rf"/hooks/testvendor/{link}\?token=(\S+)", out.output)
    assert "whsec-first" not in out.output and secret_block_name("testvendor", link) in out.output
    assert stored_secret(link) == "whsec-first"
    rotated = invoke("hooks", "secret", "testvendor", "--link", link, "--secret", stdin="whsec-second\n")
    assert rotated.exit_code == 0, rotated.output
    assert "whsec-second" not in rotated.output and stored_secret(link) == "whsec-second"
    assert verify_token("testvendor", link, token, url=store) is True  # the URL given to the vendor still works
    listed = invoke("hooks", "list").output
    assert f"Secret block {secret_block_name('testvendor', link)}" in listed and token not in listed
    removed = invoke("hooks", "remove", "testvendor", "--link", link)
    assert removed.exit_code == 0 and "deleted its signing secret" in removed.output
    assert stored_secret(link) is None


def test_a_signed_source_without_its_secret_is_told_what_to_run(store):
    out = invoke("hooks", "add", "testvendor", "--link", "nosecret")
    assert out.exit_code == 0 and "answered 503" in out.output
    assert "passerelle hooks secret testvendor --link nosecret" in out.output


@pytest.mark.parametrize(("args", "env", "words"), [
    (("hooks", "add", "amilia", "--secret-env", "S"), {"S": "x"}, "checks no signature"),
    (("hooks", "secret", "amilia"), {}, "checks no signature"),
    (("hooks", "add", "testvendor", "--secret-env", "UNSET_VAR"), {}, "UNSET_VAR is not set"),
    (("hooks", "secret", "testvendor", "--link", "nope", "--secret-env", "S"), {"S": "x"}, "no testvendor link"),
    (("hooks", "add", "testvendor", "--secret-env", "S"), {"S": " padded "}, "spaces"),
])
def test_secret_mistakes_are_one_line_naming_the_option(store, args, env, words):
    out = invoke(*args, env=env)
    assert out.exit_code != 0 and words in out.output
    assert stored_secret("default") is None


def test_catch_links_put_the_token_in_the_path(store):
    out = invoke("hooks", "add", "catch", "--link", "oxiva", "--base-url", "https://hooks.example.org")
    assert out.exit_code == 0, out.output
    [token] = re.findall(r"https://hooks\.example\.org/hooks/catch/oxiva/(\S+)/\n", out.output)
    assert verify_token("catch", "oxiva", token, url=store) is True
    assert "/hooks/catch/oxiva/…/" in invoke("hooks", "list").output
