"""The apps registry: every trigger and action a zap may name, as `app.name` (docs/zaps.md, "Apps and the
registry").

An action is one decorated async function: its first parameter's annotation is its input model (pydantic),
its return annotation its output model; the decorator builds the :class:`ActionSpec` from them. A trigger is
declared with its kind, sample payload and dedupe key. `load_apps()` imports every module that registers
(the generic ones, tasks/actions/*, connectors/*/zap.py), once.

Example:
    class AddInput(BaseModel):
        email: str

    class AddOutput(BaseModel):
        id: int

    @action("cyberimpact", "add_member", title="Add a member", idempotent=True, connection="cyberimpact")
    async def add_member(inputs: AddInput, connection=None) -> AddOutput: ...

    get_action("cyberimpact.add_member").input_model   # AddInput
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
import types
import typing
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

TriggerKind = Literal["webhook", "catch_hook", "polling", "schedule"]
KINDS: tuple[str, ...] = typing.get_args(TriggerKind)
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class RegistryError(ValueError):
    """A bad or duplicate registration (a developer's mistake, raised at import)."""


class UnknownRef(KeyError):
    """A zap names an `app.name` nobody registered; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class ActionSpec:
    app: str
    name: str
    title: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    idempotent: bool  # False: never re-sent after an ambiguous failure (effect ledger, DESIGN.md)
    connection: str | None  # the app whose credentials Block it needs; None if none
    run: Callable[..., Awaitable[BaseModel]]  # async run(inputs: input_model, connection: Block | None)
    # When idempotence depends on the inputs (http.request: on the method and an idempotency key header).
    idempotent_when: Callable[[Any], bool] | None = None

    @property
    def ref(self) -> str:
        return f"{self.app}.{self.name}"

    def is_idempotent(self, inputs: BaseModel) -> bool:
        """Whether this call, with these inputs, may be re-sent after an ambiguous failure."""
        return self.idempotent_when(inputs) if self.idempotent_when else self.idempotent


@dataclass(frozen=True)
class TriggerSpec:
    app: str
    name: str
    title: str
    description: str
    kind: TriggerKind
    sample: dict[str, Any]  # the documented sample payload
    dedupe_key: str | None  # payload field the platform dedupes on
    connection: str | None
    # Where its events arrive: the gateway source (inbox `source`) and which of that source's events are this
    # trigger's (inbox `event_type`; None: every event). The inbox `link` is the zap's trigger.connection for a
    # webhook (the connection the vendor calls, e.g. /hooks/okast/<connection>), the hook for a catch hook
    # (trigger.options.hook, default the zap's id).
    source: str | None = None
    event_type: str | None = None
    # Turns the received payload into the trigger's data before the steps run (Oxiva: `?id=11&sticket_id=810`
    # → the ticket read from the API): async hydrate(payload, connection Block | None, options) → dict. A read:
    # it runs again when a run is replayed.
    hydrate: Callable[[dict[str, Any], Any, dict[str, Any]], Awaitable[dict[str, Any]]] | None = None

    @property
    def ref(self) -> str:
        return f"{self.app}.{self.name}"


_ACTIONS: dict[str, ActionSpec] = {}
_TRIGGERS: dict[str, TriggerSpec] = {}
_LOADED = False


def _check_names(app: str, name: str) -> str:
    for label, value in (("app", app), ("name", name)):
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            raise RegistryError(f"{label} {value!r}: use lower-case letters, digits and _ (e.g. 'http', "
                                "'add_member')")
    return f"{app}.{name}"


def _origin(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"


def _first_paragraph(text: str | None) -> str:
    return (text or "").strip().split("\n\n")[0].replace("\n", " ").strip()


def _models_of(fn: Callable[..., Any], ref: str) -> tuple[type[BaseModel], type[BaseModel]]:
    if not inspect.iscoroutinefunction(fn):
        raise RegistryError(f"action {ref}: {_origin(fn)} must be an `async def`")
    params = list(inspect.signature(fn).parameters.values())
    try:
        hints = typing.get_type_hints(fn)
    except NameError as exc:
        raise RegistryError(f"action {ref}: an annotation of {_origin(fn)} cannot be resolved ({exc}); import "
                            "the models at module level") from None
    found = {"input": hints.get(params[0].name) if params else None, "output": hints.get("return")}
    where = {"input": "its first parameter", "output": "its return"}
    for role, model in found.items():
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise RegistryError(f"action {ref}: annotate {where[role]} with the {role} model (a pydantic "
                                f"BaseModel subclass); {_origin(fn)} has {model!r}")
    if len(params) > 2 or any(p.default is inspect.Parameter.empty for p in params[1:]):
        raise RegistryError(f"action {ref}: {_origin(fn)} must take (inputs, connection=None)")
    return found["input"], found["output"]


def action(app: str, name: str, *, title: str, idempotent: bool, connection: str | None = None,
           description: str | None = None, idempotent_when: Callable[[Any], bool] | None = None):
    """Register the decorated `async def run(inputs: InputModel, connection=None) -> OutputModel` as `app.name`.

    Args:
        idempotent: Whether a call may be re-sent after an ambiguous failure (a timeout after sending).
        connection: The app whose credentials Block the action needs (None: it needs none).
        description: Default: the function's docstring, first paragraph.
        idempotent_when: When it depends on the inputs: a function of the inputs (``idempotent`` is then what
            the listing shows as the default).
    """
    ref = _check_names(app, name)

    def decorate(fn: Callable[..., Awaitable[BaseModel]]):
        input_model, output_model = _models_of(fn, ref)
        spec = ActionSpec(app=app, name=name, title=title, description=description or _first_paragraph(fn.__doc__),
                          input_model=input_model, output_model=output_model, idempotent=bool(idempotent),
                          connection=connection, run=fn, idempotent_when=idempotent_when)
        _add(_ACTIONS, spec, "action", _origin(fn))
        fn.zap_action = spec  # type: ignore[attr-defined]
        return fn

    return decorate


def trigger(app: str, name: str, *, title: str, kind: TriggerKind, sample: dict[str, Any],
            dedupe_key: str | None = None, connection: str | None = None, description: str | None = None,
            source: str | None = None, event_type: str | None = None,
            hydrate: Callable[[dict[str, Any], Any, dict[str, Any]], Awaitable[dict[str, Any]]] | None = None) -> None:
    """Declare the trigger `app.name` (kind: webhook, catch_hook, polling or schedule).

    Args:
        source: The gateway source its events arrive by (webhook: the app's own source, e.g. ``okast``; catch
            hook: ``catch``). The zap drain runs the zaps of a trigger that has one.
        event_type: Which of the source's inbox events are this trigger's (None: all of them).
        hydrate: ``async hydrate(payload, connection, options) -> dict``: the trigger's data from what was
            received (a read, e.g. fetching the record a catch hook names).
    """
    ref = _check_names(app, name)
    if kind not in KINDS:
        raise RegistryError(f"trigger {ref}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if not isinstance(sample, dict):
        raise RegistryError(f"trigger {ref}: sample must be a dict (one documented payload)")
    if dedupe_key is not None and dedupe_key not in sample:
        raise RegistryError(f"trigger {ref}: dedupe_key {dedupe_key!r} is not a field of its sample; add it to "
                            "the sample or fix the key")
    if hydrate is not None and not inspect.iscoroutinefunction(hydrate):
        raise RegistryError(f"trigger {ref}: hydrate must be an `async def` (payload, connection, options)")
    if kind == "catch_hook" and source not in (None, "catch"):
        raise RegistryError(f"trigger {ref}: a catch hook's events arrive by the catch source, not {source!r}")
    spec = TriggerSpec(app=app, name=name, title=title, description=description or title, kind=kind,
                       sample=dict(sample), dedupe_key=dedupe_key, connection=connection,
                       source="catch" if kind == "catch_hook" else source, event_type=event_type, hydrate=hydrate)
    _add(_TRIGGERS, spec, "trigger", _caller_module())


def _caller_module() -> str:
    frame = inspect.stack()[2]
    return frame.frame.f_globals.get("__name__", "?")


def _add(table: dict[str, Any], spec: ActionSpec | TriggerSpec, what: str, origin: str) -> None:
    known = table.get(spec.ref)
    if known is not None:
        known_origin = _origin(known.run) if isinstance(known, ActionSpec) else None
        if known == spec or (known_origin is not None and known_origin == origin):  # the same module, re-imported
            table[spec.ref] = spec
            return
        raise RegistryError(f"{what} {spec.ref} is already registered"
                            f"{f' (by {known_origin})' if known_origin else ''}; give this one another name")
    table[spec.ref] = spec


def _unknown(what: str, ref: str, table: dict[str, Any]) -> UnknownRef:
    known = ", ".join(sorted(table)) or "none"
    hint = "write it as app.name, e.g. http.request" if "." not in str(ref) else "check the spelling"
    return UnknownRef(f"unknown {what} {ref!r} ({hint}); known {what}s: {known}")


def get_action(ref: str) -> ActionSpec:
    """The action `app.name`, e.g. "http.request"; UnknownRef (a KeyError) listing the known ones."""
    load_apps()
    try:
        return _ACTIONS[ref]
    except (KeyError, TypeError):
        raise _unknown("action", ref, _ACTIONS) from None


def get_trigger(ref: str) -> TriggerSpec:
    load_apps()
    try:
        return _TRIGGERS[ref]
    except (KeyError, TypeError):
        raise _unknown("trigger", ref, _TRIGGERS) from None


def actions() -> list[ActionSpec]:
    load_apps()
    return [_ACTIONS[k] for k in sorted(_ACTIONS)]


def triggers() -> list[TriggerSpec]:
    load_apps()
    return [_TRIGGERS[k] for k in sorted(_TRIGGERS)]


def apps() -> dict[str, tuple[list[TriggerSpec], list[ActionSpec]]]:
    """app → (its triggers, its actions), sorted by app."""
    found: dict[str, tuple[list[TriggerSpec], list[ActionSpec]]] = {}
    for spec in triggers():
        found.setdefault(spec.app, ([], []))[0].append(spec)
    for spec in actions():
        found.setdefault(spec.app, ([], []))[1].append(spec)
    return dict(sorted(found.items()))


# -- generic triggers (platform) ----------------------------------------------------------------------
def _register_platform_triggers() -> None:
    trigger("catch", "hook", title="Catch hook", kind="catch_hook",
            sample={"method": "GET", "query": {"id": "11", "sticket_id": "810"}},
            description="Any GET or POST to /hooks/catch/{link}/{token}/ (query string, form or JSON body), "
            "stored as {method, query, form | json}; the same call sent twice is stored once (SHA-256 of the "
            "payload).")
    trigger("schedule", "cron", title="On a cron schedule", kind="schedule",
            sample={"scheduled_at": "2026-11-27T09:00:00+00:00", "cron": "0 9 * * 1-5", "timezone": "UTC"},
            source="schedule",
            description="Runs at each time of a cron expression (options.cron) in a time zone (options.timezone, "
            "default UTC), checked each minute by the zaps-resume deployment.")
    trigger("schedule", "interval", title="Every N seconds", kind="schedule",
            sample={"scheduled_at": "2026-11-27T09:15:00+00:00", "interval_seconds": 900},
            source="schedule",
            description="Runs every options.interval_seconds (≥ 60), checked each minute by the zaps-resume "
            "deployment.")


_APP_MODULES = ("passerelle.zaps.polling",)  # modules outside the scanned packages that register


def load_apps() -> None:
    """Import every module that registers (idempotent): the platform triggers, tasks/actions/*, and each
    connector's zap.py."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True  # set first: the modules imported below call action()/trigger(), which call load_apps
    if "catch.hook" not in _TRIGGERS:
        _register_platform_triggers()
    names = list(_APP_MODULES) + _package_modules("tasks.actions")
    names += [f"{name}.zap" for name in _package_modules("connectors", packages_only=True)
              if importlib.util.find_spec(f"{name}.zap") is not None]
    try:
        for name in names:
            importlib.import_module(name)
    except BaseException:
        _LOADED = False  # a broken module: say so again next time, do not pretend the registry is complete
        raise


@contextmanager
def isolated() -> Iterator[None]:
    """Register in a `with` block without leaking into the process's registry (tests: stand-in apps)."""
    load_apps()
    saved = dict(_ACTIONS), dict(_TRIGGERS)
    try:
        yield
    finally:
        _ACTIONS.clear()
        _ACTIONS.update(saved[0])
        _TRIGGERS.clear()
        _TRIGGERS.update(saved[1])


def _package_modules(package: str, packages_only: bool = False) -> list[str]:
    try:
        module = importlib.import_module(package)
    except ModuleNotFoundError:
        return []
    found = []
    for info in pkgutil.iter_modules(module.__path__, prefix=f"{package}."):
        leaf = info.name.rsplit(".", 1)[1]
        if leaf.startswith("_") or (packages_only and not info.ispkg):
            continue
        found.append(info.name)
    return sorted(found)


def type_label(annotation: Any) -> str:
    """A short, readable type for listings: `str`, `dict[str, str]`, `Literal['GET', 'POST']`, `int | None`."""
    if isinstance(annotation, type) and not isinstance(annotation, types.GenericAlias):
        return annotation.__name__
    return re.sub(r"\b(typing|collections\.abc|pydantic\.types)\.", "", str(annotation)).replace("NoneType", "None")
