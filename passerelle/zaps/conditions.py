"""Filter and paths conditions: `field` (a template) `operator` `value`, grouped by `all` or `any`.

Operators: equals, not_equals, contains, starts_with, ends_with (text; case-sensitive unless
`ignore_case: true`), exists, not_exists, greater_than, less_than (numbers, or dates when both sides read as
dates), in (value is a list), matches (a regular expression, searched with a time limit), is_true, is_false.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

import regex
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from passerelle.zaps import templating
from passerelle.zaps.formatter import FormatError, parse_date, to_number

Operator = Literal["equals", "not_equals", "contains", "starts_with", "ends_with", "exists", "not_exists",
                   "greater_than", "less_than", "in", "matches", "is_true", "is_false"]
UNARY = {"exists", "not_exists", "is_true", "is_false"}
MAX_PATTERN = 500
MATCH_TIMEOUT = 0.1  # seconds; a catastrophic pattern is refused, not left spinning
TRUE = {"true", "yes", "y", "1", "on", "oui", "vrai"}
FALSE = {"false", "no", "n", "0", "off", "", "non", "faux"}


class ConditionError(ValueError):
    """A condition that cannot be evaluated on these values (e.g. greater_than on text)."""


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: Any = Field(description="a template, e.g. '{{ trigger.sticket_id }}'")
    operator: Operator
    value: Any = None
    ignore_case: bool = False

    @model_validator(mode="after")
    def _value_present(self) -> Condition:
        if self.operator not in UNARY and "value" not in self.model_fields_set:
            raise ValueError(f"value: field required (operator {self.operator} compares with a value)")
        if self.operator in UNARY and "value" in self.model_fields_set:
            raise ValueError(f"value: not used by operator {self.operator}; remove it")
        if self.operator == "matches" and isinstance(self.value, str) and not templating.is_template(self.value):
            _compile(self.value, self.ignore_case)
        return self


class Conditions(BaseModel):
    """Exactly one of `all` (every condition holds) or `any` (at least one holds)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    all_: list[Condition] | None = Field(default=None, alias="all")
    any_: list[Condition] | None = Field(default=None, alias="any")

    @model_validator(mode="after")
    def _one_group(self) -> Conditions:
        if (self.all_ is None) == (self.any_ is None):
            raise ValueError("give exactly one of 'all' or 'any' (a list of conditions)")
        return self

    @field_validator("all_", "any_")
    @classmethod
    def _not_empty(cls, value: list[Condition] | None) -> list[Condition] | None:
        if value is not None and not value:
            raise ValueError("list must hold at least one condition")
        return value

    @property
    def mode(self) -> str:
        return "all" if self.all_ is not None else "any"

    @property
    def items(self) -> list[Condition]:
        return self.all_ if self.all_ is not None else self.any_ or []


def _compile(pattern: str, ignore_case: bool) -> Any:
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"pattern is {len(pattern)} characters, over the {MAX_PATTERN} limit")
    try:
        return regex.compile(pattern, regex.IGNORECASE if ignore_case else 0)
    except regex.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, dict)) and len(value) == 0)


def _truthy(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    text = str(value).strip().lower() if value is not None else ""
    return True if text in TRUE else False if text in FALSE else None


def _ordered(left: Any, right: Any, operator: str) -> tuple[Decimal | dt.datetime, Decimal | dt.datetime]:
    try:
        return to_number(left), to_number(right)
    except FormatError:
        pass
    try:
        return parse_date(left), parse_date(right)
    except FormatError:
        raise ConditionError(f"{operator} compares numbers or dates; got {left!r} and {right!r}") from None


def _equal(left: Any, right: Any, ignore_case: bool) -> bool:
    if isinstance(left, (int, float)) or isinstance(right, (int, float)):
        try:
            return to_number(left) == to_number(right)
        except FormatError:
            return False
    if isinstance(left, (list, dict)) or isinstance(right, (list, dict)):
        return left == right
    a, b = ("" if left is None else str(left)), ("" if right is None else str(right))
    return a.casefold() == b.casefold() if ignore_case else a == b


def check(operator: str, left: Any, right: Any = None, ignore_case: bool = False) -> bool:  # noqa: C901
    """One condition on rendered values."""
    if operator in ("exists", "not_exists"):
        return _empty(left) == (operator == "not_exists")
    if operator in ("is_true", "is_false"):
        return _truthy(left) is (operator == "is_true")
    if operator in ("equals", "not_equals"):
        return _equal(left, right, ignore_case) == (operator == "equals")
    if operator in ("greater_than", "less_than"):
        if _empty(left):
            return False
        a, b = _ordered(left, right, operator)
        return a > b if operator == "greater_than" else a < b
    if operator == "in":
        if not isinstance(right, list):
            raise ConditionError(f"operator in needs a list as value, got {right!r}")
        return any(_equal(left, item, ignore_case) for item in right)
    if operator == "contains" and isinstance(left, list):
        return any(_equal(item, right, ignore_case) for item in left)
    a, b = ("" if left is None else str(left)), ("" if right is None else str(right))
    if operator == "matches":
        try:
            return _compile(b, ignore_case).search(a[: templating.MAX_SIZE], timeout=MATCH_TIMEOUT) is not None
        except TimeoutError:
            raise ConditionError(f"pattern {b!r} took over {MATCH_TIMEOUT} s; simplify it") from None
        except ValueError as exc:
            raise ConditionError(str(exc)) from None
    if ignore_case:
        a, b = a.casefold(), b.casefold()
    if operator == "contains":
        return b in a
    if operator == "starts_with":
        return a.startswith(b)
    return a.endswith(b)


def evaluate(conditions: Conditions, context: dict[str, Any]) -> tuple[bool, list[dict[str, Any]]]:
    """(passed, one record per condition with its rendered field and value) for `zaps test` and run records."""
    records = []
    for cond in conditions.items:
        left = templating.render(cond.field, context)
        right = templating.render(cond.value, context)
        ok = check(cond.operator, left, right, cond.ignore_case)
        records.append({"field": left, "operator": cond.operator, "value": right, "passed": ok})
        if conditions.mode == "all" and not ok:
            return False, records
        if conditions.mode == "any" and ok:
            return True, records
    return conditions.mode == "all", records
