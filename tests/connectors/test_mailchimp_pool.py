"""The Mailchimp zap actions keep one client per connection (connectors/mailchimp/zap.py, `_pooled`): a drain's
runs share its keep-alive connections and its `max_concurrency` (Mailchimp allows 10 simultaneous connections per
user); another key, URL or block gets its own client; a closed client is replaced."""

from __future__ import annotations

import asyncio

from connectors.mailchimp import MailchimpCredentials
from connectors.mailchimp import zap as mailchimp_zap
from tests.connectors.conftest import Control
from tests.connectors.mailchimp_support import KEY, LIST, UPSERT, creds, members


def pool() -> list:
    return mailchimp_zap._POOL.kept()


async def test_runs_with_one_connection_share_one_client_and_its_concurrency(sb: Control) -> None:
    block = creds(sb)
    block.max_concurrency = 2
    in_flight = peak = 0
    client = mailchimp_zap._pooled(block)
    real = client.api._http.send

    async def counting(*args, **kwargs):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await asyncio.sleep(0.01)
            return await real(*args, **kwargs)
        finally:
            in_flight -= 1

    client.api._http.send = counting  # what goes on the wire, past the client's concurrency gate
    same = creds(sb)
    same.max_concurrency = 2  # another Block object of the same connection: the same client
    await asyncio.gather(*(UPSERT.run(UPSERT.input_model(list_id=LIST, email=f"p{n}@example.org"), same)
                           for n in range(3)))
    await asyncio.gather(*(UPSERT.run(UPSERT.input_model(list_id=LIST, email=f"q{n}@example.org"), block)
                           for n in range(8)))
    assert len(members(sb)) == 11
    assert client.stats.calls == 11 and peak == 2  # all went through one client, 2 at a time
    assert len([c for c in pool() if c is client]) == 1


async def test_another_key_url_or_block_gets_its_own_client_and_a_closed_one_is_replaced(sb: Control) -> None:
    first = mailchimp_zap._pooled(creds(sb))
    assert mailchimp_zap._pooled(creds(sb)) is first
    other_url = MailchimpCredentials(api_key=KEY, base_url=f"{sb.server.url}/mailchimp/")
    other_url._block_document_name = "newsletter"
    renamed = creds(sb)
    renamed._block_document_name = "another"
    assert mailchimp_zap._pooled(creds(sb, key="another-key-us21")) is not first
    assert mailchimp_zap._pooled(renamed) is not first
    assert mailchimp_zap._pooled(other_url) is first  # the Block trims the trailing slash: the same connection
    await first.aclose()
    fresh = mailchimp_zap._pooled(creds(sb))
    assert fresh is not first
    out = await UPSERT.run(UPSERT.input_model(list_id=LIST, email="lea@example.org"), creds(sb))
    assert out.email_address == "lea@example.org" and fresh.stats.calls == 1
