"""Zap definitions: each step kind's validation, and error messages that name the file, the step and the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel

from passerelle.zaps import registry
from passerelle.zaps.spec import ZapError, load_zap, load_zaps

ROOT = Path(__file__).resolve().parents[2]


class MailInput(BaseModel):
    to: str
    subject: str
    priority: int = 3


class MailOutput(BaseModel):
    id: str


@pytest.fixture(autouse=True)
def stand_in_apps():
    """A `mail.send` action (required to and subject, a `mail` connection) that exists only in this test."""
    with registry.isolated():
        @registry.action("mail", "send", title="Send a mail", idempotent=False, connection="mail")
        async def send(inputs: MailInput, connection=None) -> MailOutput:  # pragma: no cover - never called
            raise AssertionError("validation calls nothing")

        yield


@pytest.fixture
def write(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "zaps").mkdir()

    def _write(body: str, name: str = "okast-renewal.yaml") -> Path:
        path = Path("zaps") / name
        path.write_text(textwrap.dedent(body), encoding="utf-8")
        return path

    return _write


HEAD = """\
id: okast-renewal
name: Renewal reminder
trigger: {app: catch, event: hook}
steps:
"""
SEND = """\
  - id: send
    type: action
    action: mail.send
    connection: office
    inputs: {to: "{{ trigger.json.email }}", subject: Renewal}
"""


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ZapError) as info:
        load_zap(path)
    return info.value.messages


def test_example_zaps_load() -> None:
    zaps = load_zaps(ROOT / "zaps")
    assert {z.id for z in zaps} >= {"oxiva-to-sheets", "okast-renewal"}
    oxiva = next(z for z in zaps if z.id == "oxiva-to-sheets")
    assert [b.name for b in oxiva.steps[-1].branches] == ["ticket", "activity", "client"]


def test_every_step_kind_loads(write) -> None:
    zap = load_zap(write(HEAD + """\
  - id: only_paid
    type: filter
    any: [{field: "{{ trigger.json.status }}", operator: equals, value: paid}]
  - id: day
    type: format
    kind: date
    transform: add
    input: "{{ trigger.json.created_at }}"
    options: {duration: 364 days}
  - id: wait
    type: delay
    until: "{{ steps.day.output }}"
  - id: pause
    type: delay
    for: 2h30m
""" + SEND + """\
  - id: route
    type: paths
    branches:
      - name: vip
        all: [{field: "{{ trigger.json.vip }}", operator: is_true}]
        steps:
          - {id: vip_mail, type: action, action: mail.send, connection: office,
             inputs: {to: boss@example.com, subject: "VIP {{ steps.send.id }}"}}
"""))
    assert [s.type for s in zap.steps] == ["filter", "format", "delay", "delay", "action", "paths"]
    assert zap.enabled is True and zap.trigger.app == "catch"


def test_missing_required_input_names_file_step_field(write) -> None:
    path = write(HEAD + """\
  - {id: a, type: format, kind: text, transform: upper, input: x}
  - {id: b, type: format, kind: text, transform: lower, input: y}
  - id: send
    type: action
    action: mail.send
    connection: office
    inputs: {subject: "Hi {{ trigger.json.name }}"}
""")
    assert errors_of(path) == ["zaps/okast-renewal.yaml: steps[2].inputs.to: field required"]


def test_literal_input_of_wrong_type_and_unknown_input(write) -> None:
    path = write(HEAD + """\
  - id: send
    type: action
    action: mail.send
    connection: office
    inputs: {to: a@b.c, subject: Hi, priority: high, cc: x@y.z}
""")
    assert errors_of(path) == [
        "zaps/okast-renewal.yaml: steps[0].inputs.cc: unknown input of mail.send; known: priority, subject, to",
        "zaps/okast-renewal.yaml: steps[0].inputs.priority: input should be a valid integer, unable to parse "
        "string as an integer",
    ]


def test_templated_input_is_checked_for_presence_only(write) -> None:
    load_zap(write(HEAD + """\
  - id: send
    type: action
    action: mail.send
    connection: office
    inputs: {to: "{{ trigger.json.email }}", subject: "{{ trigger.json.s }}", priority: "{{ trigger.json.p }}"}
