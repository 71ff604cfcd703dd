"""noCRM's error answers, read into the connector kit's classified errors.

noCRM answers every refusal with ``{"error": <status>, "message": "<prose>", "type": "<code>"}`` (its Errors
section; ``type`` is the part to test, ``message`` the part to show). :func:`nocrm_error` picks the class and
the hint from the status and the ``type``:

- ``unauthorized_*`` (401) → :class:`AuthError` naming the credentials Block.
- The four refusals of ``send_email_from_template`` (the seed's list) → one :class:`ValidationError`
  subclass each, whose hint says what a person changes in noCRM. Their ``type`` codes are our emulator's
  (the vendor's are not published): a real answer we do not recognise stays a plain ``ValidationError``
  with noCRM's own message.
- ``missing_parameter`` / ``invalid_parameter`` → ``ValidationError``; ``record_not_found`` → ``NotFoundError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from connectors._http import ApiError, ValidationError
from connectors._http.decoding import response_json


class EmailRefused(ValidationError):
    """noCRM did not send the e-mail of ``send_email_from_template``: nothing was sent."""

    reason = "the e-mail was not sent"

    def summary(self) -> str:
        return f"refused to send the e-mail ({self.reason})"


class TemplateNotShared(EmailRefused):
    reason = "the sender cannot use this template"
    fix = ("Only shared templates can be used: share the template in noCRM (Admin → E-mail templates) or pick "
           "a shared one in email_template_id.")


class TemplateVariablesLeft(EmailRefused):
    reason = "variables are left in the subject or body"
    fix = ("Fill the lead fields the template uses (or remove those variables from the template), then send "
           "again.")


class LeadWithoutEmail(EmailRefused):
    reason = "the lead has no e-mail address"
    fix = "Add the contact's e-mail address to the lead in noCRM, then send again."


class MailboxNotSynced(EmailRefused):
    reason = "the sender's mailbox is not synchronised"
    fix = ("The user in from_user_id must synchronise their mailbox with noCRM (My account → E-mail "
           "synchronisation), or send from a user who did.")


# Our emulator's `type` codes for the seed's four refusals (docs/connector-nocrm.md, [C]).
EMAIL_REFUSALS: dict[str, type[EmailRefused]] = {
    "template_not_accessible": TemplateNotShared,
    "template_variables_left": TemplateVariablesLeft,
    "lead_without_email": LeadWithoutEmail,
    "mailbox_not_synchronized": MailboxNotSynced,
}

TYPE_HINTS: dict[str, str] = {
    "unauthorized_missing_token": "Set the API key in the noCRM credentials Block.",
    "unauthorized_invalid_token": "The API key is wrong or was deleted: create one in noCRM (Admin → API → "
                                  "API keys) and update the credentials Block.",
    "unauthorized_disabled_token": "The API key is disabled: enable it in noCRM (Admin → API → API keys) or "
                                   "create another one.",
    "suspended_account": "The noCRM account is suspended: its subscription must be paid before the API answers.",
    "missing_parameter": "Give the parameter noCRM names.",
    "record_not_found": "Check the id: no such record in this noCRM account.",
}


def error_body(response: httpx.Response) -> tuple[str | None, str | None]:
    """``(message, type)`` of a noCRM error answer; ``(text, None)`` for an answer that is not noCRM's JSON."""
    try:
        body: Any = response_json(response)
    except ValueError:
        return (response.text.strip()[:200] or None), None
    if not isinstance(body, Mapping):
        return None, None
    message = body.get("message")
    kind = body.get("type")
    return (str(message)[:500] if message else None), (str(kind) if kind else None)


def nocrm_error(response: httpx.Response, error: ApiError) -> ApiError:
    """The error for a failed answer: ``error`` (the kit's classification) with noCRM's message and hint, or
    an :class:`EmailRefused` subclass for the seed's refusals."""
    message, kind = error_body(response)
    if message:
        error.message = message
    refusal = EMAIL_REFUSALS.get(kind or "")
    if refusal is not None and error.status in (400, 422):
        return refusal(vendor=error.vendor, status=error.status, method=error.method, path=error.path,
                       message=error.message, hint=refusal.fix, attempts=error.attempts)
    hint = TYPE_HINTS.get(kind or "")
    if hint:
        error.hint = f"{hint} {error.hint}" if error.hint else hint
    return error
