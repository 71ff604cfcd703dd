"""Signing secrets: the Secret block names, the in-memory cache (one read for many calls, TTL, rotation,
Prefect down), and the reads through a real Prefect server."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from passerelle.gateway.secrets import PrefectSecretStore, SecretUnavailable, SigningSecrets, secret_block_name
from passerelle.gateway.server import free_port


def test_block_names_are_prefect_block_names_and_never_shared():
    assert secret_block_name("zendesk", "default") == "hook-zendesk-default"
    assert secret_block_name("slack", "club-2") == "hook-slack-club-2"
    odd = [secret_block_name("slack", link) for link in ("Club", "club", "club.2", "club_2", "club-2")]
    assert len(set(odd)) == len(odd)
    assert all(name.replace("-", "").isalnum() and name == name.lower() for name in odd)
    assert odd[0].startswith("hook-slack-club-") and odd[1] == "hook-slack-club"


class Vault:
    """Stands in for Prefect's block API in the cache's units: counts reads, can be down or slow."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values, self.reads, self.down, self.delay = dict(values or {}), 0, False, 0.0

    async def __call__(self, name: str) -> str | None:
        self.reads += 1
        await asyncio.sleep(self.delay)
        if self.down:
            raise ConnectionRefusedError("Prefect is down")
        return self.values.get(name)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


NAME = secret_block_name("slack", "default")


async def test_concurrent_calls_share_one_read_and_the_copy_lives_ttl_seconds():
    vault, clock = Vault({NAME: "s3cret"}), Clock()
    vault.delay = 0.05
    secrets = SigningSecrets(vault, ttl=60, clock=clock)
    values = await asyncio.gather(*(secrets.get("slack", "default") for _ in range(20)))
    assert values == [b"s3cret"] * 20 and vault.reads == 1
    clock.now += 59
    await secrets.get("slack", "default")
    assert vault.reads == 1
    vault.values[NAME] = "rotated"
    clock.now += 2
    assert await secrets.get("slack", "default") == b"rotated" and vault.reads == 2


async def test_recheck_after_a_mismatch_reads_at_most_once_a_second():
    vault, clock = Vault({NAME: "old"}), Clock()
    secrets = SigningSecrets(vault, ttl=300, clock=clock)
    await secrets.get("slack", "default")
    vault.values[NAME] = "new"
    assert await secrets.recheck("slack", "default") is None  # the copy is not a second old
    clock.now += 1.5
    assert await secrets.recheck("slack", "default") == b"new"
    clock.now += 1.5
    assert await secrets.recheck("slack", "default") is None  # unchanged: the signature is just wrong
    assert vault.reads == 3


async def test_prefect_down_keeps_a_cached_secret_and_refuses_when_cold(caplog):
    vault, clock = Vault({NAME: "s3cret"}), Clock()
    secrets = SigningSecrets(vault, ttl=10, clock=clock)
    await secrets.get("slack", "default")
    vault.down = True
    clock.now += 11
    with caplog.at_level(logging.WARNING, logger="passerelle.gateway"):
        assert await secrets.get("slack", "default") == b"s3cret"  # stale, but verified calls go on
        for _ in range(5):
            with pytest.raises(SecretUnavailable) as caught:
                await secrets.get("zendesk", "default")
            clock.now += 0.3
    assert caught.value.status == 503 and "retry later" in caught.value.detail
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # one for the stale copy, one for the cold link (rate-limited after it)
    assert "keeping the copy" in warnings[0] and "hook-zendesk-default" in warnings[1]
    assert vault.reads == 1 + 1 + 2  # the cold link was asked at most once a second


async def test_a_slow_prefect_times_out_into_503():
    vault = Vault({NAME: "s3cret"})
    vault.delay = 1.0
    secrets = SigningSecrets(vault, timeout=0.1)
    with pytest.raises(SecretUnavailable):
        await secrets.get("slack", "default")


async def test_a_missing_block_is_503_and_asked_again_a_second_later(caplog):
    vault, clock = Vault(), Clock()
    secrets = SigningSecrets(vault, ttl=300, clock=clock)
    with caplog.at_level(logging.WARNING, logger="passerelle.gateway"), pytest.raises(SecretUnavailable):
        await secrets.get("slack", "default")
    assert "passerelle hooks secret slack --link default" in caplog.text and "hook-slack-default" in caplog.text
    vault.values[NAME] = "s3cret"
    with pytest.raises(SecretUnavailable):
        await secrets.get("slack", "default")  # within the second: not asked again
    clock.now += 1.1
    assert await secrets.get("slack", "default") == b"s3cret"


@pytest.fixture
def prefect_api(prefect_server) -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


async def test_prefect_secret_store_reads_blocks_as_saved(prefect_api):
    from prefect.blocks.system import Secret

    name = f"hook-test-{uuid.uuid4().hex[:12]}"
    await Secret(value="12345").asave(name, overwrite=True)  # Secret.get() would give the int 12345
    await Secret(value={"not": "text"}).asave(name + "-json", overwrite=True)
    store = PrefectSecretStore(prefect_api)
    assert await store(name) == "12345"
    assert await store(name + "-missing") is None
    with pytest.raises(TypeError, match="must hold text"):
        await store(name + "-json")


async def test_prefect_secret_store_unreachable_raises():
    store = PrefectSecretStore(f"http://127.0.0.1:{free_port()}/api")
    secrets = SigningSecrets(store, timeout=5)
    with pytest.raises(SecretUnavailable):
        await secrets.get("slack", "default")