"""))


def test_unknown_step_type(write) -> None:
    path = write(HEAD + "  - {id: a, type: fliter, all: []}\n")
    assert errors_of(path) == ["zaps/okast-renewal.yaml: steps[0].type: unknown step type 'fliter' (one of action, "
                               "filter, paths, format, delay)"]


def test_missing_step_type_and_unknown_field(write) -> None:
    path = write(HEAD + "  - {id: a}\n  - {id: b, type: delay, for: 1 day, colour: red}\n")
    assert errors_of(path) == [
        "zaps/okast-renewal.yaml: steps[0].type: field required (one of action, filter, paths, format, delay)",
        "zaps/okast-renewal.yaml: steps[1].colour: unknown field; remove it or check its spelling",
    ]


def test_duplicate_step_id_also_inside_branches(write) -> None:
    path = write(HEAD + SEND + """\
  - id: route
    type: paths
    branches:
      - name: one
        all: [{field: "{{ trigger.json.x }}", operator: exists}]
        steps: [{id: send, type: delay, for: 1 day}]
""")
    assert errors_of(path) == ["zaps/okast-renewal.yaml: steps[1].branches[0].steps[0].id: duplicate step id 'send' "
                               "(first used at steps[0])"]


def test_template_reading_a_later_or_missing_step(write) -> None:
    path = write(HEAD + """\
  - {id: a, type: format, kind: text, transform: upper, input: "{{ steps.b.output }}"}
  - {id: b, type: format, kind: text, transform: lower, input: "{{ steps['nope'].output }} {{ tigger.x }}"}
""")
    assert errors_of(path) == [
        "zaps/okast-renewal.yaml: steps[0].input: step 'b' has not run yet here; a template can only read earlier "
        "steps",
        "zaps/okast-renewal.yaml: steps[1].input: unknown variable 'tigger' (templates see trigger, steps, zap, vars)",
        "zaps/okast-renewal.yaml: steps[1].input: no step 'nope' in this zap",
    ]


def test_branch_steps_cannot_read_a_sibling_branch(write) -> None:
    path = write(HEAD + """\
  - id: route
    type: paths
    branches:
      - name: one
        all: [{field: "{{ trigger.x }}", operator: exists}]
        steps: [{id: first, type: format, kind: text, transform: upper, input: a}]
      - name: two
        all: [{field: "{{ trigger.y }}", operator: exists}]
        steps: [{id: second, type: format, kind: text, transform: upper, input: "{{ steps.first.output }}"}]
