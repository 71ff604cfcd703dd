"""The pure part of `passerelle zaps test`: a zap walked against one event, calling nothing.

Every step's inputs are rendered, each action's rendered inputs are checked against its input model, filters,
paths and formats are evaluated, delays computed. An action's output is a placeholder per output field
(`<not called: steps.add.id>`), so later templates render. The result says how a run would end: `ok`,
`filtered` (a filter or no path let it through) or `failed` (with the step and the error).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ValidationError

from passerelle.zaps import conditions, formatter, templating
from passerelle.zaps.registry import UnknownRef, get_action
from passerelle.zaps.spec import Zap


class _Stop(Exception):
    def __init__(self, status: str) -> None:
        self.status = status


def _action(step: Any, where: str, context: dict[str, Any], record: dict[str, Any]) -> None:
    spec = get_action(step.action)
    rendered = templating.render(step.inputs, context)
    record["inputs"] = rendered
    try:
        spec.input_model.model_validate(rendered)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        raise ValueError(f"{where}.inputs{loc}: {first['msg']}") from None
    record["idempotent"] = spec.is_idempotent(spec.input_model.model_validate(rendered))
    context["steps"][step.id] = {name: f"<not called: steps.{step.id}.{name}>"
                                 for name in spec.output_model.model_fields}


def _delay(step: Any, context: dict[str, Any], record: dict[str, Any]) -> None:
    if step.for_ is not None:
        duration = templating.render(step.for_, context)
        until = dt.datetime.now(dt.UTC) + formatter.parse_duration(duration)
        record["for"] = duration
    else:
        until = formatter.parse_date(templating.render(step.until, context))
    record["until"] = until.isoformat()
    context["steps"][step.id] = {"until": until.isoformat()}


def _walk(steps: list[Any], prefix: str, context: dict[str, Any], records: list[dict[str, Any]]) -> None:
    for i, step in enumerate(steps):
        where = f"{prefix}[{i}]"
        record: dict[str, Any] = {"step": where, "id": step.id, "type": step.type}
        records.append(record)
        try:
            if step.type == "action":
                record["action"] = step.action
                _action(step, where, context, record)
            elif step.type == "filter":
                passed, record["conditions"] = conditions.evaluate(step, context)
                record["passed"] = passed
                if not passed:
                    raise _Stop("filtered")
            elif step.type == "format":
                value = templating.render(step.input, context)
                output = formatter.apply(step.kind, step.transform, value, templating.render(step.options, context))
                record.update(input=value, output=output)
                context["steps"][step.id] = {"output": output}
            elif step.type == "delay":
                _delay(step, context, record)
            elif step.type == "paths":
                _paths(step, where, context, records, record)
        except _Stop:
            raise
        except (templating.TemplateRefused, templating.TemplateUndefined, formatter.FormatError,
                conditions.ConditionError, UnknownRef, ValueError) as exc:
            record["error"] = str(exc)
            raise _Stop("failed") from None


def _paths(step: Any, where: str, context: dict[str, Any], records: list[dict[str, Any]],
           record: dict[str, Any]) -> None:
    chosen, statuses = [], []
    record["branches"] = []
    for b, branch in enumerate(step.branches):
        if chosen and step.mode == "first":
            record["branches"].append({"name": branch.name, "passed": None})
            continue
        passed, checks = conditions.evaluate(branch, context)
        record["branches"].append({"name": branch.name, "passed": passed, "conditions": checks})
        if passed:
            chosen.append((b, branch))
    record["chosen"] = [branch.name for _, branch in chosen]
    if not chosen:
        raise _Stop("filtered")
    for b, branch in chosen:  # each branch sees the steps before the paths step, and its own
        branch_context = {**context, "steps": dict(context["steps"])}
        try:
            _walk(branch.steps, f"{where}.branches[{b}].steps", branch_context, records)
            statuses.append("ok")
        except _Stop as stop:
            statuses.append(stop.status)
    if "failed" in statuses:
        raise _Stop("failed")
    if "ok" not in statuses:
        raise _Stop("filtered")


def preview(zap: Zap, event: dict[str, Any], now: dt.datetime | None = None) -> dict[str, Any]:
    """{"zap", "status": ok|filtered|failed, "steps": [one record per step reached]}."""
    received = (now or dt.datetime.now(dt.UTC)).isoformat()
    context = {"trigger": event, "steps": {}, "vars": zap.settings(),
               "zap": {"id": zap.id, "name": zap.name, "received_at": received}}
    records: list[dict[str, Any]] = []
    try:
        _walk(zap.steps, "steps", context, records)
        status = "ok"
    except _Stop as stop:
        status = stop.status
    return {"zap": zap.id, "status": status, "steps": records}
