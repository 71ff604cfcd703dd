"""The SSRF guard of `http.request`: internal targets refused after DNS resolution and on every redirect, DNS
rebinding cannot reach loopback, IPv6 and legacy IPv4 spellings, the allow settings."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError as PydanticValidationError

from connectors._http.errors import TransportError
from passerelle.zaps import ssrf
from passerelle.zaps.ssrf import BlockedTarget, check_target
from tasks.actions.http import HttpRequestInput, request
from tests.zaps.http_support import FakeDNS, LocalServer


@pytest.fixture(autouse=True)
def no_allow_settings(monkeypatch):
    monkeypatch.delenv(ssrf.ALLOW_NETWORKS_ENV, raising=False)
    monkeypatch.delenv(ssrf.ALLOW_HOSTS_ENV, raising=False)


@pytest.fixture
def server():
    with LocalServer() as srv:
        yield srv


async def call(**fields):
    return await request(HttpRequestInput(**fields))


async def test_a_private_address_is_refused_naming_the_field_and_the_setting():
    with pytest.raises(BlockedTarget) as err:
        await call(url="http://10.0.0.5/admin?token=abc")
    assert str(err.value).startswith("url: 10.0.0.5 is a private address;")
    assert "PASSERELLE_ZAPS_ALLOW_NETWORKS=10.0.0.5/32" in str(err.value)
    assert "token=abc" not in str(err.value) and "/admin" not in str(err.value)


async def test_loopback_is_refused_by_default_and_the_server_is_never_reached(server):
    with pytest.raises(BlockedTarget, match="url: 127.0.0.1 is a loopback address"):
        await call(url=f"{server.base}/echo")
    with pytest.raises(BlockedTarget, match="url: localhost resolves to 127.0.0.1, which is a loopback address"):
        await call(url=f"http://localhost:{server.port}/echo")
    assert server.requests == []


async def test_a_host_name_resolving_to_loopback_is_refused(server, monkeypatch):
    monkeypatch.setattr(ssrf, "system_resolver", FakeDNS(["127.0.0.1"]))
    with pytest.raises(BlockedTarget, match="url: evil.example resolves to 127.0.0.1, which is a loopback"):
        await call(url=f"http://evil.example:{server.port}/echo")
    monkeypatch.setattr(ssrf, "system_resolver", FakeDNS(["93.184.216.34", "127.0.0.1"]))  # one bad answer: no
    with pytest.raises(BlockedTarget, match="resolves to 127.0.0.1"):
        await call(url=f"http://evil.example:{server.port}/echo")
    assert server.requests == []


async def test_dns_rebinding_cannot_reach_loopback(server, monkeypatch):
    """The first answer (checked) is public, every later one loopback: the connection goes to the checked public
    address (unreachable here), never to loopback, and the name is resolved only once."""
    dns = FakeDNS(["192.88.99.200"], ["127.0.0.1"])  # a public address nothing answers on in the test network
    monkeypatch.setattr(ssrf, "system_resolver", dns)
    with pytest.raises(TransportError):
        await call(url=f"http://rebind.example:{server.port}/echo", timeout=1.0)
    assert dns.calls == ["rebind.example"]
    assert server.requests == []


async def test_a_redirect_to_the_metadata_address_is_refused(server, monkeypatch):
    monkeypatch.setenv(ssrf.ALLOW_NETWORKS_ENV, "127.0.0.1/32")  # the first hop is allowed, the second is not
    with pytest.raises(BlockedTarget) as err:
        await call(url=f"{server.base}/redirect?to=http://169.254.169.254/latest/meta-data/iam/")
    assert str(err.value).startswith("url (redirect 1): 169.254.169.254 is a cloud metadata address")
    assert [r["path"] for r in server.requests] == ["/redirect"]


async def test_a_redirect_to_loopback_from_an_allowed_host_is_refused(server, monkeypatch):
    monkeypatch.setenv(ssrf.ALLOW_HOSTS_ENV, "partner.example")
    monkeypatch.setattr(ssrf, "system_resolver", FakeDNS(["127.0.0.1"]))
    start = f"http://partner.example:{server.port}/redirect?to=http://127.0.0.1:{server.port}/echo&code=307"
    with pytest.raises(BlockedTarget, match=r"url \(redirect 1\): 127.0.0.1 is a loopback address"):
        await call(method="POST", url=start, body={"a": 1})
    assert [r["path"] for r in server.requests] == ["/redirect"]


@pytest.mark.parametrize("host, reason", [
    ("[::1]", "a loopback address"),
    ("[::ffff:127.0.0.1]", "a loopback address (127.0.0.1 written as IPv6)"),
    ("[::ffff:7f00:1]", "a loopback address (127.0.0.1 written as IPv6)"),
    ("[64:ff9b::a9fe:a9fe]", "a cloud metadata address (169.254.169.254 written as IPv6)"),
    ("[fd00::1]", "a unique-local IPv6 address"),
    ("[fd00:ec2::254]", "a cloud metadata address"),
    ("[fe80::1]", "a link-local address"),
    ("[ff02::1]", "a multicast address"),
    ("[::]", "an unspecified address"),
    ("2130706433", "a loopback address"),
    ("0177.0.0.1", "a loopback address"),
    ("0x7f.1", "a loopback address"),
    ("017700000001", "a loopback address"),
    ("0", "an unspecified address"),
    ("0.0.0.0", "an unspecified address"),
    ("100.64.0.1", "a carrier-grade NAT (shared) address"),
    ("172.16.5.4", "a private address"),
    ("192.168.1.1", "a private address"),
    ("169.254.1.1", "a link-local address"),
    ("224.0.0.1", "a multicast address"),
    ("255.255.255.255", "a reserved address"),
    ("198.18.0.1", "not a public address"),
])
async def test_internal_addresses_in_every_spelling_are_refused(host, reason):
    # refused by the guard, or (a spelling httpx cannot parse: 0177.0.0.1) when the inputs are validated
    with pytest.raises((BlockedTarget, PydanticValidationError)) as err:
        await call(url=f"http://{host}:8080/x")
    assert f" is {reason}" in str(err.value) and str(err.value).lstrip().startswith(("url", "1 validation error"))
    assert "url" in str(err.value)


@pytest.mark.parametrize("host", ["metadata.google.internal", "METADATA.google.internal.", "metadata"])
async def test_metadata_host_names_are_refused_before_any_lookup(host, monkeypatch):
    dns = FakeDNS(["93.184.216.34"])
    monkeypatch.setattr(ssrf, "system_resolver", dns)
    with pytest.raises(BlockedTarget, match="is a cloud metadata host.*PASSERELLE_ZAPS_ALLOW_HOSTS="):
        await call(url=f"http://{host}/computeMetadata/v1/")
    assert dns.calls == []


async def test_public_addresses_pass_and_the_settings_allow_internal_ones(monkeypatch):
    assert await check_target("93.184.216.34", 443) == [ipaddress.ip_address("93.184.216.34")]
    assert await check_target("[2606:4700::1111]", 443) == [ipaddress.ip_address("2606:4700::1111")]
    monkeypatch.setenv(ssrf.ALLOW_NETWORKS_ENV, "10.1.0.0/16, fd00::/8")
    assert await check_target("10.1.2.3", 80) == [ipaddress.ip_address("10.1.2.3")]
    assert await check_target("[fd00::5]", 80) == [ipaddress.ip_address("fd00::5")]
    with pytest.raises(BlockedTarget, match="10.2.0.1 is a private address"):
        await check_target("10.2.0.1", 80)
    monkeypatch.setenv(ssrf.ALLOW_NETWORKS_ENV, "10.1.0.0/33")
    with pytest.raises(BlockedTarget, match="PASSERELLE_ZAPS_ALLOW_NETWORKS: '10.1.0.0/33' is not a network"):
        await check_target("10.1.2.3", 80)


async def test_an_unknown_host_says_so(monkeypatch):
    async def fail(host, port):
        raise OSError(-2, "Name or service not known")

    monkeypatch.setattr(ssrf, "system_resolver", fail)
    with pytest.raises(ssrf.UnresolvedHost, match="url: the host nowhere.example could not be resolved"):
        await call(url="https://nowhere.example/")
