"""The noCRM zap actions against respx: the exact request each one sends; every route must be called.

Facts pinned (seed nocrm-simplified-api.txt [S], ../shared/specs/API-NOTES.md §5, docs/connector-nocrm.md):
every action is a GET on `https://{account}.nocrm.io/api/simple/leads/{lead_id}/{action}` with its parameters in
the query string [S]; the API key travels in the `X-API-KEY` header, never in the URL; several tags go as one
comma-separated `tag` [S]; the actions that are not idempotent are never re-sent after a lost answer; a 429's
`API-RETRY-AFTER` is waited; noCRM's `{error, message, type}` answers become the kit's classified errors.
"""

from __future__ import annotations

import httpx
import pytest
import respx

from connectors._http import AuthError, NotFoundError, OutcomeUnknown, RetryPolicy, ValidationError
from connectors.nocrm import (
    LeadWithoutEmail,
    MailboxNotSynced,
    NocrmClient,
    NocrmCredentials,
    TemplateNotShared,
    TemplateVariablesLeft,
)
from passerelle.zaps.registry import get_action
from tests.connectors.conftest import SleepRecorder

ROOT = "https://acme.nocrm.io"
KEY = "nocrm-SECRET-key"
LEAD = {"id": 145676, "title": "Boulangerie", "status": "todo", "step": "Entrant", "step_id": 21, "tags": []}

# (action, inputs, path after /api/simple/leads/145676/, exact query) — the seed's examples where it has one.
CASES = [
    ("standby", {"lead_id": 145676, "days": 15}, "standby", {"days": "15"}),
    ("standby", {"lead_id": "145676", "days": "15", "activity_id": "23"}, "standby",
     {"days": "15", "activity_id": "23"}),
    ("won", {"lead_id": 145676, "amount": "155.34"}, "won", {"amount": "155.34"}),
    ("won", {"lead_id": 145676}, "won", {}),
    ("cancelled", {"lead_id": 145676}, "cancelled", {}),
    ("lost", {"lead_id": 145676}, "lost", {}),
    ("todo", {"lead_id": 145676}, "todo", {}),
    ("assign", {"lead_id": 145676, "user_id": "YourEmail@maildomain.com"}, "assign",
     {"user_id": "YourEmail@maildomain.com"}),
    ("assign", {"lead_id": 145676, "user_id": "09846"}, "assign", {"user_id": "9846"}),
    ("assign_random", {"lead_id": 145676}, "assign/random", {}),
    ("assign_random", {"lead_id": 145676, "no_admin": True}, "assign/random", {"no_admin": "true"}),
    ("assign_random_in_a_team", {"lead_id": 145676, "team_id": 24}, "assign/random_in_a_team", {"team_id": "24"}),
    ("next_step", {"lead_id": 145676}, "next_step", {}),
    ("move_to_step", {"lead_id": 145676, "step_id": 23}, "move_to_step", {"step_id": "23"}),
    ("add_tag", {"lead_id": 145676, "tag": "ProductA"}, "add_tag", {"tag": "ProductA"}),
    ("add_tag", {"lead_id": 145676, "tag": "tag1, tag2,tag3"}, "add_tag", {"tag": "tag1,tag2,tag3"}),
    ("add_tag", {"lead_id": 145676, "tag": ["tag1", "tag2"]}, "add_tag", {"tag": "tag1,tag2"}),
    ("send_email_from_template", {"lead_id": 145676, "email_template_id": 12, "from_user_id": "rana@xyzcorp.com"},
     "send_email_from_template", {"email_template_id": "12", "from_user_id": "rana@xyzcorp.com"}),
    ("add_activity", {"lead_id": 145676, "activity_id": 45, "user_id": 35, "content": "Demo"}, "add_activity",
     {"activity_id": "45", "user_id": "35", "content": "Demo"}),
    ("add_activity", {"lead_id": 145676, "activity_id": 45, "user_id": 35}, "add_activity",
     {"activity_id": "45", "user_id": "35"}),
]
NOT_IDEMPOTENT = {"assign_random", "assign_random_in_a_team", "next_step", "send_email_from_template", "add_activity"}


