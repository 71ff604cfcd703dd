"""Mailchimp Marketing API v3: the rules a request must follow before it is sent (API-NOTES §8).

Pure functions, no I/O: the API key's data center, the subscriber hash, e-mail and status checks.

Example:
    >>> data_center("0123456789abcdef0123456789abcdef-us21")
    'us21'
    >>> subscriber_hash(" Lea@Example.org ") == subscriber_hash("lea@example.org")
    True
"""

from __future__ import annotations

import hashlib
import re

from pydantic import SecretStr

STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
TAG_STATUSES = ("active", "inactive")
MAX_TAG_LENGTH = 100
KEY_FORM = "<key>-<data center>, e.g. 0123456789abcdef0123456789abcdef-us21"
_DC = re.compile(r"[a-z]{2,}[0-9]{1,3}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def data_center(api_key: SecretStr | str) -> str:
    """The data center a key belongs to: the part after its last dash (``…-us21`` → ``us21``).

    Raises:
        ValueError: naming ``api_key`` and the form expected, never echoing the key.
    """
    key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else str(api_key)
    key = key.strip()
    prefix, dash, dc = key.rpartition("-")
    if not dash or not prefix:
        raise ValueError(f"api_key: a Mailchimp API key ends with its data center ({KEY_FORM}); this one has no "
                         "'-<dc>' suffix. Copy the whole key from Profile → Extras → API keys")
    if not _DC.fullmatch(dc):
        raise ValueError(f"api_key: the part after the last dash must be a Mailchimp data center such as us21 "
                         f"({KEY_FORM}); this key ends with something else")
    return dc


def default_base_url(dc: str) -> str:
    """The API root of a data center (``https://us21.api.mailchimp.com/3.0``)."""
    return f"https://{dc}.api.mailchimp.com/3.0"


def check_email(value: str, field: str = "email") -> str:
    """``value`` stripped, or a ``ValueError`` naming ``field`` when it is not an e-mail address."""
    text = (value or "").strip() if isinstance(value, str) else ""
    if not _EMAIL.fullmatch(text):
        raise ValueError(f"{field} must be an e-mail address such as lea@example.org; got {value!r}")
    return text


def subscriber_hash(email: str) -> str:
    """The member's id in a list: the MD5 hex digest of the lower-cased, trimmed e-mail address."""
    return hashlib.md5(check_email(email).lower().encode("utf-8"), usedforsecurity=False).hexdigest()


def check_list_id(value: str) -> str:
    """A list (audience) id: non-empty, no slash or space (it goes in the URL path)."""
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text or re.search(r"[\s/?#]", text):
        raise ValueError(f"list_id must be a Mailchimp audience id such as 8e3b1f0c2a (Audience → Settings → "
                         f"Audience name and defaults → Audience ID); got {value!r}")
    return text


def check_tag_name(value: str, field: str = "tags") -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_TAG_LENGTH:
        raise ValueError(f"{field}: a tag name is 1 to {MAX_TAG_LENGTH} characters; got {value!r}")
    return text
