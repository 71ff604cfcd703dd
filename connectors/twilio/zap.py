"""Twilio zap action: `twilio.send_sms` (docs/connector-twilio.md).

Not idempotent: each send is one more SMS, and Twilio takes no idempotency key. The runner sends it once; an
answer lost after sending leaves the step "unknown" (checked by a person, never re-sent by itself). Inputs
are checked by the model before anything is sent.

Example (a zap step):
    - {id: alert, type: action, action: twilio.send_sms, connection: support-sms,
       inputs: {to: "+15145550100", from_number: "+15005550006", body: "New unsubscribe: {{ trigger.json.email }}"}}
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors._http import ValidationError
from connectors.twilio.models import check_body, check_phone, check_sender
from passerelle.zaps.registry import action


class SendSmsInput(BaseModel):
    """The inputs of `twilio.send_sms`."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(description="the recipient, E.164 (+15145550100)")
    body: str = Field(description="the text, up to 1,600 characters (Twilio splits it in SMS segments)")
    from_number: str | None = Field(None, description="Twilio's From: a number (E.164) or alphanumeric sender ID of "
                                    "the account; or give messaging_service_sid")
    messaging_service_sid: str | None = Field(None, description="Twilio's MessagingServiceSid (MG…): its sender pool "
                                              "picks the number; or give from_number")
    status_callback: str | None = Field(None, description="an http(s) URL Twilio calls on each status change")

    @field_validator("to")
    @classmethod
    def _to(cls, value: str) -> str:
        return check_phone(value, "to")

    @field_validator("body")
    @classmethod
    def _body(cls, value: str) -> str:
        return check_body(value)

    @field_validator("status_callback")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("status_callback must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _one_sender(self) -> SendSmsInput:
        self.from_number, self.messaging_service_sid = check_sender(self.from_number, self.messaging_service_sid)
        return self


class SmsOutput(BaseModel):
    """The message resource Twilio answered (201)."""

    sid: str = Field(description="SM… (keep it to look the message up)")
    status: str = Field(description="queued (or accepted when a Messaging Service picks the sender)")
    to: str
    from_number: str | None = Field(None, description="the sender; null until a Messaging Service picked one")
    messaging_service_sid: str | None = None
    num_segments: int | None = None
    date_created: str | None = None


@action("twilio", "send_sms", title="Send an SMS", idempotent=False, connection="twilio")
async def send_sms(inputs: SendSmsInput, connection: Any = None) -> SmsOutput:
    """Send one SMS with Twilio, from a number of the account or through a Messaging Service.

    Not idempotent: sent once; a lost answer is an unknown outcome, never re-sent by itself.
    """
    if connection is None:
        raise ValidationError(vendor="Twilio", message="twilio.send_sms needs a twilio connection (a Twilio "
                              "Credentials block)")
    async with connection.client() as twilio:
        try:
            message = await twilio.send_message(inputs.to, inputs.body, from_=inputs.from_number,
                                                messaging_service_sid=inputs.messaging_service_sid,
                                                status_callback=inputs.status_callback)
        except ValueError as exc:  # refused before sending: nothing reached Twilio
            raise ValidationError(vendor="Twilio", message=str(exc)) from None
    segments = message.get("num_segments")
    return SmsOutput(sid=message["sid"], status=message.get("status") or "", to=message.get("to") or inputs.to,
                     from_number=message.get("from"), messaging_service_sid=message.get("messaging_service_sid"),
                     num_segments=int(segments) if str(segments or "").isdigit() else None,
                     date_created=message.get("date_created"))