def creds(**kwargs) -> NocrmCredentials:
    block = NocrmCredentials(account=kwargs.pop("account", "acme"), api_key=KEY, **kwargs)
    block._block_document_name = "sales"
    return block


def client(sleep: SleepRecorder | None = None, **kwargs) -> NocrmClient:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.001))
    nocrm = NocrmClient(account="acme", api_key=KEY, **kwargs)
    if sleep is not None:
        nocrm.api._sleep = sleep
    return nocrm


@pytest.mark.parametrize(("name", "inputs", "path", "query"), CASES)
@respx.mock(assert_all_called=True)
async def test_each_action_sends_one_get_with_its_parameters_in_the_query(respx_mock, name, inputs, path,
                                                                          query) -> None:
    answer = {"id": 503, "content": "Demo", "activity_id": 45} if name == "add_activity" else LEAD
    route = respx_mock.get(f"{ROOT}/api/simple/leads/145676/{path}", params__eq=query).mock(
        return_value=httpx.Response(200, json=answer))
    spec = get_action(f"nocrm.{name}")
    output = await spec.run(spec.input_model.model_validate(inputs), creds())
    assert route.call_count == 1
    request = route.calls[0].request
    assert request.method == "GET" and request.content == b""
    assert request.headers["X-API-KEY"] == KEY and KEY not in str(request.url)
    assert output.model_dump()["id"] == answer["id"]
    assert spec.idempotent is (name not in NOT_IDEMPOTENT)


def test_the_thirteen_lead_actions_are_registered_with_their_idempotence() -> None:
    names = {case[0] for case in CASES}
    assert len(names) == 13
    for name in names:
        spec = get_action(f"nocrm.{name}")
        assert (spec.app, spec.connection, spec.idempotent) == ("nocrm", "nocrm", name not in NOT_IDEMPOTENT)


@pytest.mark.parametrize(("name", "inputs", "field", "says"), [
    ("standby", {"lead_id": 145676}, "days", "Field required"),
    ("standby", {"lead_id": 145676, "days": 0}, "days", "days must be a whole number of days from 1"),
    ("standby", {"lead_id": 145676, "days": "quinze"}, "days", "days must be a whole number of days"),
    ("standby", {"lead_id": 145676, "days": 3, "activity_id": "appel"}, "activity_id", "activity_id must be the id"),
    ("won", {"lead_id": "LEAD_ID"}, "lead_id", "lead_id must be the id of the lead in noCRM"),
    ("won", {"lead_id": 145676, "amount": "-3"}, "amount", "amount must be a number ≥ 0"),
    ("todo", {}, "lead_id", "Field required"),
    ("assign", {"lead_id": 145676, "user_id": "Rana"}, "user_id", "user id (e.g. 35) or the user's e-mail address"),
    ("assign_random_in_a_team", {"lead_id": 145676}, "team_id", "Field required"),
    ("move_to_step", {"lead_id": 145676, "step_id": -1}, "step_id", "step_id must be the id of the step"),
    ("add_tag", {"lead_id": 145676, "tag": " , "}, "tag", "tag is empty"),
    ("send_email_from_template", {"lead_id": 145676, "email_template_id": 12}, "from_user_id", "Field required"),
    ("add_activity", {"lead_id": 145676, "user_id": 35, "content": "Demo"}, "activity_id", "Field required"),
    ("won", {"lead_id": 145676, "amont": 12}, "amont", "Extra inputs are not permitted"),
])
def test_bad_inputs_are_refused_before_any_call_naming_the_field(name, inputs, field, says) -> None:
    spec = get_action(f"nocrm.{name}")
    with respx.mock(assert_all_called=False) as mock:
        with pytest.raises(ValueError) as info:
            spec.input_model.model_validate(inputs)
        assert not mock.calls
    errors = info.value.errors()  # type: ignore[attr-defined]
    assert [e["loc"] for e in errors] == [(field,)]
    assert says in errors[0]["msg"]


