"""One zap run for one event: templates, filter, paths, format, delay and actions, every action through the
effect ledger (docs/zaps.md, "Running zaps"). Prefect-free; the runner (runner.py) runs many at once.

The ledger keys of a run start with ``inbox-<row>:zap:<zap>:`` (runs.ledger_prefix), then the step id:

- ``…:<step>:done`` — the action answered; its detail is the output (secrets masked), reused by a later
  attempt of the run instead of calling again (written at once for an action that is not idempotent, with the
  run's end for one that is: a crash in between only runs the idempotent call again);
- ``…:<step>:sent-<n>`` — recorded *before* attempt n of an action that is not idempotent is sent;
- ``…:<step>:unsent-<n>`` — attempt n surely did not take effect (no connection, 429, a 4xx answer).

A ``sent-<n>`` with neither ``done`` nor ``unsent-<n>`` means a run stopped between sending and recording (a
crash, a kill): the step and the run are ``unknown`` and the action is never sent again by itself. The same
when the action itself says it cannot know (``OutcomeUnknown``: sent, no answer). Idempotent actions need no
``sent`` mark: they are retried (``RETRIES`` attempts) on errors that may pass (connection, 429, 5xx).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from connectors._http.errors import ApiError, OutcomeUnknown, RateLimitedError, ServerError, TransportError
from passerelle.store.effects import record_effects
from passerelle.store.engine import off_loop
from passerelle.zaps import conditions, formatter, templating
from passerelle.zaps.registry import UnknownRef, get_action
from passerelle.zaps.runs import StepRecord, ledger_prefix
from passerelle.zaps.spec import Zap

RETRIES = 3  # attempts of an idempotent action on an error that may pass
RETRY_BASE_SECONDS = 0.5
RETRY_CAP_SECONDS = 10.0
MASK = "***"
_SECRET_NAME = re.compile(r"(?i)(authorization|cookie|token|secret|password|passwd|api[-_]?key|signature|"
                          r"credential|private[-_]?key)")
_RETRIABLE = (TransportError, RateLimitedError, ServerError)
_STEP_ERRORS = (templating.TemplateRefused, templating.TemplateUndefined, formatter.FormatError,
                conditions.ConditionError, UnknownRef, ValueError)


def mask(value: Any) -> Any:
    """`value` with the values under secret-looking names (Authorization, Cookie, *token*, *password*…)
    replaced by ``***``, at any depth: what is stored of inputs and outputs."""
    if isinstance(value, dict):
        return {k: MASK if isinstance(k, str) and _SECRET_NAME.search(k) and v not in (None, "") else mask(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


class Stop(Exception):
    """The run ends at this step: ``filtered``, ``failed``, ``delayed`` or ``unknown``."""

    def __init__(self, status: str, error: str | None = None, *, retriable: bool = False,
                 resume_at: dt.datetime | None = None) -> None:
        super().__init__(error or status)
        self.status, self.error, self.retriable, self.resume_at = status, error, retriable, resume_at


@dataclass
class Outcome:
    """A run's end: its status, error, resume time (delayed) and the steps as they ran."""

    status: str
    error: str | None = None
    retriable: bool = False  # failed on an error that may pass: the event is tried again later
    resume_at: dt.datetime | None = None
    steps: list[StepRecord] = field(default_factory=list)
    ledger: dict[str, str | None] = field(default_factory=dict)  # entries to record with the run's end


# The ledger write, a module attribute so that a test can make it fail as a killed process would.
async def ledger_record(entries: dict[str, str | None], store_url: str | None) -> None:
    await off_loop(store_url, record_effects, entries, url=store_url)


Connector = Callable[[str, str], Awaitable[Any]]  # (app, connection name) → credentials Block


