"""Every table of the store (sqlmodel), in one module: the schema Alembic's migrations build
(passerelle/store/migrations/, docs/store.md). A change here needs a migration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

# Statuses of an inbox event (passerelle/store/inbox.py).
PENDING, PROCESSING, DONE, DEAD = "pending", "processing", "done", "dead"
STATUSES = (PENDING, PROCESSING, DONE, DEAD)


def utcnow() -> datetime:
    return datetime.now(UTC)


class SyncRun(SQLModel, table=True):
    """One run of a sync flow for one link: progress while it runs, its summary once done."""

    __tablename__ = "sync_run"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True, description="which sync, e.g. amilia_initial_sync")
    link: str = Field(index=True, description="the pair of credential Blocks the run used")
    flow_run_id: str | None = None
    dry_run: bool = False
    status: str = Field(default="running", description="running, completed, failed or crashed (its process died)")
    stage: str = ""
    progress_done: int = 0
    progress_total: int = 0
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = Field(default=None, description="last sign of life of a running run")
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    error: str | None = Field(default=None, sa_column=Column(Text))


class Watermark(SQLModel, table=True):
    """Where incremental processing of a source starts from, per link."""

    __tablename__ = "watermark"

    source: str = Field(primary_key=True)
    link: str = Field(primary_key=True)
    value: datetime
    updated_at: datetime = Field(default_factory=utcnow)


class AmiliaRegistration(SQLModel, table=True):
    """What the initial sync and the webhooks saw of one Amilia registration: enough to resolve a Delete
    that carries only its Id (passerelle/store/registrations.py, docs/amilia-webhooks.md)."""

    __tablename__ = "amilia_registration"

    organization: str = Field(primary_key=True, description="the link's Amilia organisation, id or slug")
    registration_id: str = Field(primary_key=True, description="Amilia's Id of the registration")
    number: str | None = Field(default=None, description="RegistrationId, e.g. SUB-1234 (consent proof)")
    date_created: str | None = None
    person_id: int
    account_id: int | None = None
    owner_person_id: int | None = None
    activity_id: int | None = None
    program: str | None = None
    category: str | None = None
    subcategory: str | None = None
    activity: str | None = None
    seen_at: datetime = Field(default_factory=utcnow)


class ConversationTicket(SQLModel, table=True):
    """The one Zendesk ticket made for an iAdvize conversation (passerelle/store/conversation_tickets.py,
    docs/iadvize-zendesk.md): an archive, or an escalation (an archive turned into one keeps its row)."""

    __tablename__ = "conversation_ticket"

    site: str = Field(primary_key=True, description="the iAdvize site (project) id")
    conversation_id: str = Field(primary_key=True, description="iAdvize's conversation id (a UUID)")
    kind: str = Field(description="archive or escalation")
    ticket_id: int = Field(description="the Zendesk ticket's id")
    agent_id: int | None = None
    agent_name: str | None = None
    requester_found: bool = Field(default=False, description="a Zendesk user had the visitor's e-mail")
    form_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    escalated_at: datetime | None = None


class Effect(SQLModel, table=True):
    """The effect ledger: one row per external side effect done, keyed `<event or run id>:<step>`."""

    __tablename__ = "effect"

    key: str = Field(primary_key=True)
    done_at: datetime = Field(default_factory=utcnow)
    detail: str | None = Field(default=None, sa_column=Column(Text))


class Lease(SQLModel, table=True):
    """An expiring hold on a named piece of work, e.g. ``amilia-drain:default`` (passerelle/store/effects.py)."""

    __tablename__ = "lease"

    name: str = Field(primary_key=True)
    holder: str
    expires_at: datetime


class InboxEvent(SQLModel, table=True):
    """One accepted webhook delivery, waiting for or done by a drainer (passerelle/store/inbox.py)."""

    __tablename__ = "inbox_event"
    __table_args__ = (
        UniqueConstraint("source", "link", "event_id", name="uq_inbox_delivery"),
        Index("ix_inbox_claim", "source", "link", "status", "entity_key", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(description="plug-in that accepted it, e.g. amilia")
    link: str
    event_id: str = Field(description="vendor event id, or a hash of the body when the vendor gives none")
    event_type: str = Field(description="e.g. Person.Create")
    entity_key: str = Field(description="events of one entity are applied in order, e.g. person:501")
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    received_at: datetime = Field(default_factory=utcnow)
    status: str = Field(default=PENDING)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    done_at: datetime | None = None


class HookLink(SQLModel, table=True):
    """One receiving URL of one source: who may post to `/hooks/{source}/{link}` (passerelle/store/links.py)."""

    __tablename__ = "hook_link"

    source: str = Field(primary_key=True, description="source plug-in name, e.g. amilia")
    link: str = Field(primary_key=True, description="link name, e.g. default (also the Blocks' name)")
    token_sha256: str = Field(description="hex SHA-256 of the URL token; the token itself is never stored")
    created_at: datetime = Field(default_factory=utcnow)


# Statuses of a zap run (passerelle/zaps/runs.py, docs/zaps.md "Running zaps").
ZAP_RUN_STATUSES = ("running", "ok", "filtered", "failed", "delayed", "unknown", "held")


class ZapRun(SQLModel, table=True):
    """One run of one zap for one inbox event (passerelle/zaps/runs.py): at most one per zap and event."""

    __tablename__ = "zap_run"
    __table_args__ = (UniqueConstraint("zap_id", "inbox_id", name="uq_zap_run_event"),
                      Index("ix_zap_run_due", "status", "resume_at"))

    id: int | None = Field(default=None, primary_key=True)
    zap_id: str = Field(index=True)
    inbox_id: int = Field(index=True, description="the inbox event that triggered it")
    source: str = Field(description="the inbox source, e.g. catch")
    link: str = Field(description="the hook (inbox link) the event came in by")
    status: str = Field(default="running", description="running, ok, filtered, failed, delayed, unknown, held, "
                                                       "due (woken by the resumer), replay (a person asked) or "
                                                       "cancelled")
    started_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    resume_at: datetime | None = Field(default=None, description="a delayed run, or a failed one to be replayed "
                                                                 "by itself: when it is due to go on")
    attempts: int = 0
    retriable: bool = Field(default=False, description="failed on an error that may pass: replayed by itself at "
                                                        "resume_at (the zap's auto_replay)")
    error: str | None = Field(default=None, sa_column=Column(Text))


class ZapStepRun(SQLModel, table=True):
    """One step of a zap run as it last ran: rendered input (secrets masked), output, error, duration."""

    __tablename__ = "zap_step_run"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(index=True)
    position: int = Field(description="order of execution within the run")
    step_id: str
    path: str = Field(description="where the step is in the zap, e.g. steps[1].branches[0].steps[0]")
    type: str
    status: str = Field(description="ok, reused (output from the effect ledger), filtered, failed, delayed, "
                                    "unknown")
    input: Any = Field(default=None, sa_column=Column(JSON))
    output: Any = Field(default=None, sa_column=Column(JSON))
    error: str | None = Field(default=None, sa_column=Column(Text))
    duration_ms: float = 0.0


class ZapState(SQLModel, table=True):
    """A zap switched on or off with `passerelle zaps enable|disable` (overrides its YAML `enabled`)."""

    __tablename__ = "zap_state"

    zap_id: str = Field(primary_key=True)
    enabled: bool
    updated_at: datetime = Field(default_factory=utcnow)
