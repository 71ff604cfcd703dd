"""The SSRF guard of the zap HTTP action: which addresses a user-written URL may reach (docs/zaps.md).

A zap's URL is written by a user (or rendered from a webhook payload), and the worker that runs it sits inside
the network: without a guard, `http://169.254.169.254/latest/meta-data/` hands out cloud credentials and
`http://127.0.0.1:4200/api` drives Prefect. So a target is checked **after DNS resolution**, on **every
redirect hop**, and the connection goes to the very address that was checked (tasks/actions/http.py pins it,
so a DNS answer that changes between check and connect — rebinding — cannot reach loopback).

Refused unless allowed by settings: unspecified, loopback, private (RFC 1918), carrier-grade NAT, link-local
(the metadata address 169.254.169.254 among them), unique-local IPv6 (fd00:ec2::254, AWS's IPv6 metadata),
multicast, reserved, and anything else Python does not call global; IPv4 written inside IPv6
(`::ffff:127.0.0.1`, NAT64 `64:ff9b::7f00:1`) is judged by its IPv4 address; the legacy numeric forms
(`2130706433`, `0177.0.0.1`, `0x7f.1`) are read as the address they stand for; and the metadata host names
(`metadata.google.internal`, …) are refused by name.

Settings (environment): `PASSERELLE_ZAPS_ALLOW_NETWORKS` (comma-separated CIDRs or addresses, e.g.
`127.0.0.1/32` for the sandbox) and `PASSERELLE_ZAPS_ALLOW_HOSTS` (comma-separated host names, exact).

Example:
    addresses = await check_target("api.example.org", 443)   # [IPv4Address('93.184.216.34')]
    await check_target("10.0.0.5", 80)  # BlockedTarget: url: 10.0.0.5 is a private address; allow it with ...
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
from collections.abc import Awaitable, Callable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

ALLOW_NETWORKS_ENV = "PASSERELLE_ZAPS_ALLOW_NETWORKS"
ALLOW_HOSTS_ENV = "PASSERELLE_ZAPS_ALLOW_HOSTS"

METADATA_HOSTS = frozenset({
    "metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal",
    "metadata.azure.internal", "metadata.platformequinix.com",
})
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "169.254.169.253", "100.100.100.200", "fd00:ec2::254", "fd00:ec2::23",
))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Ordered: the first matching reason is the one the error names.
_REASONS: list[tuple[str, list[ipaddress.IPv4Network | ipaddress.IPv6Network]]] = [
    ("an unspecified address", [ipaddress.ip_network(n) for n in ("0.0.0.0/8", "::/128")]),
    ("a loopback address", [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128")]),
    ("a private address", [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]),
    ("a carrier-grade NAT (shared) address", [ipaddress.ip_network("100.64.0.0/10")]),
    ("a link-local address", [ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fe80::/10")]),
    ("a unique-local IPv6 address", [ipaddress.ip_network("fc00::/7")]),
    ("a multicast address", [ipaddress.ip_network(n) for n in ("224.0.0.0/4", "ff00::/8")]),
    ("a reserved address", [ipaddress.ip_network(n) for n in ("240.0.0.0/4",)]),
]
# Legacy inet_aton forms: one to four parts, each decimal, octal (leading 0) or hex (0x).
_LEGACY_IPV4 = re.compile(r"(?:0x[0-9a-f]+|\d+)(?:\.(?:0x[0-9a-f]+|\d+)){0,3}", re.IGNORECASE)


class BlockedTarget(ValueError):
    """A URL whose host is, or resolves to, an address the guard refuses. The message names the field and
    the setting that would allow it; it shows the host and address only (never the path or query)."""


class UnresolvedHost(ValueError):
    """The URL's host has no address (misspelt, or DNS down): nothing was sent, so a retry is safe."""


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks `PASSERELLE_ZAPS_ALLOW_NETWORKS` lets through (read at each call: tests and the demo set it)."""
    networks = []
    for item in filter(None, (p.strip() for p in os.environ.get(ALLOW_NETWORKS_ENV, "").split(","))):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise BlockedTarget(f"{ALLOW_NETWORKS_ENV}: {item!r} is not a network; write CIDRs such as "
                                "127.0.0.1/32,10.1.0.0/16") from None
    return networks


def allowed_hosts() -> set[str]:
    return {h.strip().lower().rstrip(".") for h in os.environ.get(ALLOW_HOSTS_ENV, "").split(",") if h.strip()}


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as an IP literal stands for, legacy IPv4 forms included; None for a name."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            raise BlockedTarget(f"url: {host!r} is neither a host name nor a valid IP address; fix the URL") \
                from None
    return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip))
    return None


def refusal(ip: IPAddress) -> str | None:
    """Why `ip` may not be reached (e.g. "a loopback address"), or None when it is a public address."""
    inner = _embedded_ipv4(ip)
    if inner is not None:
        reason = refusal(inner)
        return f"{reason} ({inner} written as IPv6)" if reason else None
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for reason, networks in _REASONS:
        if any(ip in net for net in networks if net.version == ip.version):
            return reason
    if not ip.is_global:
        return "not a public address"
    return None


def check_address(host: str, ip: IPAddress, *, field: str = "url") -> None:
    """Raise BlockedTarget unless `ip` (what `host` resolved to) is public or allowed by the settings."""
    if any(ip in net for net in allowed_networks() if net.version == ip.version):
        return
    reason = refusal(ip)
    if reason is None:
        return
    shown = str(ip) if host.strip("[]") == str(ip) else f"{host} resolves to {ip}, which"
    prefix = 32 if ip.version == 4 else 128
    raise BlockedTarget(f"{field}: {shown} is {reason}; Passerelle does not call internal addresses from a "
                        f"zap. If this target is meant, allow it with {ALLOW_NETWORKS_ENV}={ip}/{prefix}")


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host` (getaddrinfo, TCP), in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


async def check_target(host: str, port: int, *, resolver: Resolver | None = None,
                       field: str = "url") -> list[IPAddress]:
    """Resolve `host` once and check every address it gave; returns them (connect to one of these only).

    Every address must pass: a name answering both a public and a loopback address is refused.
    """
    name = host.strip("[]").lower().rstrip(".")
    if not name:
        raise BlockedTarget(f"{field}: the URL has no host; write a full URL such as https://api.example.org/")
    literal = literal_address(name)
    if literal is not None:
        check_address(host, literal, field=field)
        return [literal]
    if name in allowed_hosts():
        return [ipaddress.ip_address(a.split("%")[0]) for a in await _resolve(name, port, resolver, field)]
    if name in METADATA_HOSTS or name.endswith(".metadata.google.internal"):
        raise BlockedTarget(f"{field}: {name} is a cloud metadata host; Passerelle does not call it from a zap. "
                            f"If this target is meant, allow it with {ALLOW_HOSTS_ENV}={name}")
    addresses = [ipaddress.ip_address(a.split("%")[0]) for a in await _resolve(name, port, resolver, field)]
    for ip in addresses:
        check_address(name, ip, field=field)
    return addresses


async def _resolve(name: str, port: int, resolver: Resolver | None, field: str) -> list[str]:
    try:
        answers = await (resolver or system_resolver)(name, port)
    except OSError as exc:
        raise UnresolvedHost(f"{field}: the host {name} could not be resolved ({exc.strerror or exc}); "
                            "check the spelling of the URL") from None
    if not answers:
        raise UnresolvedHost(f"{field}: the host {name} has no address; check the spelling of the URL")
    return answers
