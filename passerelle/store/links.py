"""Webhook links: one secret URL token per (source, link), of which the store keeps only the SHA-256.

A vendor that signs nothing (Amilia) proves who it is by knowing the URL it was given:
`{base}/hooks/{source}/{link}?token=<token>`. The token is 32 random bytes (URL-safe base64), shown once
to the user who creates the link; the store holds its SHA-256 only, so a copy of the database does not
let anyone post events. Re-creating a link rotates its token.

Example:
    token = create_link("amilia", "default")        # print it once, into the user's terminal
    verify_token("amilia", "default", token)        # True; False for another token; None: unknown link
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime

from sqlmodel import select

from passerelle.store.engine import session_scope
from passerelle.store.models import HookLink

LINK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _now() -> datetime:
    return datetime.now(UTC)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str | None, expected_sha256: str) -> bool:
    """Constant-time comparison of a presented token with a stored hash."""
    if not token:
        return False
    return hmac.compare_digest(token_sha256(token), expected_sha256)


def check_link_name(name: str, what: str = "link") -> str:
    if not LINK_NAME.match(name):
        raise ValueError(f"invalid {what} name {name!r}: 1-64 characters among letters, digits, '.', '_' "
                         f"and '-', starting with a letter or digit")
    return name


def create_link(source: str, link: str, url: str | None = None) -> str:
    """Create the link, or rotate its token when it exists. Returns the new token (store it nowhere)."""
    check_link_name(source, "source")
    check_link_name(link)
    token = secrets.token_urlsafe(32)
    with session_scope(url) as s:
        row = s.get(HookLink, (source, link))
        if row is None:
            s.add(HookLink(source=source, link=link, token_sha256=token_sha256(token)))
        else:
            row.token_sha256, row.created_at = token_sha256(token), _now()
    return token


def verify_token(source: str, link: str, token: str | None, url: str | None = None) -> bool | None:
    """True when `token` is the link's token, False when not, None when the link does not exist."""
    with session_scope(url) as s:
        row = s.get(HookLink, (source, link))
        expected = row.token_sha256 if row is not None else None
    if expected is None:
        return None
    return token_matches(token, expected)


def list_links(source: str | None = None, url: str | None = None) -> list[HookLink]:
    with session_scope(url) as s:
        stmt = select(HookLink).order_by(HookLink.source, HookLink.link)
        if source:
            stmt = stmt.where(HookLink.source == source)
        return list(s.exec(stmt).all())


def delete_link(source: str, link: str, url: str | None = None) -> bool:
    """Remove a link (its URL stops working). Returns whether it existed."""
    with session_scope(url) as s:
        row = s.get(HookLink, (source, link))
        if row is None:
            return False
        s.delete(row)
        return True
