"""The Mailchimp tests' shared helpers: the sandbox audience, a connection to it, and the two actions."""

from __future__ import annotations

from typing import Any

from connectors.mailchimp import MailchimpCredentials
from passerelle.zaps.registry import get_action
from tests.connectors.conftest import Control

KEY = "sandbox-mailchimp-key-us21"
LIST = "8e3b1f0c2a"
UPSERT = get_action("mailchimp.upsert_member")
TAGS = get_action("mailchimp.add_member_tags")


def creds(sb: Control, key: str = KEY) -> MailchimpCredentials:
    block = MailchimpCredentials(api_key=key, base_url=f"{sb.server.url}/mailchimp")
    block._block_document_name = "newsletter"
    return block


async def upsert(sb: Control, **inputs: Any) -> Any:
    return await UPSERT.run(UPSERT.input_model(list_id=LIST, **inputs), creds(sb))


async def tag(sb: Control, **inputs: Any) -> Any:
    return await TAGS.run(TAGS.input_model(list_id=LIST, **inputs), creds(sb))


def members(sb: Control, list_id: str = LIST) -> dict[str, dict[str, Any]]:
    audience = next(a for a in sb.state("mailchimp")["lists"] if a["id"] == list_id)
    return {m["email_address"]: m for m in audience["members"]}
