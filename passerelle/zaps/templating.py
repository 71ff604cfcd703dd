"""Zap templates: Jinja2's `SandboxedEnvironment`, tightened for text that anyone editing a zap can write.

`render(value, context)` renders a step's inputs (strings, lists and dicts, recursively) and returns plain data.
A string that is exactly one expression (`"{{ trigger.amount }}"`) keeps its type (a number stays a number);
anything else renders to a string.

Refused, with a `TemplateRefused` naming the reason:
- attributes and items starting with `_` (`''.__class__`, `cycler.__init__`, `self._TemplateReference__context`),
  and everything Jinja's sandbox refuses (`'{0.__class__}'.format(x)`);
- macros, call blocks, include/import/extends (zap templates are expressions, `if` and `for`);
- more than `MAX_ITERATIONS` loop iterations per render (nested loops count together), `range()` over
  `MAX_RANGE` items, a render longer than `TIME_LIMIT` seconds, any string or list over `MAX_SIZE`
  (checked before `*`, `**`, `+`, `%`, `~` and `replace` build it), padding string methods.
A missing variable raises `TemplateUndefined` naming its path (`trigger.emali`).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from jinja2 import StrictUndefined, Undefined, nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

MAX_ITERATIONS = 10_000
MAX_RANGE = 1_000
MAX_SIZE = 100_000  # characters of output, items of a list, length of any string built
MAX_SOURCE = 10_000  # characters of one template
MAX_POWER = 1_000  # largest exponent of `**`
TIME_LIMIT = 1.0  # seconds per render

VARIABLES = ("trigger", "steps", "zap", "vars")
_FORBIDDEN_NODES = (nodes.Macro, nodes.CallBlock, nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends,
                    nodes.Block)
_PADDING = {"center", "ljust", "rjust", "zfill", "expandtabs", "format", "format_map"}


class TemplateRefused(ValueError):
    """A template tried something zap templates do not allow, or went over a limit."""


class TemplateUndefined(ValueError):
    """A template used a variable or field that is not there."""


class _Budget:
    def __init__(self) -> None:
        self.deadline = time.monotonic() + TIME_LIMIT
        self.iterations = 0

    def tick(self) -> None:
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS:
            raise TemplateRefused(f"loops ran over {MAX_ITERATIONS} iterations")
        if self.iterations % 64 == 0:
            self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateRefused(f"rendering took longer than {TIME_LIMIT:g} s")


_budget: ContextVar[_Budget | None] = ContextVar("zap_template_budget", default=None)


def _tick() -> None:
    budget = _budget.get()
    if budget is not None:
        budget.tick()


def _check_size(size: int, what: str) -> None:
    if size > MAX_SIZE:
        raise TemplateRefused(f"{what} would be {size} long, over the {MAX_SIZE} limit")


def _capped_iter(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        _tick()
        yield item


class PathDict(dict):
    """A dict that knows where it sits in the context (`trigger.customer`), for undefined-variable messages."""

    __slots__ = ("zap_path",)


class PathList(list):
    __slots__ = ("zap_path",)


def _with_paths(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        out = PathDict((k, _with_paths(v, f"{path}.{k}")) for k, v in value.items())
        out.zap_path = path
        return out
    if isinstance(value, list):
        out_list = PathList(_with_paths(v, f"{path}[{i}]") for i, v in enumerate(value))
        out_list.zap_path = path
        return out_list
    return value


class _Undefined(StrictUndefined):
    __slots__ = ()

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any):  # noqa: ANN202 - jinja's hook
        obj, name = self._undefined_obj, self._undefined_name
        if isinstance(self._undefined_hint, str) and "unsafe" in self._undefined_hint:
            raise TemplateRefused(self._undefined_hint)
        parent = getattr(obj, "zap_path", None)
        if name is None:
            raise TemplateUndefined(self._undefined_hint or "undefined value")
        if parent is not None:
            where = f"[{name}]" if isinstance(name, int) else f".{name}"
            raise TemplateUndefined(f"undefined variable: {parent}{where}")
        if obj is not None and obj is not _missing_marker():
            raise TemplateUndefined(f"undefined variable: {name} (on a {type(obj).__name__})")
        raise TemplateUndefined(f"undefined variable: {name} (templates see {', '.join(VARIABLES)})")

    __str__ = __iter__ = __len__ = __bool__ = __eq__ = __ne__ = __hash__ = _fail_with_undefined_error
    __add__ = __radd__ = __mul__ = __rmul__ = __getitem__ = __lt__ = __le__ = __gt__ = __ge__ = \
        __int__ = __float__ = __complex__ = __pow__ = __rpow__ = __contains__ = _fail_with_undefined_error


def _missing_marker() -> Any:
    from jinja2.utils import missing

    return missing


class _Generator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Any) -> None:  # `a ~ b`: sized before it is built
        self.write("environment.zap_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def _safe_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise TemplateRefused(f"range() of {len(rng)} items is over the {MAX_RANGE} limit")
    return rng


def _safe_replace(value: Any, old: str, new: str, count: int | None = None) -> str:
    text, old, new = str(value), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    _check_size(len(text) + hits * (len(new) - len(old)), "replace() result")
    return text.replace(old, new, -1 if count is None else count)


class ZapEnvironment(SandboxedEnvironment):
    code_generator_class = _Generator
    intercepted_binops = frozenset(["*", "**", "+", "%"])

    def __init__(self) -> None:
        super().__init__(undefined=_Undefined, autoescape=False, keep_trailing_newline=True)
        for name in ("lipsum", "cycler", "joiner", "dict"):
            self.globals.pop(name, None)
        self.globals["range"] = _safe_range
        for name in ("center", "indent", "wordwrap", "format", "pprint", "xmlattr", "urlize"):
            self.filters.pop(name, None)
        self.filters["replace"] = _safe_replace
        self.filters["zap_capped"] = _capped_iter

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_") or attr == "zap_path":
            return False
        return super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict) and attribute in obj:  # a payload's `items` or `keys` field, not dict's method
            return self.getitem(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(argument, str) and argument.startswith("_"):
            return self.unsafe_undefined(obj, argument)
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None

        def refuse(*args: Any, **kwargs: Any) -> str:  # a width of 10**9 is a gigabyte: no str.format at all
            raise TemplateRefused(f"str.{value.__name__}() is not allowed in templates; use a format step")

        return refuse

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Undefined):  # `cycler.__init__` with no cycler: say what is missing
            obj._fail_with_undefined_error()
        raise TemplateRefused(f"access to attribute {attribute!r} of a {type(obj).__name__} is not allowed")

    def zap_concat(self, parts: tuple[Any, ...]) -> str:
        texts = [str(p) for p in parts]
        _check_size(sum(map(len, texts)), "joined text")
        _tick()
        return "".join(texts)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    _check_size(len(seq) * max(times, 0), "repeated value")
        elif operator == "**":
            if isinstance(right, (int, float)) and abs(right) > MAX_POWER:
                raise TemplateRefused(f"exponent {right} is over the {MAX_POWER} limit")
        elif operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            _check_size(len(left) + len(right), "joined value")
        elif operator == "%" and isinstance(left, str):
            raise TemplateRefused("'%' string formatting is not allowed; use a format step")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - jinja's API
        _tick()
        name = getattr(__obj, "__name__", "")
        if isinstance(getattr(__obj, "__self__", None), str):
            if name in _PADDING:
                raise TemplateRefused(f"str.{name}() is not allowed in templates; use a format step")
            if name == "replace":
                return _safe_replace(__obj.__self__, *args, **kwargs)
            if name == "join" and len(args) == 1 and not kwargs:
                items = [str(x) for x in _capped_iter(args[0])]
                _check_size(sum(map(len, items)) + len(__obj.__self__) * len(items), "joined text")
                return __obj.__self__.join(items)
        return SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        if len(source) > MAX_SOURCE:
            raise TemplateRefused(f"template is {len(source)} characters long, over the {MAX_SOURCE} limit")
        tree = super()._parse(source, name, filename)
        for node in tree.find_all(_FORBIDDEN_NODES):
            raise TemplateRefused(f"{type(node).__name__.lower()} is not allowed in zap templates")
        for loop in tree.find_all(nodes.For):  # every loop iteration counts against the render's budget
            loop.iter = nodes.Filter(loop.iter, "zap_capped", [], [], None, None, lineno=loop.lineno)
        return tree


ENV = ZapEnvironment()
_SINGLE = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)


def is_template(value: Any) -> bool:
    """True when `value` (or a string inside it) holds Jinja syntax."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(is_template(v) for v in value.values())
    if isinstance(value, list):
        return any(is_template(v) for v in value)
    return False