class ZapRun:
    """One run of `zap` for the inbox event `row_id` with `payload`.

    Args:
        prior: The run's ledger entries recorded by earlier attempts (runs.ledger_entries).
        connect: Loads a connection's credentials Block (app, name); default: refuse actions that need one.
        sleep: asyncio.sleep (tests pass a recorder).
        prefix: The run's ledger prefix (default ``runs.ledger_prefix(row_id, zap.id)``; a live test run has its
            own, so that it never reuses or blocks a real run's effects).
        skip_delays: Go on past a delay step instead of stopping there (a live test run), recording when it
            would have waited until.
        hydrate: ``async hydrate(payload) -> dict``: the trigger's data from what was received (the trigger's
            registered hydrate, its connection bound), recorded as the run's first step ``trigger``.
    """

    def __init__(self, zap: Zap, row_id: int, payload: dict[str, Any], received_at: dt.datetime, *,
                 prior: dict[str, str | None] | None = None, connect: Connector | None = None,
                 store_url: str | None = None, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 prefix: str | None = None, skip_delays: bool = False,
                 hydrate: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = None) -> None:
        self.zap, self.row_id, self.payload = zap, row_id, payload
        self.received_at, self.prior, self.connect = received_at, dict(prior or {}), connect
        self.store_url, self.sleep, self.skip_delays, self.hydrate = store_url, sleep, skip_delays, hydrate
        self.prefix = prefix or ledger_prefix(row_id, zap.id)
        self.records: list[StepRecord] = []
        self.calls = 0
        # The `done` entries of idempotent actions, written with the run's end in one transaction for the batch
        # (runs.finish_runs): if the process dies first, the action runs again, which is safe for it.
        self.deferred: dict[str, str | None] = {}

    async def run(self) -> Outcome:
        try:
            payload = await self._hydrated()
            context = {"trigger": payload, "steps": {}, "vars": self.zap.settings(),
                       "zap": {"id": self.zap.id, "name": self.zap.name, "received_at": self.received_at.isoformat()}}
            await self._walk(self.zap.steps, "steps", context)
        except Stop as stop:
            return Outcome(stop.status, stop.error, stop.retriable, stop.resume_at, self.records, self.deferred)
        return Outcome("ok", steps=self.records, ledger=self.deferred)

    async def _hydrated(self) -> dict[str, Any]:
        """The trigger's data: the payload as received, or what the trigger's hydrate makes of it (a read: run
        again by each attempt), recorded as the step ``trigger``."""
        if self.hydrate is None:
            return self.payload
        record = StepRecord("trigger", "trigger", "trigger", "ok", input=mask(self.payload))
        self.records.append(record)
        started = time.perf_counter()
        try:
            payload = await self.hydrate(self.payload)
        except ApiError as exc:
            record.status, record.error = "failed", f"trigger: {exc}"[:2000]
            raise Stop("failed", record.error, retriable=isinstance(exc, _RETRIABLE)) from None
        except (KeyError, ValueError, LookupError) as exc:
            record.status, record.error = "failed", f"trigger: {exc}"[:2000]
            raise Stop("failed", record.error) from None
        finally:
            record.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        record.output = mask(payload)
        return payload

    async def _walk(self, steps: list[Any], prefix: str, context: dict[str, Any]) -> None:
        for i, step in enumerate(steps):
            where = f"{prefix}[{i}]"
            if step.type == "paths":
                await self._paths(step, where, context)
                continue
            record = StepRecord(step.id, where, step.type, "ok")
            self.records.append(record)
            started = time.perf_counter()
            try:
                await self._step(step, where, context, record)
            except Stop as stop:
                record.status, record.error = stop.status, stop.error
                raise
            except _STEP_ERRORS as exc:
                record.status, record.error = "failed", f"{where}: {exc}"
                raise Stop("failed", record.error) from None
            finally:
                record.duration_ms = round((time.perf_counter() - started) * 1000, 3)

    async def _step(self, step: Any, where: str, context: dict[str, Any], record: StepRecord) -> None:
        if step.type == "action":
            await self._action(step, where, context, record)
        elif step.type == "filter":
            passed, checks = conditions.evaluate(step, context)
            record.output = {"passed": passed, "conditions": mask(checks)}
            if not passed:
                raise Stop("filtered", f"{where}: the filter's conditions did not hold")
        elif step.type == "format":
            value = templating.render(step.input, context)
            output = formatter.apply(step.kind, step.transform, value, templating.render(step.options, context))
            record.input, record.output = mask({"input": value}), output
            context["steps"][step.id] = {"output": output}
        elif step.type == "delay":
            self._delay(step, context, record)

    def _delay(self, step: Any, context: dict[str, Any], record: StepRecord) -> None:
        if step.for_ is not None:
            duration = templating.render(step.for_, context)
            until = self.received_at + formatter.parse_duration(duration)
            record.input = {"for": duration}
        else:
            until = formatter.parse_date(templating.render(step.until, context))
            record.input = {"until": until.isoformat()}
        record.output = {"until": until.isoformat()}
        context["steps"][step.id] = {"until": until.isoformat()}
        if until > dt.datetime.now(dt.UTC):
            if self.skip_delays:
                record.status = "skipped"
                record.error = f"a run would wait until {until.isoformat()}; this test run went on"
                return
            raise Stop("delayed", f"waits until {until.isoformat()}", resume_at=until)

    async def _paths(self, step: Any, where: str, context: dict[str, Any]) -> None:
        record = StepRecord(step.id, where, "paths", "ok")
        self.records.append(record)
        chosen, branches = [], []
        try:
            for b, branch in enumerate(step.branches):
                if chosen and step.mode == "first":
                    branches.append({"name": branch.name, "passed": None})
                    continue
                passed, checks = conditions.evaluate(branch, context)
                branches.append({"name": branch.name, "passed": passed, "conditions": mask(checks)})
                if passed:
                    chosen.append((b, branch))
        except _STEP_ERRORS as exc:
            record.status, record.error = "failed", f"{where}: {exc}"
            raise Stop("failed", record.error) from None
        record.output = {"branches": branches, "chosen": [branch.name for _, branch in chosen]}
        if not chosen:
            record.status = "filtered"
            raise Stop("filtered", f"{where}: no branch's conditions held")
        stops: list[Stop] = []
        for b, branch in chosen:  # each branch sees the steps before the paths step, and its own
            try:
                await self._walk(branch.steps, f"{where}.branches[{b}].steps", {**context,
                                                                                "steps": dict(context["steps"])})
            except Stop as stop:
                stops.append(stop)
        for status in ("unknown", "failed", "delayed"):
            first = next((s for s in stops if s.status == status), None)
            if first is not None:
                raise first
        if len(stops) == len(chosen):
            raise Stop("filtered", f"{where}: every branch taken was filtered")

    # -- actions ------------------------------------------------------------------------------------
    async def _action(self, step: Any, where: str, context: dict[str, Any], record: StepRecord) -> None:
        spec = get_action(step.action)
        rendered = templating.render(step.inputs, context)
        record.input = mask(rendered)
        try:
            inputs = spec.input_model.model_validate(rendered)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
            raise Stop("failed", f"{where}.inputs{loc}: {first['msg'].removeprefix('Value error, ')}") from None
        key = f"{self.prefix}{step.id}"
        if f"{key}:done" in self.prior:
            output = json.loads(self.prior[f"{key}:done"] or "null")
            record.status, record.output = "reused", output
            context["steps"][step.id] = output
            return
        idempotent = spec.is_idempotent(inputs)
        sent = sorted(int(k.rsplit("-", 1)[1]) for k in self.prior if k.startswith(f"{key}:sent-"))
        unsettled = [n for n in sent if f"{key}:unsent-{n}" not in self.prior]
        if unsettled:
            raise Stop("unknown", f"{where}: {spec.ref} was sent by an earlier attempt that stopped before its "
                                  "answer was recorded; it is not sent again by itself. Check the target, then "
                                  "replay the run or mark it done.")
        connection = await self._connection(spec, step, where)
        output = await self._call(spec, inputs, connection, key, idempotent, (sent or [0])[-1], where)
        record.output = output
        context["steps"][step.id] = output

    async def _connection(self, spec: Any, step: Any, where: str) -> Any:
        if not step.connection:
            return None
        if self.connect is None:
            raise Stop("failed", f"{where}.connection: no connection loader was given to this run")
        try:
            return await self.connect(spec.connection, step.connection)
        except (KeyError, ValueError) as exc:
            raise Stop("failed", f"{where}.connection: {exc}") from None

    async def _call(self, spec: Any, inputs: Any, connection: Any, key: str, idempotent: bool, last: int,
                    where: str) -> Any:
        attempts = RETRIES if idempotent else 1
        for attempt in range(1, attempts + 1):
            n = last + attempt
            if not idempotent:
                await ledger_record({f"{key}:sent-{n}": dt.datetime.now(dt.UTC).isoformat()}, self.store_url)
            self.calls += 1
            try:
                result = await spec.run(inputs, connection)
            except OutcomeUnknown as exc:
                raise Stop("unknown", f"{where}: {exc} It was not sent again: check the target, then replay the "
                                      "run or mark it done.") from None
            except ApiError as exc:  # answered with an error, or never reached: it did not take effect
                if not idempotent:
                    await ledger_record({f"{key}:unsent-{n}": type(exc).__name__}, self.store_url)
                retriable = isinstance(exc, _RETRIABLE)
                if retriable and attempt < attempts:
                    await self.sleep(_backoff(attempt, getattr(exc, "retry_after", None)))
                    continue
                raise Stop("failed", f"{where}: {exc}"[:2000], retriable=retriable) from None
            except Exception as exc:  # noqa: BLE001 - an action's own bug: sent or not, nobody can tell
                if idempotent:
                    raise Stop("failed", f"{where}: {type(exc).__name__}: {exc}"[:2000]) from None
                raise Stop("unknown", f"{where}: {type(exc).__name__} after sending; not sent again") from None
            output = mask(result.model_dump(mode="json"))
            done = {f"{key}:done": json.dumps(output, default=str)}
            if idempotent:
                self.deferred.update(done)
            else:  # at once: a crash must not leave a non-idempotent call looking unsent-or-unknown
                await ledger_record(done, self.store_url)
            return output
        raise AssertionError("unreachable")  # pragma: no cover


def _backoff(attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return min(float(retry_after), RETRY_CAP_SECONDS)
    return min(RETRY_BASE_SECONDS * 2 ** (attempt - 1), RETRY_CAP_SECONDS)
