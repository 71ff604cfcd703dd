"""The generic drain engine: lease, claim, plan/write pipelining, settle, dead letters and the report, for any
source whose events a :class:`BatchHandler` knows how to apply (docs/engine.md)."""

from passerelle.engine.batch import BatchHandler, BatchOutcome, DrainReport, error_text
from passerelle.engine.drain import DrainOptions, drain, drain_lease_name
from passerelle.engine.ledger import APPLIED, SKIPPED, event_key, final_keys, is_settled

__all__ = ["APPLIED", "SKIPPED", "BatchHandler", "BatchOutcome", "DrainOptions", "DrainReport", "drain",
           "drain_lease_name", "error_text", "event_key", "final_keys", "is_settled"]
