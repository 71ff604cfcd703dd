"""Mailchimp zap actions: `mailchimp.upsert_member` and `mailchimp.add_member_tags` (docs/connector-mailchimp.md).

Both are idempotent: the upsert is a PUT by subscriber hash, the tags call sets a final state. Inputs are
checked by their models before anything is sent (the zap runner validates rendered inputs first).

Example (a zap step):
    - {id: subscribe, type: action, action: mailchimp.upsert_member, connection: newsletter,
       inputs: {list_id: 8e3b1f0c2a, email: "{{ trigger.json.email }}", first_name: "{{ trigger.json.first_name }}"}}
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors._http.pool import LoopPool
from connectors.mailchimp.models import check_email, check_list_id, check_tag_name, subscriber_hash
from passerelle.zaps.registry import action

Status = Literal["subscribed", "unsubscribed", "cleaned", "pending", "transactional"]
MergeValue = str | int | float | None


class _Inputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    list_id: str = Field(description="the audience id (Audience → Settings → Audience ID), e.g. 8e3b1f0c2a")
    email: str = Field(description="the member's e-mail address; its MD5 hash (lower-cased) is the member's key")

    @field_validator("list_id")
    @classmethod
    def _list_id(cls, value: str) -> str:
        return check_list_id(value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_email(value)


class UpsertMemberInput(_Inputs):
    """The inputs of `mailchimp.upsert_member`."""

    status_if_new: Status = Field("subscribed", description="status of a new member (pending sends Mailchimp's "
                                  "double opt-in e-mail)")
    status: Status | None = Field(None, description="also change an existing member's status; Mailchimp refuses "
                                  "to subscribe again someone who unsubscribed or bounced (use pending)")
    first_name: str | None = Field(None, description="merge field FNAME")
    last_name: str | None = Field(None, description="merge field LNAME")
    merge_fields: dict[str, MergeValue] = Field(default_factory=dict, description="other merge fields by tag, "
                                                "e.g. {PHONE: '+15145550100'}")
    language: str | None = Field(None, description="the member's language code, e.g. fr")
    skip_merge_validation: bool = Field(False, description="accept the member even if a required merge field "
                                        "is missing")

    @field_validator("merge_fields")
    @classmethod
    def _merge_tags(cls, value: dict[str, MergeValue]) -> dict[str, MergeValue]:
        for tag in value:
            if not tag or tag != tag.strip() or " " in tag:
                raise ValueError(f"merge_fields: {tag!r} is not a merge tag; tags are words such as FNAME or PHONE "
                                 "(Audience → Settings → Audience fields and *|MERGE|* tags)")
        return value

    @model_validator(mode="after")
    def _names(self) -> UpsertMemberInput:
        for field, tag in (("first_name", "FNAME"), ("last_name", "LNAME")):
            if getattr(self, field) is not None and tag in self.merge_fields:
                raise ValueError(f"give {field} or merge_fields.{tag}, not both (they are the same merge field)")
        return self

    def all_merge_fields(self) -> dict[str, MergeValue]:
        fields = dict(self.merge_fields)
        if self.first_name is not None:
            fields["FNAME"] = self.first_name
        if self.last_name is not None:
            fields["LNAME"] = self.last_name
        return fields


class MemberOutput(BaseModel):
    """A list member as Mailchimp answers it (the fields a later step reads most)."""

    id: str = Field(description="the subscriber hash")
    email_address: str
    status: str
    list_id: str
    merge_fields: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list, description="the member's tag names")
    last_changed: str | None = None


class AddMemberTagsInput(_Inputs):
    """The inputs of `mailchimp.add_member_tags`."""

    tags: list[str] = Field(default_factory=list, description="tags to set active (unknown ones are created)")
    remove_tags: list[str] = Field(default_factory=list, description="tags to set inactive (removed)")
    is_syncing: bool = Field(False, description="true keeps automations based on these tags from firing")

    @field_validator("tags", "remove_tags")
    @classmethod
    def _names(cls, value: list[str], info: Any) -> list[str]:
        return [check_tag_name(name, info.field_name) for name in value]

    @model_validator(mode="after")
    def _some(self) -> AddMemberTagsInput:
        if not self.tags and not self.remove_tags:
            raise ValueError("give at least one tag in tags (to add) or remove_tags (to remove)")
        both = sorted({t.lower() for t in self.tags} & {t.lower() for t in self.remove_tags})
        if both:
            raise ValueError(f"tags and remove_tags both name {', '.join(both)}; keep each tag in one of them")
        return self


class MemberTagsOutput(BaseModel):
    id: str = Field(description="the subscriber hash")
    list_id: str
    email_address: str
    added: list[str]
    removed: list[str]


# one kept client per Mailchimp connection (key, base URL, concurrency, block), per event loop
_POOL: LoopPool[Any] = LoopPool(16)


def _pooled(connection: Any) -> Any:
    """The connection's client, kept (connectors/_http/pool.py): a drain upserts thousands of members with the same
    connection, and a client per call paid a new httpx client, a TCP connection and its pool each time (~3 ms
    of CPU per event). One client per connection also keeps the connection's ``max_concurrency`` (Mailchimp
    allows 10 simultaneous connections per user) across the runs under way, as the setting says."""
    key = (connection.api_key.get_secret_value(), connection.base_url, connection.max_concurrency,
           connection.block_ref)
    return _POOL.get(key, connection.client)


@contextlib.asynccontextmanager
async def _client(connection: Any, ref: str) -> AsyncIterator[Any]:
    """The Mailchimp client of `connection`: the kept one for a Mailchimp Credentials block, else a new one closed
    on exit (any other object with ``client()``)."""
    if connection is None:
        raise ValueError(f"{ref} needs a mailchimp connection (a Mailchimp Credentials block)")
    from connectors.mailchimp.credentials import MailchimpCredentials  # Prefect's Block: imported when used

    if isinstance(connection, MailchimpCredentials):
        yield _pooled(connection)
        return
    async with connection.client() as client:
        yield client


@action("mailchimp", "upsert_member", title="Add or update a list member", idempotent=True, connection="mailchimp")
async def upsert_member(inputs: UpsertMemberInput, connection: Any = None) -> MemberOutput:
    """Add a member to a Mailchimp audience, or update it if the e-mail is already there (PUT by subscriber hash).

    Idempotent: sending it again leaves the member as it is.
    """
    async with _client(connection, "mailchimp.upsert_member") as mailchimp:
        member = await mailchimp.upsert_member(
            inputs.list_id, inputs.email, status_if_new=inputs.status_if_new, status=inputs.status,
            merge_fields=inputs.all_merge_fields(), language=inputs.language,
            skip_merge_validation=inputs.skip_merge_validation)
    return MemberOutput(id=member.get("id") or subscriber_hash(inputs.email),
                        email_address=member.get("email_address") or inputs.email,
                        status=str(member.get("status") or ""), list_id=member.get("list_id") or inputs.list_id,
                        merge_fields=dict(member.get("merge_fields") or {}),
                        tags=[str(t.get("name")) for t in member.get("tags") or [] if isinstance(t, dict)],
                        last_changed=member.get("last_changed"))


@action("mailchimp", "add_member_tags", title="Add or remove tags on a list member", idempotent=True,
        connection="mailchimp")
async def add_member_tags(inputs: AddMemberTagsInput, connection: Any = None) -> MemberTagsOutput:
    """Set tags active (added, created if new) or inactive (removed) on a member of a Mailchimp audience.

    Idempotent: the member ends with the same tags however many times it is sent. The member must exist
    (upsert it first); otherwise Mailchimp answers 404.
    """
    async with _client(connection, "mailchimp.add_member_tags") as mailchimp:
        await mailchimp.update_member_tags(inputs.list_id, inputs.email, active=inputs.tags,
                                           inactive=inputs.remove_tags, is_syncing=inputs.is_syncing)
    return MemberTagsOutput(id=subscriber_hash(inputs.email), list_id=inputs.list_id, email_address=inputs.email,
                            added=list(inputs.tags), removed=list(inputs.remove_tags))
