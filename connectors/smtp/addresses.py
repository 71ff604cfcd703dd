"""E-mail addresses as a zap gives them: ``lea@example.org``, ``Léa Roy <lea@example.org>``, a list of them, or
one text holding several separated by commas (``"Roy, Léa" <lea@example.org>, bob@example.org``).

Each mailbox is checked (a dot-atom local part, a domain of at least two labels; an international domain is
sent in its IDNA form), and a line break anywhere is refused: it would let a value add its own headers.

Example:
    >>> [str(m) for m in mailboxes("Léa <lea@example.org>, bob@example.org")]
    ['Léa <lea@example.org>', 'bob@example.org']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import getaddresses
from typing import Any

FORM = "name@example.org or Name <name@example.org>"
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
MAX_RECIPIENTS = 100


@dataclass(frozen=True)
class Mailbox:
    """One address, its domain in ASCII (IDNA), and an optional display name."""

    address: str
    name: str = ""

    def header(self) -> Address:
        """The ``email.headerregistry.Address`` for a header (the name is encoded when the message is)."""
        return Address(display_name=self.name, addr_spec=self.address)

    def __str__(self) -> str:
        return str(self.header())


def check_address(address: str) -> str:
    """``address`` with its domain in ASCII, or a ``ValueError`` saying what is wrong."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{address!r} is not an e-mail address; write {FORM}")
    if not _LOCAL.fullmatch(local):
        problem = "has characters outside ASCII (SMTPUTF8 is not supported)" if not local.isascii() else \
            "is not a valid local part"
        raise ValueError(f"{address!r}: the part before @ {problem}; write {FORM}")
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        raise ValueError(f"{address!r}: the domain {domain!r} is not a valid host name") from None
    labels = ascii_domain.rstrip(".").split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise ValueError(f"{address!r}: the domain {domain!r} is not a host name such as example.org")
    return f"{local}@{ascii_domain.rstrip('.')}"


def _pair(text: Any) -> tuple[str, str]:
    """(name, address) of one mailbox text (``addr`` or ``Name <addr>``), not yet checked."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not an e-mail address; write {FORM}")
    if "\r" in text or "\n" in text:
        raise ValueError("an address holds a line break; give one address per item, without line breaks")
    found = getaddresses([text])
    if len(found) != 1 or not found[0][1]:
        raise ValueError(f"{text.strip()!r} is not one e-mail address; write {FORM}")
    return found[0]


def mailbox(text: str) -> Mailbox:
    """One mailbox (``addr`` or ``Name <addr>``), checked."""
    name, address = _pair(text)
    return Mailbox(check_address(address), name.strip())


def mailboxes(value: str | Iterable[str] | None) -> list[Mailbox]:
    """Every mailbox of a list, or of a text holding several separated by commas; ``[]`` for None or ``""``."""
    if value is None:
        return []
    if isinstance(value, str):
        if "\r" in value or "\n" in value:
            raise ValueError("the addresses hold a line break; separate them with commas")
        if not value.strip():
            return []
        pairs = getaddresses([value])
        if any(not address for _, address in pairs):
            what = "a list of e-mail addresses" if "," in value else "an e-mail address"
            raise ValueError(f"{value.strip()!r} is not {what}; write {FORM}" + (
                ", separated by commas (a name holding a comma goes between quotes)" if "," in value else ""))
        texts: list[Any] = [None] * len(pairs)
    else:
        texts = list(value)
        pairs = []
    out: list[Mailbox] = []
    for i in range(len(texts)):
        try:
            name, address = pairs[i] if texts[i] is None else _pair(texts[i])
            out.append(Mailbox(check_address(address), name.strip()))
        except ValueError as exc:
            raise ValueError(f"address {i + 1}: {exc}" if len(texts) > 1 else str(exc)) from None
    return out
