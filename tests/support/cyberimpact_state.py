"""Reading a sandbox Cyberimpact state document (`GET /_sandbox/cyberimpact/state`, docs/sandbox.md)
the way the tests check it: a member by address, its custom fields by name."""

from __future__ import annotations

from typing import Any

CYBERIMPACT_TOKEN = "sandbox-cyberimpact-token"  # the API token the tests' sandbox Cyberimpact accepts


def member(state: dict[str, Any], email: str) -> dict[str, Any]:
    """The member of an address."""
    return next(m for m in state["members"] if m["email"] == email)


def custom_fields_of_member(state: dict[str, Any], m: dict[str, Any]) -> dict[str, object]:
    """A member's custom fields by name (the document keys them by field id)."""
    names = {str(f["id"]): f["name"] for f in state["customFields"]}
    return {names[k]: v for k, v in m["customFields"].items()}


def custom_fields(state: dict[str, Any], email: str) -> dict[str, object]:
    """The custom fields, by name, of the member of an address."""
    return custom_fields_of_member(state, member(state, email))