def single_expression(text: str) -> str | None:
    """The expression of a template that is exactly `{{ expr }}`, else None."""
    match = _SINGLE.match(text)
    if not match or "{{" in match["expr"] or "}}" in match["expr"] or "{%" in text:
        return None
    return match["expr"]


def parse(text: str) -> nodes.Template:
    """The template's syntax tree (TemplateSyntaxError / TemplateRefused when it is not a valid zap template)."""
    expr = single_expression(text)
    return ENV.parse(text if expr is None else "{{" + expr + "}}")


def _plain(value: Any) -> Any:
    """A single expression's result as plain data (str, number, bool, None, list, dict)."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, range)) or type(value).__name__ == "generator":
        items = [_plain(v) for v in _capped_iter(value)]
        _check_size(len(items), "list")
        return items
    raise TemplateRefused(f"the expression gave a {type(value).__name__}, not data (text, number, list, dict)")


@functools.lru_cache(maxsize=4096)
def _expression(expr: str) -> Any:
    """A compiled single expression, once per text: compiling costs ~1 ms, a drain renders the same few
    templates for every event."""
    return ENV.compile_expression(expr, undefined_to_none=False)


@functools.lru_cache(maxsize=4096)
def _template(text: str) -> Any:
    return ENV.from_string(text)


@functools.lru_cache(maxsize=4096)
def _single(text: str) -> str | None:
    expr = single_expression(text)
    return None if expr is None else expr.strip()


def _wrapped(context: dict[str, Any]) -> dict[str, Any]:
    return {k: _with_paths(v, k) for k, v in context.items()}


def render_text(text: str, context: dict[str, Any], *, wrapped: bool = False) -> Any:
    """Render one template string: a single expression keeps its type, anything else is text. `wrapped`: the
    context was already passed through :func:`_wrapped` (render does it once for all the strings of a value)."""
    if not is_template(text):
        return text
    token = _budget.set(_Budget())
    try:
        ctx = context if wrapped else _wrapped(context)
        expr = _single(text)
        if expr is not None:
            result = _plain(_expression(expr)(**ctx))
            _budget.get().check_time()
            return result
        out, size = [], 0
        for chunk in _template(text).generate(**ctx):
            size += len(chunk)
            _check_size(size, "rendered text")
            _budget.get().check_time()
            out.append(chunk)
        return "".join(out)
    except SecurityError as exc:
        raise TemplateRefused(str(exc)) from None
    except UndefinedError as exc:
        raise TemplateUndefined(str(exc)) from None
    except TemplateSyntaxError as exc:
        raise TemplateRefused(f"template syntax: {exc.message} (line {exc.lineno})") from None
    except TemplateError as exc:
        raise TemplateRefused(str(exc)) from None
    except (OverflowError, RecursionError, MemoryError) as exc:
        raise TemplateRefused(f"template too expensive: {type(exc).__name__}") from None
    finally:
        _budget.reset(token)


def render(value: Any, context: dict[str, Any]) -> Any:
    """Render a step's inputs: every string inside `value` (dicts and lists walked) rendered as a template."""
    if isinstance(value, str):
        return render_text(value, context)
    if not _has_template(value):
        return value
    return _render(value, _wrapped(context))


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    return False


def _render(value: Any, ctx: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return render_text(value, ctx, wrapped=True)
    if isinstance(value, dict):
        return {k: _render(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, ctx) for v in value]
    return value


def referenced_steps(text: str) -> set[str]:
    """Step ids a template reads (`steps.add.id`, `steps['add']`)."""
    tree = parse(text)
    found = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node.node, nodes.Name) and node.node.name == "steps":
            if isinstance(node, nodes.Getattr):
                found.add(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.add(node.arg.value)
    return found


def unknown_variables(text: str) -> set[str]:
    """Top-level names a template reads that are neither context variables nor Jinja globals/loop variables."""
    from jinja2 import meta

    tree = parse(text)
    return {n for n in meta.find_undeclared_variables(tree) if n not in VARIABLES and n not in ENV.globals}
