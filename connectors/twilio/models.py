"""Twilio Programmable Messaging: the rules a send must follow before it is sent (API-NOTES §10, the 2010-04-01
OAS: ``AccountSid`` ``^AC[0-9a-fA-F]{32}$``, ``MessagingServiceSid`` ``^MG[0-9a-fA-F]{32}$``, ``Body`` up to
1,600 characters).

Example:
    >>> check_phone(" +1 514 555 0100 ", "to")
    '+15145550100'
"""

from __future__ import annotations

import re

MAX_BODY = 1600
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_SID = {"AC": re.compile(r"AC[0-9a-fA-F]{32}"), "MG": re.compile(r"MG[0-9a-fA-F]{32}"),
        "SM": re.compile(r"(SM|MM)[0-9a-fA-F]{32}")}
_SEPARATORS = re.compile(r"[\s().-]")
ALPHANUMERIC_SENDER = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")  # Twilio's alphanumeric sender IDs


def check_phone(value: str, field: str) -> str:
    """An E.164 number (``+15145550100``); spaces, dots, dashes and parentheses are dropped first.

    Raises:
        ValueError: naming ``field`` and the form expected.
    """
    text = _SEPARATORS.sub("", value) if isinstance(value, str) else ""
    if not E164.fullmatch(text):
        raise ValueError(f"{field} must be a phone number in E.164 form, + then the country code and number "
                         f"(e.g. +15145550100); got {value!r}")
    return text


def check_sid(value: str, prefix: str, field: str) -> str:
    """A Twilio SID: two letters (AC account, MG messaging service, SM message) and 32 hex digits."""
    text = value.strip() if isinstance(value, str) else ""
    if not _SID[prefix].fullmatch(text):
        raise ValueError(f"{field} must be a Twilio SID of the form {prefix} followed by 32 hexadecimal digits "
                         f"(e.g. {prefix}{'0' * 31}1); got {value!r}")
    return text


def check_body(value: str, field: str = "body") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field} must be the text of the message (it is empty)")
    if len(value) > MAX_BODY:
        raise ValueError(f"{field} is {len(value)} characters; Twilio takes at most {MAX_BODY} (about 10 SMS "
                         "segments): shorten it")
    return value


def check_sender(from_number: str | None, messaging_service_sid: str | None) -> tuple[str | None, str | None]:
    """Exactly one sender: a ``From`` number of the account, or a ``MessagingServiceSid`` whose pool picks one."""
    if (from_number is None) == (messaging_service_sid is None):
        said = "both" if from_number is not None else "neither"
        raise ValueError(f"give exactly one of from_number (Twilio's From: a number of your account) or "
                         f"messaging_service_sid (Twilio's MessagingServiceSid: MG…); {said} was given")
    if from_number is not None:
        if isinstance(from_number, str) and ALPHANUMERIC_SENDER.fullmatch(from_number.strip()):
            return from_number.strip(), None  # an alphanumeric sender ID ("Passerelle"), where allowed
        return check_phone(from_number, "from_number"), None
    return None, check_sid(messaging_service_sid or "", "MG", "messaging_service_sid")
