"""Oxiva values: the dossier name, record ids, and the catch-hook call's parameters (../shared/seeds/oxiva-zapier.txt).

Oxiva calls a zap's catch hook with the record's ids appended to the URL, e.g. for a new ticket
``…/?id=11&sticket_id=810&url=<the hook's URL>`` (the seed's example); the catch source stores that call as
``{"method": "GET", "query": {"id": "11", "sticket_id": "810", "url": "…"}}`` (a POST's form or JSON body is read
too). :func:`hook_param` reads one id from it, or raises :class:`HookCallError` naming the query parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

DOSSIER_FORM = "the dossier name Oxiva shows (1 to 100 characters, no spaces, '/', '?', '&' or '#')"
_DOSSIER = re.compile(r"[^\s/?&#]{1,100}")
_ID = re.compile(r"[0-9]{1,18}")
WHERE = ("query", "form", "json")  # where a catch-hook call carries its parameters, in the order read


class HookCallError(ValueError):
    """A catch-hook call Oxiva's trigger cannot use (a missing or bad id, a record Oxiva does not have): the
    message names the query parameter. A ValueError: the run fails for good (the call will not get better)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


def oxiva_dossier(value: str) -> str:
    """The dossier name, trimmed; ValueError naming the form expected."""
    text = (value or "").strip() if isinstance(value, str) else ""
    if not _DOSSIER.fullmatch(text):
        raise ValueError(f"dossier: give {DOSSIER_FORM}")
    return text


def oxiva_id(value: Any, name: str) -> str:
    """An Oxiva record id as Oxiva writes it (digits, as text: the seed's filters compare with ``===`` against
    the hook's text parameters); HookCallError naming `name` otherwise."""
    if type(value) is int and value >= 0:
        value = str(value)
    text = value.strip() if isinstance(value, str) else None
    if text is None or not _ID.fullmatch(text):
        shown = repr(value)[:40]
        raise HookCallError(name, f"query parameter '{name}' must be an Oxiva id, a whole number such as 11; got "
                            f"{shown}")
    return str(int(text))


def hook_param(payload: Mapping[str, Any], name: str, *, aliases: tuple[str, ...] = (), example: str) -> str:
    """The id `name` (or one of its `aliases`) of a stored catch-hook call: its query string first, then its form
    or JSON body.

    Raises:
        HookCallError: absent, given several times, or not an id; the message names `name` and shows `example`
            (the URL Oxiva calls).
    """
    for where in WHERE:
        part = payload.get(where) if isinstance(payload, Mapping) else None
        if not isinstance(part, Mapping):
            continue
        for key in (name, *aliases):
            if key not in part:
                continue
            value = part[key]
            if isinstance(value, list):
                raise HookCallError(name, f"query parameter '{name}' is given {len(value)} times; Oxiva sends it "
                                    f"once, e.g. {example}")
            return oxiva_id(value, name)
    also = f" (or '{aliases[0]}')" if aliases else ""
    raise HookCallError(name, f"query parameter '{name}'{also} is missing from the call; Oxiva calls the hook as "
                        f"{example}")