@pytest.mark.parametrize("name", sorted(NOT_IDEMPOTENT))
@respx.mock(assert_all_called=True)
async def test_an_action_that_is_not_idempotent_is_never_resent_after_a_lost_answer(respx_mock, name) -> None:
    inputs, path = next((i, p) for n, i, p, _ in CASES if n == name)
    route = respx_mock.get(f"{ROOT}/api/simple/leads/145676/{path}").mock(side_effect=httpx.ReadTimeout("lost"))
    spec = get_action(f"nocrm.{name}")
    with pytest.raises(OutcomeUnknown) as info:
        await spec.run(spec.input_model.model_validate(inputs), creds())
    assert route.call_count == 1
    assert "It was not re-sent: check in noCRM whether it took effect" in str(info.value)


@respx.mock(assert_all_called=True)
async def test_an_idempotent_action_is_sent_again_after_a_502(respx_mock) -> None:
    route = respx_mock.get(f"{ROOT}/api/simple/leads/145676/move_to_step", params__eq={"step_id": "23"}).mock(
        side_effect=[httpx.Response(502, text="Bad Gateway"), httpx.Response(200, json=LEAD)])
    async with client() as nocrm:
        assert (await nocrm.move_to_step(145676, 23))["id"] == 145676
    assert route.call_count == 2


@respx.mock(assert_all_called=True)
async def test_a_429_waits_nocrms_api_retry_after(respx_mock) -> None:
    route = respx_mock.get(f"{ROOT}/api/simple/leads/145676/won").mock(side_effect=[
        httpx.Response(429, json={"error": 429, "message": "Too many requests", "type": "too_many_requests"},
                       headers={"API-RETRY-AFTER": "4", "API-LIMIT-RESET": "1767600000"}),
        httpx.Response(200, json={**LEAD, "status": "won"})])
    sleeps = SleepRecorder()
    async with client(sleeps, retry=RetryPolicy(max_attempts=3, max_total_wait=30)) as nocrm:
        assert (await nocrm.won(145676))["status"] == "won"
    assert route.call_count == 2 and len(sleeps.waits) == 1 and sleeps.waits[0] >= 4


@respx.mock(assert_all_called=True)
async def test_401_names_the_block_and_the_fix_and_never_the_key(respx_mock) -> None:
    route = respx_mock.get(f"{ROOT}/api/simple/leads/145676/todo").mock(return_value=httpx.Response(
        401, json={"error": 401, "message": "Unauthorized: invalid api_key", "type": "unauthorized_invalid_token"}))
    block = creds()
    spec = get_action("nocrm.todo")
    with pytest.raises(AuthError) as info:
        await spec.run(spec.input_model.model_validate({"lead_id": 145676}), block)
    assert route.call_count == 1  # never retried
    text = str(info.value)
    assert text.startswith("noCRM rejected the API key (401 on GET /api/simple/leads/145676/todo): Unauthorized: "
                           "invalid api_key.")
    assert "create one in noCRM (Admin → API → API keys)" in text and "'nocrm-credentials/sales'" in text
    assert KEY not in text + repr(info.value) + repr(block)


@pytest.mark.parametrize(("kind", "cls", "fix"), [
    ("template_not_accessible", TemplateNotShared, "Only shared templates can be used"),
    ("template_variables_left", TemplateVariablesLeft, "Fill the lead fields the template uses"),
    ("lead_without_email", LeadWithoutEmail, "Add the contact's e-mail address to the lead"),
    ("mailbox_not_synchronized", MailboxNotSynced, "must synchronise their mailbox"),
])
@respx.mock(assert_all_called=True)
async def test_the_four_email_refusals_are_distinct_validation_errors(respx_mock, kind, cls, fix) -> None:
    respx_mock.get(f"{ROOT}/api/simple/leads/145676/send_email_from_template").mock(return_value=httpx.Response(
        422, json={"error": 422, "message": "refused for a reason", "type": kind}))
    async with client() as nocrm:
        with pytest.raises(cls) as info:
            await nocrm.send_email_from_template(145676, 12, "2")
    assert isinstance(info.value, ValidationError)
    assert str(info.value).startswith("noCRM refused to send the e-mail (")
    assert "refused for a reason." in str(info.value) and fix in str(info.value)


