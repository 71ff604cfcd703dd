"""Filter operators, all/any, and `zaps test`'s walk: filters stopping a run as "filtered", paths choosing branches."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from passerelle.zaps.conditions import ConditionError, Conditions, check, evaluate
from passerelle.zaps.preview import preview
from passerelle.zaps.spec import load_zap, parse_zap

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("operator", "left", "right", "expected"), [
    ("equals", "paid", "paid", True), ("equals", "Paid", "paid", False), ("equals", 10, "10.0", True),
    ("equals", "10", 10, True), ("equals", None, "", True), ("not_equals", "a", "b", True),
    ("contains", "renewal reminder", "new", True), ("contains", ["vip", "fr"], "vip", True),
    ("contains", ["vip"], "vi", False), ("starts_with", "CA-123", "CA-", True), ("ends_with", "a@b.ca", ".com", False),
    ("exists", "x", None, True), ("exists", "", None, False), ("exists", [], None, False), ("exists", 0, None, True),
    ("not_exists", None, None, True), ("greater_than", "1 200,50", 1000, True), ("greater_than", 5, "5", False),
    ("less_than", "2026-01-01", "2026-06-30T00:00:00Z", True), ("greater_than", None, 1, False),
    ("in", "ticket", ["client", "ticket"], True), ("in", 3, ["1", "2", "3"], True), ("in", "x", ["a"], False),
    ("matches", "SKU-0042", r"^SKU-\d{4}$", True), ("matches", "sku-42", r"^SKU-\d{4}$", False),
    ("is_true", "yes", None, True), ("is_true", "oui", None, True), ("is_true", 1, None, True),
    ("is_true", "maybe", None, False), ("is_false", "false", None, True), ("is_false", "", None, True),
    ("is_false", "maybe", None, False),
])
def test_operators(operator: str, left, right, expected: bool) -> None:
    assert check(operator, left, right) is expected


def test_ignore_case() -> None:
    assert check("equals", "Paid", "paid", ignore_case=True)
    assert check("starts_with", "STRASSE", "straße", ignore_case=True)
    assert check("matches", "ABC", "^abc$", ignore_case=True)


@pytest.mark.parametrize(("operator", "left", "right", "message"), [
    ("greater_than", "abc", 3, "greater_than compares numbers or dates; got 'abc' and 3"),
    ("in", "a", "a,b", "operator in needs a list as value, got 'a,b'"),
    # exponential backtracking (~10^12 paths), so it overruns the limit on any machine; `^(a+)+$` on 5,000 a's
    # finished in 0.095 s on a quiet one
    ("matches", "a" * 60 + "!", r"^(a|aa)+$", r"pattern '^(a|aa)+$' took over 0.1 s; simplify it"),
    ("matches", "a", "x" * 501, "pattern is 501 characters, over the 500 limit"),
])
def test_operator_errors(operator, left, right, message) -> None:
    with pytest.raises(ConditionError) as info:
        check(operator, left, right)
    assert str(info.value) == message


def test_all_and_any_stop_at_the_deciding_condition() -> None:
    ctx = {"trigger": {"status": "paid", "total": 40}, "steps": {}}
    all_ = Conditions.model_validate({"all": [{"field": "{{ trigger.status }}", "operator": "equals", "value": "paid"},
                                              {"field": "{{ trigger.total }}", "operator": "greater_than", "value": 50},
                                              {"field": "{{ trigger.nope }}", "operator": "exists"}]})
    passed, records = evaluate(all_, ctx)
    assert passed is False and [r["passed"] for r in records] == [True, False]  # the undefined one never rendered
    any_ = Conditions.model_validate({"any": [{"field": "{{ trigger.total }}", "operator": "greater_than", "value": 50},
                                              {"field": "{{ trigger.status }}", "operator": "in",
                                               "value": ["paid", "refunded"]}]})
    passed, records = evaluate(any_, ctx)
    assert passed is True and records[1] == {"field": "paid", "operator": "in", "value": ["paid", "refunded"],
                                             "passed": True}


def _steps(result: dict) -> list[tuple[str, str]]:
    return [(r["step"], r["id"]) for r in result["steps"]]


@pytest.mark.parametrize(("query", "branch", "row"), [
    ({"id": "11", "sticket_id": "810"}, "ticket", ["ticket", "11", "810"]),
    ({"id": "11", "ccom_id": "52"}, "activity", ["activité", "11", "52"]),
    ({"id": "11", "cocom_id": "52"}, "activity", ["activité", "11", "52"]),
    ({"id": "11"}, "client", ["client", "11"]),
])
def test_oxiva_paths_route_each_payload_to_its_sheet(query: dict, branch: str, row: list) -> None:
    zap = load_zap(ROOT / "zaps" / "oxiva-to-sheets.yaml")
    now = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)
    result = preview(zap, {"method": "GET", "query": query}, now=now)
    assert result["status"] == "ok"
    route = result["steps"][1]
    assert route["chosen"] == [branch]
    action = result["steps"][2]
    sheet = {"ticket": "Tickets", "activity": "Activités", "client": "Clients"}[branch]
    assert action["action"] == "google_sheets.append_row" and action["idempotent"] is False
    assert action["inputs"] == {"spreadsheet_id": "1PasserelleSandboxSpreadsheet000000000000000", "range": sheet,
                                "values": [*row, "2026-11-27 16:00:00"]}  # received, Paris time
    assert len(result["steps"]) == 3  # the other branches' steps did not run


def test_paths_with_no_matching_branch_is_filtered() -> None:
    zap = load_zap(ROOT / "zaps" / "oxiva-to-sheets.yaml")
    result = preview(zap, {"method": "GET", "query": {"id": "not-a-number"}})
    assert result["status"] == "filtered"
    assert result["steps"][1]["chosen"] == [] and len(result["steps"]) == 2


PATHS_ALL = {
    "id": "z", "name": "Z", "trigger": {"app": "catch", "event": "hook"},
    "steps": [{"id": "route", "type": "paths", "branches": [
        {"name": "big", "all": [{"field": "{{ trigger.total }}", "operator": "greater_than", "value": 100}],
         "steps": [{"id": "big_fmt", "type": "format", "kind": "number", "transform": "currency",
                    "input": "{{ trigger.total }}", "options": {"currency": "CAD", "locale": "fr-CA"}}]},
        {"name": "any", "any": [{"field": "{{ trigger.total }}", "operator": "exists"}],
         "steps": [{"id": "note", "type": "format", "kind": "text", "transform": "upper", "input": "seen"}]},
    ]}],
}


def test_paths_all_mode_runs_every_matching_branch() -> None:
    zap = parse_zap(PATHS_ALL, "zaps/z.yaml")
    result = preview(zap, {"total": "1234.5"})
    assert result["steps"][0]["chosen"] == ["big", "any"]
    assert [(r["id"], r["output"]) for r in result["steps"][1:]] == [("big_fmt", "1\u00a0234,50\u00a0$"),
                                                                     ("note", "SEEN")]
    result = preview(zap, {"total": 5})
    assert result["steps"][0]["chosen"] == ["any"] and result["status"] == "ok"


def test_okast_renewal_filter_format_delay_and_typed_outputs() -> None:
    zap = load_zap(ROOT / "zaps" / "okast-renewal.yaml")
    event = {"event": "new_subscription", "user": {"email": "lea@example.fr", "first_name": "Léa"},
             "offer": {"name": "Abonnement annuel", "kind": "subscription", "period": "yearly"},
             "started_at": "2026-01-15T09:30:00Z", "renews_at": "2027-01-15T09:30:00Z"}
    result = preview(zap, event)
    assert result["status"] == "ok"
    by_id = {r["id"]: r for r in result["steps"]}
    assert by_id["remind_on"]["output"] == "2027-01-14T10:30:00+01:00"  # 364 days later, Paris time
    assert by_id["wait"]["until"] == "2027-01-14T10:30:00+01:00"
    assert by_id["send"]["action"] == "smtp.send_email" and by_id["send"]["idempotent"] is False
    assert by_id["send"]["inputs"]["to"] == "lea@example.fr"
    assert by_id["send"]["inputs"]["subject"] == "Votre abonnement « Abonnement annuel » se renouvelle le 15/01/2027"
    assert by_id["send"]["inputs"]["text"].startswith("Bonjour Léa,")
    monthly = {**event, "offer": {**event["offer"], "period": "monthly"}}
    result = preview(zap, monthly)
    assert result["status"] == "filtered" and _steps(result) == [("steps[0]", "annual")]
    assert result["steps"][0]["passed"] is False


def test_a_missing_field_fails_the_step_that_reads_it() -> None:
    zap = load_zap(ROOT / "zaps" / "okast-renewal.yaml")
    result = preview(zap, {"event": "new_subscription", "offer": {"kind": "subscription", "period": "yearly"}})
    assert result["status"] == "failed"
    assert result["steps"][-1] == {"step": "steps[1]", "id": "remind_on", "type": "format",
                                   "error": "undefined variable: trigger.started_at"}
