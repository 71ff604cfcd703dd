"""The `okast-mailchimp` variant of bench/zaps.py: OKAST "new registration" webhooks → the example zap
zaps/okast-registration-to-mailchimp.yaml → `mailchimp.upsert_member` against the sandbox's Mailchimp emulator.

- Events arrive at the gateway's OKAST source, `POST /hooks/okast/default?token=…` with the platform's API key in
  `X-Api-Key` (passerelle/gateway/sources/okast.py); the gateway reads that key from the Prefect Secret block
  `hook-okast-default`, saved by the child in the child's Prefect server, as `passerelle hooks secret` would.
- The drain is the deployment's for OKAST events: the `zaps` flow with ``source="okast", link="default"``
  (prefect.yaml's trigger passes the nudge's source and link); the Mailchimp connection is the Block `default`.
- The backlog is stored as the OKAST source stores a call (event id ``event_id:<id>``, type ``new_registration``,
  entity ``user:<e-mail>``, the body's bytes as raw).
- The floor: the same `PUT /lists/{id}/members/{hash}` (Basic auth, ``status_if_new``, FNAME/LNAME), over one
  keep-alive httpx client, as many at a time as the connection allows.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx

ZAP_ID = "okast-registration-to-mailchimp"
CONNECTION = "default"
EXAMPLE = Path(__file__).resolve().parents[1] / "zaps" / f"{ZAP_ID}.yaml"
MAILCHIMP_CONCURRENCY = 10  # the connection's max_concurrency: Mailchimp allows 10 connections per user


def email(n: int) -> str:
    return f"Person{n}@Example.org"


def event(n: int) -> dict[str, Any]:
    """An OKAST new-registration webhook body (the shape of OkastSource.example)."""
    return {"event_id": f"evt_bench_{n:08d}", "event": "new_registration", "occurred_at": "2026-03-15T14:03:22Z",
            "registered_at": "2026-03-15T14:03:22Z",
            "user": {"id": str(100000 + n), "email": email(n), "first_name": f"Léa{n}", "last_name": "Roy"}}


def prepare(tmp: Path, sandbox: Any, store_url: str) -> dict[str, Any]:
    """The zaps folder (the example, as is), the zap switched on in the store, the OKAST link; returns what the
    child and the client need (keys, token, URLs)."""
    from passerelle.store.links import create_link
    from passerelle.zaps.runs import set_enabled

    (tmp / "zaps").mkdir(exist_ok=True)
    shutil.copy(EXAMPLE, tmp / "zaps" / EXAMPLE.name)
    set_enabled(ZAP_ID, True, url=store_url)  # the example ships `enabled: false`, as `passerelle zaps enable`
    okast = httpx.get(f"{sandbox.url}/_sandbox/okast/state", timeout=30).json()
    mailchimp = httpx.get(f"{sandbox.url}/_sandbox/mailchimp/state", timeout=30).json()
    return {"token": create_link("okast", CONNECTION, url=store_url), "okast_key": okast["platform"]["api_key"],
            "mailchimp_key": mailchimp["api_keys"][0], "list_id": mailchimp["lists"][0]["id"],
            "mailchimp_url": f"{sandbox.url}/mailchimp"}


async def child_setup(config: dict[str, Any]) -> None:
    """In the child, once Prefect's server is up: the Mailchimp connection and the OKAST link's API key."""
    from prefect.blocks.system import Secret

    from connectors.mailchimp.credentials import MailchimpCredentials
    from passerelle.gateway.secrets import secret_block_name

    await MailchimpCredentials(api_key=config["mailchimp_key"], base_url=config["mailchimp_url"],
                               max_concurrency=MAILCHIMP_CONCURRENCY).asave(CONNECTION, overwrite=True)
    await Secret(value=config["okast_key"]).asave(secret_block_name("okast", CONNECTION), overwrite=True)


def prefect_api_url() -> str:
    """The child's ephemeral Prefect server (started by its first flow run)."""
    from prefect.server.api.server import SubprocessASGIServer

    return SubprocessASGIServer().api_url


def request(port: int, config: dict[str, Any]) -> tuple[str, dict[str, str], Any]:
    return (f"http://127.0.0.1:{port}/hooks/okast/{CONNECTION}?token={config['token']}",
            {"X-Api-Key": config["okast_key"]}, event)


def deliveries(start: int, count: int) -> list[Any]:
    from passerelle.store.inbox import Delivery

    out = []
    for n in range(start, start + count):
        document = event(n)
        out.append(Delivery("okast", CONNECTION, f"event_id:{document['event_id']}", document["event"],
                            f"user:{email(n).lower()}", document, raw=json.dumps(document).encode()))
    return out


def check(sandbox_url: str, list_id: str, expected: range) -> None:
    """Every event left exactly one member, with its names; nobody else is in the list."""
    state = httpx.get(f"{sandbox_url}/_sandbox/mailchimp/state", timeout=60).json()
    members = next(a for a in state["lists"] if a["id"] == list_id)["members"]
    by_email = {m["email_address"].lower(): m for m in members}
    if len(members) != len(expected) or len(by_email) != len(members):
        raise RuntimeError(f"{len(members)} members in the list, expected {len(expected)}")
    for n in expected:
        member = by_email.get(email(n).lower())
        if member is None or member["status"] != "subscribed" or member["merge_fields"].get("FNAME") != f"Léa{n}":
            raise RuntimeError(f"event {n}: member {member!r} is not the one expected")


async def floor(config: dict[str, Any], start: int, count: int) -> dict[str, Any]:
    """The zap's Mailchimp PUTs without the engine, over one keep-alive client (distinct e-mails: new members)."""
    key = base64.b64encode(f"passerelle:{config['mailchimp_key']}".encode()).decode()
    base = f"{config['mailchimp_url']}/lists/{config['list_id']}/members"
    gate = asyncio.Semaphore(MAILCHIMP_CONCURRENCY)
    limits = httpx.Limits(max_connections=MAILCHIMP_CONCURRENCY, max_keepalive_connections=MAILCHIMP_CONCURRENCY)
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Basic {key}"}, limits=limits) as http:
        async def one(n: int) -> None:
            user = event(n)["user"]
            address = f"floor-{user['email']}"
            digest = hashlib.md5(address.lower().encode(), usedforsecurity=False).hexdigest()
            async with gate:
                r = await http.put(f"{base}/{digest}", json={
                    "email_address": address, "status_if_new": "subscribed",
                    "merge_fields": {"FNAME": user["first_name"], "LNAME": user["last_name"]}})
                r.raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(start, start + count)))
        seconds = time.perf_counter() - began
    return {"events": count, "seconds": round(seconds, 3), "events_per_s": round(count / seconds, 1),
            "concurrency": MAILCHIMP_CONCURRENCY}