@respx.mock(assert_all_called=True)
async def test_an_unknown_lead_is_a_not_found_error_with_nocrms_message(respx_mock) -> None:
    respx_mock.get(f"{ROOT}/api/simple/leads/9/lost").mock(return_value=httpx.Response(
        404, json={"error": 404, "message": "Record not found", "type": "record_not_found"}))
    async with client() as nocrm:
        with pytest.raises(NotFoundError, match=r"\(404 on GET /api/simple/leads/9/lost\): Record not found\. "
                                                r"Check the id"):
            await nocrm.lost(9)


@respx.mock(assert_all_called=True)
async def test_the_blocks_test_pings_and_says_which_account(respx_mock) -> None:
    route = respx_mock.get(f"{ROOT}/api/v2/ping").mock(return_value=httpx.Response(
        200, json={"status": 200, "message": "Your API key is correct."}))
    assert await creds(account="https://Acme.nocrm.io/").test() == (
        "noCRM accepted the API key of acme.nocrm.io (GET /api/v2/ping)")
    assert route.calls[0].request.headers["X-API-KEY"] == KEY


@pytest.mark.parametrize("account", ["acme.zendesk.com", "http://acme.nocrm.io", "ac me", "", "acme/evil"])
def test_a_bad_account_is_refused_naming_the_field(account) -> None:
    with pytest.raises(ValueError, match=r"account must be your noCRM subdomain, e\.g\. 'acme'"):
        NocrmCredentials(account=account, api_key=KEY)


def _seed_example(**send_inputs) -> dict:
    """The seed's example as a zap: assign a lead, send it an e-mail, move it to the next step, put it on standby."""
    lead = "{{ trigger.query.lead_id }}"
    step = [("assign", {"lead_id": lead, "user_id": "rana@passerelle.dev"}),
            ("send_email_from_template", {"lead_id": lead, "email_template_id": 12, "from_user_id": 2, **send_inputs}),
            ("next_step", {"lead_id": lead}), ("standby", {"lead_id": lead, "days": 15})]
    return {"id": "nocrm-new-lead", "name": "New noCRM lead", "trigger": {"app": "catch", "event": "hook"},
            "steps": [{"id": name, "type": "action", "action": f"nocrm.{name}", "connection": "sales",
                       "inputs": inputs} for name, inputs in step]}


def test_the_seeds_example_validates_as_a_zap_and_a_bad_literal_names_its_step_and_field() -> None:
    from passerelle.zaps.spec import ZapError, parse_zap

    zap = parse_zap(_seed_example(), "zaps/nocrm.yaml")
    assert [s.action for s in zap.steps] == ["nocrm.assign", "nocrm.send_email_from_template", "nocrm.next_step",
                                             "nocrm.standby"]
    with pytest.raises(ZapError) as info:
        parse_zap(_seed_example(from_user_id="Rana"), "zaps/nocrm.yaml")
    assert str(info.value).startswith("zaps/nocrm.yaml: steps[1].inputs.from_user_id: from_user_id must be a noCRM "
                                      "user id (e.g. 35) or the user's e-mail address")


@respx.mock(assert_all_called=True)
async def test_run_lead_action_checks_plain_inputs_then_calls(respx_mock) -> None:
    from connectors.nocrm.zap import run_lead_action

    route = respx_mock.get(f"{ROOT}/api/simple/leads/145676/won", params__eq={"amount": "2.5"}).mock(
        return_value=httpx.Response(200, json={**LEAD, "status": "won", "amount": 2.5}))
    assert (await run_lead_action("won", creds(), lead_id="145676", amount="2,50")).status == "won"
    assert route.call_count == 1
    with pytest.raises(ValueError, match="unknown noCRM action 'win'; one of add_activity, add_tag"):
        await run_lead_action("win", creds(), lead_id=1)
