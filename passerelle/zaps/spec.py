"""Zap definitions (`zaps/*.yaml`): the pydantic models, and `load_zap` whose errors name file, step and field.

    zaps/okast-renewal.yaml: steps[2].inputs.to: field required

A zap is one trigger (`app`, `event`, `connection`) and steps, each with a unique `id` and a `type`: `action`,
`filter`, `paths`, `format` or `delay` (docs/zaps.md, "Zap definitions"). Beyond the shapes, `load_zap` checks
what pydantic cannot: duplicate step ids, templates (syntax, unknown variables, steps read before they run),
the trigger and every `app.action` against the registry, each action's connection and required inputs
(templated inputs for presence, literal ones for type too), and that a `paths` step ends its list.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from dateutil.relativedelta import relativedelta
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from passerelle.zaps import checks
from passerelle.zaps.conditions import Conditions
from passerelle.zaps.formatter import TRANSFORMS, FormatError, parse_date, parse_duration
from passerelle.zaps.templating import is_template

STEP_TYPES = ("action", "filter", "paths", "format", "delay")
ID_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
MAX_ZAP_BYTES = 1_000_000


class ZapError(ValueError):
    """A zap file that does not load; one message per problem, each `file: where: what`."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _StepBase(_Strict):
    id: str = Field(pattern=ID_PATTERN, description="unique in the zap; later templates read steps.<id>.<field>")
    title: str | None = None


class ActionStep(_StepBase):
    type: Literal["action"]
    action: str = Field(description="app.action from the registry, e.g. http.request")
    connection: str | None = Field(None, description="the credentials Block name, when the action needs one")
    inputs: dict[str, Any] = Field(default_factory=dict)


class FilterStep(_StepBase, Conditions):
    """Only continue when the conditions hold; otherwise the run ends as "filtered" (not failed)."""

    type: Literal["filter"]


class Branch(Conditions):
    name: str = Field(min_length=1)
    steps: list[Step] = Field(min_length=1)


class PathsStep(_StepBase):
    """Named branches; `all` runs every branch whose conditions hold (Zapier's paths), `first` the first one."""

    type: Literal["paths"]
    mode: Literal["all", "first"] = "all"
    branches: list[Branch] = Field(min_length=1)

    @field_validator("branches")
    @classmethod
    def _unique_names(cls, branches: list[Branch]) -> list[Branch]:
        names = [b.name for b in branches]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"branch names must be unique; repeated: {', '.join(dupes)}")
        return branches


_REQUIRED_OPTIONS = {("text", "split"): "separator", ("text", "replace"): "find", ("text", "truncate"): "max_length",
                     ("text", "default"): "value", ("number", "currency"): "currency", ("date", "add"): "duration",
                     ("date", "subtract"): "duration", ("date", "format"): "to_format",
                     ("date", "to_timezone"): "to_timezone"}


class FormatStep(_StepBase):
    """`steps.<id>.output` is the transformed `input` (formatter.py lists the transforms and options)."""

    type: Literal["format"]
    kind: Literal["text", "number", "date"]
    transform: str
    input: Any = Field(description="a template or a literal value")
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_transform(self) -> FormatStep:
        if self.transform not in TRANSFORMS[self.kind]:
            raise ValueError(f"transform: unknown {self.kind} transform {self.transform!r}; one of "
                             f"{', '.join(TRANSFORMS[self.kind])}")
        needed = _REQUIRED_OPTIONS.get((self.kind, self.transform))
        if needed and needed not in self.options:
            raise ValueError(f"options.{needed}: field required (the {self.transform} transform needs it)")
        return self


class DelayStep(_StepBase):
    """Wait `for` a duration ("364 days", "2h30m", "P364D") or `until` a date (template or literal)."""

    type: Literal["delay"]
    for_: str | None = Field(None, alias="for")
    until: Any = None

    @model_validator(mode="after")
    def _one_of(self) -> DelayStep:
        if (self.for_ is None) == (self.until is None):
            raise ValueError("give exactly one of 'for' (a duration such as '364 days') or 'until' (a date)")
        try:
            if self.for_ is not None and not is_template(self.for_):
                parse_duration(self.for_)
            if self.until is not None and not is_template(self.until):
                parse_date(self.until)
        except FormatError as exc:
            raise ValueError(f"{'for' if self.for_ is not None else 'until'}: {exc}") from None
        return self


Step = Annotated[ActionStep | FilterStep | PathsStep | FormatStep | DelayStep, Field(discriminator="type")]
Branch.model_rebuild()


class Trigger(_Strict):
    app: str
    event: str
    connection: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


def _duration(text: str) -> str:
    try:
        parse_duration(text)
    except FormatError as exc:
        raise ValueError(str(exc)) from None
    return text


Wait = Annotated[str, AfterValidator(_duration)]
VAR_ENV_PREFIX = "PASSERELLE_ZAP_VAR_"
ZAPIER_REPLAY = ("5m", "30m", "1h", "3h", "6h")  # Zapier's autoreplay: 5 tries over about 10 hours


