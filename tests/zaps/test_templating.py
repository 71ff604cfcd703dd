"""Zap templates: plain data out, typed single expressions, undefined variables named, known escapes refused."""

from __future__ import annotations

import time

import pytest

from passerelle.zaps import templating
from passerelle.zaps.templating import TemplateRefused, TemplateUndefined, render

CONTEXT = {
    "trigger": {"email": "marie@example.ca", "amount": 12.5, "count": 3, "items": [{"sku": "A1"}], "vip": True,
                "keys": "k-1"},
    "steps": {"add": {"id": 7, "tags": ["a", "b"]}},
}


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ trigger.email }}", "marie@example.ca"),
    ("{{ trigger.amount }}", 12.5),
    ("{{ trigger.count }}", 3),
    ("  {{ steps.add.id }}\n", 7),
    ("{{ trigger.vip }}", True),
    ("{{ steps.add.tags }}", ["a", "b"]),
    ("{{ trigger['items'][0] }}", {"sku": "A1"}),
    ("{{ trigger.items[0].sku }}", "A1"),  # a payload field named like a dict method is the field
    ("{{ trigger.keys }}", "k-1"),
    ("{{ trigger.missing | default(none) }}", None),
    ("{{ trigger.count * 2 + 1 }}", 7),
    ("id={{ steps.add.id }}", "id=7"),
    ("{{ steps.add.id }}{{ trigger.count }}", "73"),
    ("{% if trigger.vip %}VIP{% else %}std{% endif %}", "VIP"),
    ("{% for t in steps.add.tags %}{{ t }};{% endfor %}", "a;b;"),
    ("plain text", "plain text"),
])
def test_rendering_keeps_the_type_of_a_single_expression(template: str, expected) -> None:
    assert render(template, CONTEXT) == expected


def test_render_walks_dicts_and_lists() -> None:
    inputs = {"to": "{{ trigger.email }}", "n": "{{ trigger.count }}", "rows": [["{{ steps.add.id }}", "x"]],
              "keep": 5}
    assert render(inputs, CONTEXT) == {"to": "marie@example.ca", "n": 3, "rows": [[7, "x"]], "keep": 5}


@pytest.mark.parametrize(("template", "message"), [
    ("{{ trigger.emali }}", "undefined variable: trigger.emali"),
    ("Hi {{ trigger.emali }}", "undefined variable: trigger.emali"),
    ("{{ steps.add.tags[5] }}", "undefined variable: steps.add.tags[5]"),
    ("{{ steps.nope.id }}", "undefined variable: steps.nope"),
    ("{{ nope }}", "undefined variable: nope (templates see trigger, steps, zap, vars)"),
])
def test_undefined_variables_are_named(template: str, message: str) -> None:
    with pytest.raises(TemplateUndefined) as info:
        render(template, CONTEXT)
    assert str(info.value) == message


@pytest.mark.parametrize(("template", "message"), [
    ("{{ ''.__class__.__mro__ }}", "access to attribute '__class__' of a str is not allowed"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "access to attribute '__class__' of a str is not allowed"),
    ("{{ self._TemplateReference__context }}", "access to attribute '_TemplateReference__context' of a "
     "TemplateReference is not allowed"),
    ("{{ trigger['__class__'] }}", "access to attribute '__class__' of a PathDict is not allowed"),
    ("{{ trigger|attr('__class__') }}", "access to attribute '__class__' of a PathDict is not allowed"),
    ("{{ '{0.__class__}'.format(trigger) }}", "str.format() is not allowed in templates; use a format step"),
    ("{{ '{x}'.format_map(trigger) }}", "str.format_map() is not allowed in templates; use a format step"),
    ("{{ '{0:>999999999}'.format(1) }}", "str.format() is not allowed in templates; use a format step"),
    ("{{ '%999999999d' % 1 }}", "'%' string formatting is not allowed; use a format step"),
    ("{{ 'x'.center(10**9) }}", "str.center() is not allowed in templates; use a format step"),
    ("{{ range(10**9) }}", "range() of 1000000000 items is over the 1000 limit"),
    ("{{ 'a' * 10**9 }}", "repeated value would be 1000000000 long, over the 100000 limit"),
    ("{{ [1] * 10**9 }}", "repeated value would be 1000000000 long, over the 100000 limit"),
    ("{{ 9 ** 999999 }}", "exponent 999999 is over the 1000 limit"),
    ("{{ ('x' * 1000) | replace('x', 'y' * 1000) }}", "replace() result would be 1000000 long, over the 100000 limit"),
    ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
     "joined text would be 131072 long, over the 100000 limit"),
    ("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
     "loops ran over 10000 iterations"),
    ("{% for i in range(999) %}{{ 'y' * 999 }}{% endfor %}", "rendered text would be 100899 long, over the 100000 "
     "limit"),
    ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "macro is not allowed in zap templates"),
    ("{% include 'x' %}", "include is not allowed in zap templates"),
    ("{{ range }}", "the expression gave a function, not data (text, number, list, dict)"),
])
def test_known_escapes_and_resource_attacks_are_refused(template: str, message: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateRefused) as info:
        render(template, CONTEXT)
    assert str(info.value) == message
    assert time.monotonic() - started < 2


def test_cycler_lipsum_and_other_globals_are_gone() -> None:
    for name in ("cycler", "lipsum", "joiner"):
        with pytest.raises(TemplateUndefined, match=f"undefined variable: {name} "):
            render(f"{{{{ {name}.__init__.__globals__ }}}}" if name == "cycler" else f"{{{{ {name}(10) }}}}", CONTEXT)


def test_render_time_limit(monkeypatch) -> None:
    monkeypatch.setattr(templating, "TIME_LIMIT", 0.0)
    with pytest.raises(TemplateRefused, match="rendering took longer than 0 s"):
        render("{% for i in range(100) %}{{ i }}{% endfor %}", CONTEXT)


def test_template_source_length_limit() -> None:
    with pytest.raises(TemplateRefused, match="template is 10005 characters long, over the 10000 limit"):
        render("{{ 1 }}" + "x" * 9998, CONTEXT)


def test_references_for_validation() -> None:
    assert templating.referenced_steps("{{ steps.add.id }} {{ steps['b'].x }} {{ trigger.steps }}") == {"add", "b"}
    assert templating.unknown_variables("{{ trigger.a }}{{ foo }}{% for x in steps.a.b %}{{ x }}{{ loop.index }}"
                                        "{% endfor %}{{ range(2) }}") == {"foo"}