""")
    assert errors_of(path) == ["zaps/okast-renewal.yaml: steps[0].branches[1].steps[0].input: step 'first' has not "
                               "run yet here; a template can only read earlier steps"]


def test_unknown_action_and_unknown_trigger(write) -> None:
    path = write("id: z\nname: Z\ntrigger: {app: catch, event: hooks}\nsteps:\n"
                 "  - {id: a, type: action, action: mail.sned, inputs: {}}\n")
    messages = errors_of(path)
    assert len(messages) == 2
    assert messages[0].startswith("zaps/okast-renewal.yaml: trigger.event: unknown trigger 'catch.hooks' (check the "
                                  "spelling); known triggers: ")
    assert "catch.hook" in messages[0]
    assert messages[1].startswith("zaps/okast-renewal.yaml: steps[0].action: unknown action 'mail.sned' (check the "
                                  "spelling); known actions: ")
    assert "mail.send" in messages[1]


def test_connection_required_by_the_action(write) -> None:
    path = write(HEAD + "  - {id: s, type: action, action: mail.send, inputs: {to: a@b.c, subject: x}}\n")
    assert errors_of(path) == ["zaps/okast-renewal.yaml: steps[0].connection: field required (mail.send needs a "
                               "'mail' connection: the name of its credentials Block)"]


@pytest.mark.parametrize(("step", "message"), [
    ("{id: f, type: filter, all: [{field: x, operator: equals}]}", "steps[0].all[0].value: field required "
     "(operator equals compares with a value)"),
    ("{id: f, type: filter, all: [{field: x, operator: exists, value: 1}]}", "steps[0].all[0].value: not used by "
     "operator exists; remove it"),
    ("{id: f, type: filter, all: [{field: x, operator: like, value: 1}]}", "steps[0].all[0].operator: input should "
     "be 'equals', 'not_equals', 'contains', 'starts_with', 'ends_with', 'exists', 'not_exists', 'greater_than', "
     "'less_than', 'in', 'matches', 'is_true' or 'is_false'"),
    ("{id: f, type: filter, all: [{field: x, operator: matches, value: '(a'}]}", "steps[0].all[0]: invalid regular "
     "expression: missing ) at position 2"),
    ("{id: f, type: filter}", "steps[0]: give exactly one of 'all' or 'any' (a list of conditions)"),
    ("{id: f, type: filter, any: []}", "steps[0].any: list must hold at least one condition"),
    ("{id: d, type: delay}", "steps[0]: give exactly one of 'for' (a duration such as '364 days') or 'until' (a date)"),
    ("{id: d, type: delay, for: soon}", "steps[0].for: 'soon' is not a duration; write e.g. '364 days', '2h30m', "
     "'1 month' or 'P364D'"),
    ("{id: d, type: delay, until: 'not a date'}", "steps[0].until: cannot read 'not a date' as a date"),
    ("{id: t, type: format, kind: text, transform: shout, input: x}", "steps[0].transform: unknown text transform "
     "'shout'; one of upper, lower, title, capitalize, trim, split, replace, truncate, default, extract_email, "
     "extract_number, url_encode, url_decode"),
    ("{id: t, type: format, kind: number, transform: currency, input: '1'}", "steps[0].options.currency: field "
     "required (the currency transform needs it)"),
    ("{id: Bad-Id, type: delay, for: 1 day}", "steps[0].id: string should match pattern '^[a-z][a-z0-9_]{0,62}$'"),
    ("{id: p, type: paths, branches: []}", "steps[0].branches: list should have at least 1 item after validation, "
     "not 0"),
    ("{id: t, type: format, kind: text, transform: upper, input: '{{ trigger.x '}", "steps[0].input: template "
     "syntax: unexpected end of template, expected 'end of print statement'. (line 1)"),
    ("{id: t, type: format, kind: text, transform: upper, input: '{% macro m() %}{% endmacro %}'}", "steps[0].input: "
     "macro is not allowed in zap templates"),
])
def test_step_validation_messages(write, step: str, message: str) -> None:
    assert errors_of(write(HEAD + f"  - {step}\n")) == [f"zaps/okast-renewal.yaml: {message}"]


def test_paths_must_end_its_list(write) -> None:
    path = write(HEAD + """\
  - id: route
    type: paths
    branches:
      - {name: one, all: [{field: "{{ trigger.x }}", operator: exists}], steps: [{id: a, type: delay, for: 1d}]}
  - {id: after, type: delay, for: 1d}
""")
    assert errors_of(path) == ["zaps/okast-renewal.yaml: steps[0]: a paths step must be the last step of its list "
                               "(put later steps inside each branch)"]


def test_yaml_syntax_and_top_level_errors(write) -> None:
    assert errors_of(write("id: [unclosed\n")) == ["zaps/okast-renewal.yaml: line 2: YAML syntax: expected ',' or "
                                                    "']', but got '<stream end>'"]
    assert errors_of(write("- a list\n")) == ["zaps/okast-renewal.yaml: a zap is a mapping with id, name, trigger "
                                              "and steps"]
    assert errors_of(write("id: z\nname: Z\nsteps: []\n")) == [
        "zaps/okast-renewal.yaml: trigger: field required",
        "zaps/okast-renewal.yaml: steps: list should have at least 1 item after validation, not 0",
    ]


def test_load_zaps_reports_every_file_and_repeated_ids(write) -> None:
    write(HEAD + SEND, "a.yaml")
    write(HEAD + SEND, "b.yaml")
    write(HEAD + "  - {id: x, type: delay}\n", "c.yaml")
    with pytest.raises(ZapError) as info:
        load_zaps("zaps")
    assert info.value.messages == [  # in file order
        "zaps/b.yaml: id: zap id 'okast-renewal' is already used by zaps/a.yaml",
        "zaps/c.yaml: steps[0]: give exactly one of 'for' (a duration such as '364 days') or 'until' (a date)",
    ]