class AutoReplay(_Strict):
    """Replay a run that failed on an error that may pass (connection, 429, 5xx) by itself, from the failed
    step, after each wait of `after` in turn; then it stays failed for a person (`passerelle runs replay`).
    ``auto_replay: false`` in a zap switches it off."""

    enabled: bool = True
    after: list[Wait] = Field(default_factory=lambda: list(ZAPIER_REPLAY), max_length=20,
                              description="the waits before each replay, e.g. [5m, 30m, 1h, 3h, 6h]")

    def wait_before(self, attempt: int) -> dt.timedelta | relativedelta | None:
        """The wait before replaying after failed attempt `attempt` (1 = the first run); None: no more."""
        if not self.enabled or attempt > len(self.after):
            return None
        return parse_duration(self.after[attempt - 1])


class Zap(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    name: str = Field(min_length=1)
    enabled: bool = True
    trigger: Trigger
    steps: list[Step] = Field(min_length=1)
    auto_replay: AutoReplay = Field(default_factory=AutoReplay)
    vars: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")], str | int | float | bool | None] = Field(
        default_factory=dict, description="settings templates read as vars.<name> (a base URL, a list id), each "
        "overridable by the environment variable PASSERELLE_ZAP_VAR_<NAME>; not for secrets (use a connection)")

    def settings(self, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """``vars`` as templates see them: each value, or ``$PASSERELLE_ZAP_VAR_<NAME>`` when set."""
        env = os.environ if environ is None else environ
        return {name: env.get(f"{VAR_ENV_PREFIX}{name.upper()}", value) for name, value in self.vars.items()}

    @field_validator("auto_replay", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value


def _where(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif i > 0 and isinstance(loc[i - 1], int) and item in STEP_TYPES and loc[i - 2] in ("steps",):
            continue  # the discriminator's tag pydantic inserts after a step's index
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _pydantic_messages(exc: ValidationError) -> list[tuple[str, str]]:
    found = []
    for err in exc.errors():
        loc, kind, msg = tuple(err["loc"]), err["type"], err["msg"]
        if kind == "missing":
            msg = "field required"
        elif kind == "extra_forbidden":
            msg = "unknown field; remove it or check its spelling"
        elif kind == "union_tag_invalid":
            loc, msg = (*loc, "type"), (f"unknown step type {err['ctx']['tag']!r} (one of "
                                        f"{', '.join(STEP_TYPES)})")
        elif kind == "union_tag_not_found":
            loc, msg = (*loc, "type"), f"field required (one of {', '.join(STEP_TYPES)})"
        else:
            msg = msg.removeprefix("Value error, ")
            head, sep, rest = msg.partition(": ")
            if sep and head.replace(".", "").replace("_", "").isalnum() and " " not in head:
                loc, msg = (*loc, *head.split(".")), rest
            msg = msg[:1].lower() + msg[1:]
        found.append((_where(loc), msg))
    return found


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def parse_zap(data: Any, source: str) -> Zap:
    """Validate a zap's data (as read from YAML); ZapError naming `source`, the step and the field."""
    if not isinstance(data, dict):
        raise ZapError([f"{source}: a zap is a mapping with id, name, trigger and steps"])
    try:
        zap = Zap.model_validate(data)
    except ValidationError as exc:
        raise ZapError([f"{source}: {where}: {msg}" for where, msg in _pydantic_messages(exc)]) from None
    problems = checks.check_zap(zap)
    if problems:
        raise ZapError([f"{source}: {where}: {msg}" for where, msg in problems])
    return zap


def load_zap(path: Path | str) -> Zap:
    """Read and validate one zap file; ZapError whose messages are `zaps/x.yaml: steps[2].inputs.to: ...`."""
    path = Path(path)
    source = _display(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ZapError([f"{source}: cannot read ({exc.strerror})"]) from None
    if len(raw) > MAX_ZAP_BYTES:
        raise ZapError([f"{source}: file is over {MAX_ZAP_BYTES} bytes"])
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        raise ZapError([f"{source}: {line}YAML syntax: {getattr(exc, 'problem', None) or exc}"]) from None
    return parse_zap(data, source)


def zap_files(folder: Path | str) -> list[Path]:
    folder = Path(folder)
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def scan_zaps(folder: Path | str) -> tuple[list[Zap], list[str]]:
    """The zaps of a folder that load, and the problems of the others: a file that does not load, or that repeats
    an id (the first file with an id keeps it; the repeat is left out)."""
    zaps, messages, seen = [], [], {}
    for path in zap_files(folder):
        try:
            zap = load_zap(path)
        except ZapError as exc:
            messages.extend(exc.messages)
            continue
        if zap.id in seen:
            messages.append(f"{_display(path)}: id: zap id {zap.id!r} is already used by {seen[zap.id]}")
            continue
        seen[zap.id] = _display(path)
        zaps.append(zap)
    return zaps, messages


def load_zaps(folder: Path | str) -> list[Zap]:
    """Every zap of a folder; ZapError with all the problems of all the files, and repeated zap ids."""
    zaps, messages = scan_zaps(folder)
    if messages:
        raise ZapError(messages)
    return zaps
