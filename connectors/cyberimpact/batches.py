"""Building ``addMembers`` batch bodies and merging batch results (pure functions, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass
class BatchOutcome:
    """The merged result of the batches of one :meth:`CyberimpactClient.add_members` call.

    Attributes:
        successes: Members created or updated.
        failures: Members refused (unsubscribed, invalid e-mail or field...).
        errors: ``{"index", "email", "message"}`` per failure; ``index`` is the position in the input list.
        batch_ids: Ids of the submitted batches, in input order.
    """

    successes: int = 0
    failures: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    batch_ids: list[int] = field(default_factory=list)

    @property
    def failed_emails(self) -> list[str]:
        return [e["email"] for e in self.errors if e.get("email")]

    def as_dict(self) -> dict[str, Any]:
        return {"successes": self.successes, "failures": self.failures, "errors": list(self.errors),
                "batch_ids": list(self.batch_ids)}


def add_members_bodies(
    members: Sequence[Mapping[str, Any]],
    groups: Sequence[int],
    relation_type: str,
    default_consent_date: date | str | None,
    default_consent_proof: str | None,
    chunk_size: int,
) -> list[tuple[int, dict[str, Any]]]:
    """``(offset, body)`` per chunk of ``members``. Unset defaults are left out of the body, so existing
    consent is kept for members that give no consent date."""
    head: dict[str, Any] = {"batchType": "addMembers", "relationType": relation_type,
                            "groups": [int(g) for g in groups]}
    if default_consent_date is not None:
        head["defaultConsentDate"] = (default_consent_date.isoformat()
                                      if isinstance(default_consent_date, date) else default_consent_date)
    if default_consent_proof is not None:
        head["defaultConsentProof"] = default_consent_proof
    return [(offset, {**head, "members": [dict(m) for m in members[offset:offset + chunk_size]]})
            for offset in range(0, len(members), chunk_size)]


def merge_results(members: Sequence[Mapping[str, Any]], batches: Sequence[tuple[int, Mapping[str, Any]]]
                  ) -> BatchOutcome:
    """Sum the ``result`` of completed batches; re-base error indexes on the whole input list."""
    outcome = BatchOutcome()
    for offset, batch in batches:
        outcome.batch_ids.append(int(batch["id"]))
        result = batch.get("result") or {}
        outcome.successes += int(result.get("successes", 0))
        outcome.failures += int(result.get("failures", 0))
        for error in result.get("errors") or []:
            local = error.get("index")
            index = offset + int(local) if isinstance(local, int) else None
            email = error.get("email") or (
                members[index].get("email") if index is not None and index < len(members) else None)
            outcome.errors.append({"index": index, "email": email, "message": error.get("message")})
    return outcome
