"""The checks on a zap that its models cannot make alone: step ids, templates, the registry (spec.py uses them).

Each problem is `(where, message)`, e.g. `("steps[2].inputs.to", "field required")`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from passerelle.zaps import templating
from passerelle.zaps.registry import UnknownRef, get_action, get_trigger

if TYPE_CHECKING:
    from passerelle.zaps.spec import Zap

Problem = tuple[str, str]


def walk_steps(steps: list[Any], prefix: str = "steps") -> Iterator[tuple[str, Any]]:
    """(where, step) for every step, branches' steps included, in order."""
    for i, step in enumerate(steps):
        where = f"{prefix}[{i}]"
        yield where, step
        if step.type == "paths":
            for b, branch in enumerate(step.branches):
                yield from walk_steps(branch.steps, f"{where}.branches[{b}].steps")


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if templating.is_template(value):
            yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{where}[{i}]")


def _conditions_templates(cond_owner: Any, where: str) -> Iterator[tuple[str, str]]:
    for i, cond in enumerate(cond_owner.items):
        base = f"{where}.{cond_owner.mode}[{i}]"
        yield from _strings(cond.field, f"{base}.field")
        yield from _strings(cond.value, f"{base}.value")


def step_templates(step: Any, where: str) -> Iterator[tuple[str, str]]:
    """(where, template) for the templates a step renders itself (not its branches' steps)."""
    if step.type == "action":
        yield from _strings(step.inputs, f"{where}.inputs")
    elif step.type == "filter":
        yield from _conditions_templates(step, where)
    elif step.type == "paths":
        for b, branch in enumerate(step.branches):
            yield from _conditions_templates(branch, f"{where}.branches[{b}]")
    elif step.type == "format":
        yield from _strings(step.input, f"{where}.input")
        yield from _strings(step.options, f"{where}.options")
    elif step.type == "delay":
        yield from _strings(step.for_, f"{where}.for")
        yield from _strings(step.until, f"{where}.until")


def _template_problems(text: str, where: str, available: set[str], all_ids: set[str]) -> list[Problem]:
    try:
        unknown = templating.unknown_variables(text)
        refs = templating.referenced_steps(text)
    except templating.TemplateRefused as exc:
        return [(where, str(exc))]
    except Exception as exc:  # noqa: BLE001 - jinja's TemplateSyntaxError and kin
        line = getattr(exc, "lineno", None)
        return [(where, f"template syntax: {getattr(exc, 'message', exc)}{f' (line {line})' if line else ''}")]
    problems = [(where, f"unknown variable {name!r} (templates see {', '.join(templating.VARIABLES)})")
                for name in sorted(unknown)]
    for ref in sorted(refs - available):
        if ref in all_ids:
            problems.append((where, f"step {ref!r} has not run yet here; a template can only read earlier steps"))
        else:
            problems.append((where, f"no step {ref!r} in this zap"))
    return problems


def _input_problems(spec: Any, inputs: dict[str, Any], where: str) -> list[Problem]:
    """Required inputs present; literal (untemplated) inputs of the right type; no unknown input."""
    templated = {key for key, value in inputs.items() if templating.is_template(value)}
    literal = {key: value for key, value in inputs.items() if key not in templated}
    fields = spec.input_model.model_fields
    known = set(fields) | {f.alias for f in fields.values() if f.alias}
    problems = [(f"{where}.inputs.{key}", f"unknown input of {spec.ref}; known: {', '.join(sorted(fields))}")
                for key in inputs if key not in known]
    try:
        spec.input_model.model_validate(literal)
    except ValidationError as exc:
        for err in exc.errors():
            loc = err["loc"]
            if not loc or loc[0] in templated or loc[0] not in known:
                continue
            msg = "field required" if err["type"] == "missing" else err["msg"].removeprefix("Value error, ")
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
            problems.append((f"{where}.inputs{path}", msg[:1].lower() + msg[1:]))
    return problems


def _connection_problems(needs: str | None, given: str | None, ref: str, where: str) -> list[Problem]:
    if needs and not given:
        return [(f"{where}.connection", f"field required ({ref} needs a {needs!r} connection: the name of its "
                                        "credentials Block)")]
    if given and not needs:
        return [(f"{where}.connection", f"{ref} takes no connection; remove it")]
    return []


def _registry_problems(step: Any, where: str) -> list[Problem]:
    try:
        spec = get_action(step.action)
    except UnknownRef as exc:
        return [(f"{where}.action", str(exc))]
    return (_connection_problems(spec.connection, step.connection, spec.ref, where)
            + _input_problems(spec, step.inputs, where))


def _check_list(steps: list[Any], prefix: str, available: set[str], all_ids: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    for i, step in enumerate(steps):
        where = f"{prefix}[{i}]"
        if step.type == "paths" and i != len(steps) - 1:
            problems.append((where, "a paths step must be the last step of its list (put later steps inside "
                                    "each branch)"))
        for text_where, text in step_templates(step, where):
            problems += _template_problems(text, text_where, available, all_ids)
        if step.type == "action":
            problems += _registry_problems(step, where)
        if step.type == "paths":
            for b, branch in enumerate(step.branches):
                problems += _check_list(branch.steps, f"{where}.branches[{b}].steps", set(available), all_ids)
        available.add(step.id)
    return problems


def check_zap(zap: Zap) -> list[Problem]:
    """Every problem of a zap whose shape already validated."""
    problems: list[Problem] = []
    first: dict[str, str] = {}
    for where, step in walk_steps(zap.steps):
        if step.id in first:
            problems.append((f"{where}.id", f"duplicate step id {step.id!r} (first used at {first[step.id]})"))
        first.setdefault(step.id, where)
    try:
        trig = get_trigger(f"{zap.trigger.app}.{zap.trigger.event}")
        problems += _connection_problems(trig.connection, zap.trigger.connection, trig.ref, "trigger")
    except UnknownRef as exc:
        problems.append(("trigger.event", str(exc)))
    problems += _check_list(zap.steps, "steps", set(), set(first))
    return problems
