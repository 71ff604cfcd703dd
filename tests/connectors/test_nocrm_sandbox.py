"""The 13 noCRM zap actions → NocrmClient → the noCRM emulator over a real socket: each lead changes as the seed
(../shared/seeds/nocrm-simplified-api.txt) says, the four refusals of "send e-mail from template" stop the
e-mail, and a wrong key says what to fix. The emulator's demo account: sandbox/nocrm/document.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors._http import AuthError, NotFoundError, OutcomeUnknown, ValidationError
from connectors.nocrm import (
    LeadWithoutEmail,
    MailboxNotSynced,
    NocrmCredentials,
    TemplateNotShared,
    TemplateVariablesLeft,
)
from passerelle.zaps.registry import get_action
from tests.connectors.conftest import Control

KEY = "sandbox-nocrm-key"
DUPONT, LEMIEUX, FLEURISTE, MOREAU = 145676, 145677, 145678, 145679  # the demo account's leads
ADMINS, SALES = {1, 5}, {2, 3, 4}


def block(sb: Control, key: str = KEY) -> NocrmCredentials:
    creds = NocrmCredentials(account="passerelle-demo", api_key=key, base_url=f"{sb.server.url}/nocrm")
    creds._block_document_name = "demo"
    return creds


async def run(sb: Control, name: str, **inputs: Any) -> dict[str, Any]:
    spec = get_action(f"nocrm.{name}")
    output = await spec.run(spec.input_model.model_validate(inputs), block(sb))
    return output.model_dump(mode="json")


def lead(sb: Control, lead_id: int) -> dict[str, Any]:
    return next(row for row in sb.state("nocrm")["leads"] if row["id"] == lead_id)


async def test_standby_sets_the_status_and_the_next_reminder_in_days(sb: Control) -> None:
    out = await run(sb, "standby", lead_id=DUPONT, days=15, activity_id=45)
    expected = (datetime.now(UTC).date() + timedelta(days=15)).isoformat()
    assert (out["status"], out["remind_date"]) == ("standby", expected)
    assert (lead(sb, DUPONT)["status"], lead(sb, DUPONT)["remind_activity_id"]) == ("standby", 45)
    await run(sb, "standby", lead_id=LEMIEUX, days="3")  # activity_id is optional [S]
    assert lead(sb, LEMIEUX)["remind_date"] == (datetime.now(UTC).date() + timedelta(days=3)).isoformat()


async def test_won_sets_the_amount_and_sent_again_changes_nothing(sb: Control) -> None:
    out = await run(sb, "won", lead_id=DUPONT, amount="155.34")
    assert (out["status"], out["amount"]) == ("won", 155.34) and out["closed_at"]
    before = lead(sb, DUPONT)
    await run(sb, "won", lead_id=DUPONT, amount=155.34)
    assert lead(sb, DUPONT) == before  # idempotent: the same state, updated_at and closed_at included
    await run(sb, "won", lead_id=LEMIEUX)  # amount is optional [S]
    assert (lead(sb, LEMIEUX)["status"], lead(sb, LEMIEUX)["amount"]) == ("won", 0.0)


@pytest.mark.parametrize("status", ["cancelled", "lost", "todo"])
async def test_cancelled_lost_and_todo_set_their_status(sb: Control, status: str) -> None:
    await run(sb, "standby", lead_id=DUPONT, days=2)
    out = await run(sb, status, lead_id=DUPONT)
    assert out["status"] == lead(sb, DUPONT)["status"] == status
    assert (out["closed_at"] is None) is (status == "todo")


async def test_assign_takes_a_user_id_or_an_email_address(sb: Control) -> None:
    assert (await run(sb, "assign", lead_id=DUPONT, user_id="Ines@Passerelle.dev"))["user_id"] == 4
    assert lead(sb, DUPONT)["user_id"] == 4
    out = await run(sb, "assign", lead_id=DUPONT, user_id=2)
    assert (out["user_id"], out["user"]["email"], out["team_name"]) == (2, "rana@passerelle.dev", "Ventes web")
    with pytest.raises(NotFoundError, match="User not found: nobody@passerelle.dev"):
        await run(sb, "assign", lead_id=DUPONT, user_id="nobody@passerelle.dev")
    assert lead(sb, DUPONT)["user_id"] == 2


async def test_assign_random_draws_among_the_users_and_no_admin_never_draws_an_admin(sb: Control) -> None:
    anyone = {(await run(sb, "assign_random", lead_id=DUPONT))["user_id"] for _ in range(40)}
    assert anyone == ADMINS | SALES
    no_admin = {(await run(sb, "assign_random", lead_id=LEMIEUX, no_admin=True))["user_id"] for _ in range(30)}
    assert no_admin == SALES
    assert lead(sb, LEMIEUX)["user_id"] in SALES


async def test_assign_random_in_a_team_draws_a_member_of_that_team(sb: Control) -> None:
    drawn = {(await run(sb, "assign_random_in_a_team", lead_id=DUPONT, team_id=24))["user_id"] for _ in range(20)}
    assert drawn == {2, 3}
    with pytest.raises(NotFoundError, match="Team not found: 99"):
        await run(sb, "assign_random_in_a_team", lead_id=DUPONT, team_id=99)


async def test_next_step_walks_the_pipeline_and_stops_at_its_last_step(sb: Control) -> None:
    steps = [(await run(sb, "next_step", lead_id=DUPONT))["step"] for _ in range(3)]
    assert steps == ["Contacté", "Proposition", "Négociation"]
    with pytest.raises(ValidationError, match=r"already at the last step of its pipeline \(Négociation\)"):
        await run(sb, "next_step", lead_id=DUPONT)
    assert lead(sb, DUPONT)["step_id"] == 24


async def test_move_to_step_goes_to_the_chosen_step_even_in_another_pipeline(sb: Control) -> None:
    out = await run(sb, "move_to_step", lead_id=DUPONT, step_id=23)
    assert (out["step_id"], out["step"], out["pipeline"]) == (23, "Proposition", "Ventes")
    out = await run(sb, "move_to_step", lead_id=DUPONT, step_id="32")
    assert (out["step"], out["pipeline"]) == ("Accord", "Partenariats")
    before = lead(sb, DUPONT)
    await run(sb, "move_to_step", lead_id=DUPONT, step_id=32)
    assert lead(sb, DUPONT) == before
    with pytest.raises(NotFoundError, match="Step not found: 77"):
        await run(sb, "move_to_step", lead_id=DUPONT, step_id=77)


async def test_add_tag_adds_several_comma_separated_tags_once(sb: Control) -> None:
    assert (await run(sb, "add_tag", lead_id=DUPONT, tag="ProductA"))["tags"] == ["ProductA"]
    out = await run(sb, "add_tag", lead_id=DUPONT, tag="tag1,ProductA,tag2")
    assert out["tags"] == lead(sb, DUPONT)["tags"] == ["ProductA", "tag1", "tag2"]
    before = lead(sb, DUPONT)
    await run(sb, "add_tag", lead_id=DUPONT, tag=["tag2", "producta"])
    assert lead(sb, DUPONT) == before


async def test_send_email_from_template_replaces_the_fields_and_sends_to_the_leads_email(sb: Control) -> None:
    await run(sb, "send_email_from_template", lead_id=DUPONT, email_template_id=12, from_user_id="rana@passerelle.dev")
    [sent] = lead(sb, DUPONT)["emails"]
    assert (sent["to"], sent["from_user_id"], sent["email_template_id"]) == ("marie@boulangerie-dupont.fr", 2, 12)
    assert sent["subject"] == "Bienvenue chez Passerelle, Marie Dupont"
    assert sent["body"].startswith("Bonjour Marie Dupont,") and sent["body"].endswith("Rana Haddad")
    await run(sb, "send_email_from_template", lead_id=DUPONT, email_template_id=12, from_user_id=2)
    assert len(lead(sb, DUPONT)["emails"]) == 2  # not idempotent: each call sends one more


@pytest.mark.parametrize(("lead_id", "template", "sender", "error", "says"), [
    (DUPONT, 13, "rana@passerelle.dev", TemplateNotShared, "only shared templates can be used"),
    (LEMIEUX, 14, "rana@passerelle.dev", TemplateVariablesLeft, "{{lead.entreprise}}"),
    (FLEURISTE, 12, "rana@passerelle.dev", LeadWithoutEmail, f"The lead {FLEURISTE} has no e-mail address"),
    (DUPONT, 12, "louis@passerelle.dev", MailboxNotSynced, "louis@passerelle.dev has not synchronized their mailbox"),
])
async def test_the_four_refusals_send_nothing_and_say_why(sb: Control, lead_id, template, sender, error,
                                                          says) -> None:
    before = lead(sb, lead_id)
    with pytest.raises(error) as info:
        await run(sb, "send_email_from_template", lead_id=lead_id, email_template_id=template, from_user_id=sender)
    assert says in str(info.value) and info.value.hint == error.fix
    assert lead(sb, lead_id) == before and before["emails"] == []


async def test_add_activity_logs_one_activity_per_call(sb: Control) -> None:
    out = await run(sb, "add_activity", lead_id=DUPONT, activity_id=45, user_id=2, content="Demo")
    assert (out["content"], out["activity_id"], out["user"]["id"]) == ("Demo", 45, 2)
    assert out["commented_item"] == {"id": DUPONT, "title": "Boulangerie Dupont — site web", "type": "lead"}
    await run(sb, "add_activity", lead_id=DUPONT, activity_id=47, user_id="ines@passerelle.dev")  # no content [S]
    logged = lead(sb, DUPONT)["activities"]
    assert [(a["activity_id"], a["user_id"], a["content"]) for a in logged] == [(45, 2, "Demo"), (47, 4, "")]
    with pytest.raises(NotFoundError, match="Activity not found: 99"):
        await run(sb, "add_activity", lead_id=DUPONT, activity_id=99, user_id=2)


async def test_an_unknown_lead_is_not_found(sb: Control) -> None:
    with pytest.raises(NotFoundError, match=r"\(404 on GET /api/simple/leads/999/todo\): Record not found"):
        await run(sb, "todo", lead_id=999)


async def test_the_blocks_test_accepts_the_key_and_a_wrong_key_says_what_to_fix(sb: Control) -> None:
    assert await block(sb).test() == "noCRM accepted the API key of passerelle-demo.nocrm.io (GET /api/v2/ping)"
    with pytest.raises(AuthError) as info:
        await get_action("nocrm.won").run(get_action("nocrm.won").input_model(lead_id=DUPONT), block(sb, "wrong"))
    text = str(info.value)
    assert text.startswith("noCRM rejected the API key (401 on GET /api/simple/leads/145676/won): Unauthorized: "
                           "invalid api_key.")
    assert "create one in noCRM (Admin → API → API keys)" in text and "'nocrm-credentials/demo'" in text
    assert lead(sb, DUPONT)["status"] == "todo"
    with pytest.raises(AuthError):
        await block(sb, "wrong").test()


async def test_a_lost_answer_of_next_step_is_unknown_and_not_resent(sb: Control) -> None:
    sb.faults("nocrm", lost_answer_rate=1.0, lost_answer_methods=["GET"])
    with pytest.raises(OutcomeUnknown):
        await run(sb, "next_step", lead_id=DUPONT)
    sb.faults("nocrm")
    assert lead(sb, DUPONT)["step_id"] == 22  # applied once by noCRM, not moved twice
    assert [r["status"] for r in sb.requests("nocrm") if r["path"].endswith("/next_step")] == [504]


async def test_the_accounts_rate_limit_is_waited_out(sb: Control) -> None:
    r = sb.http.put("/_sandbox/nocrm/rate-limit", json={"per_minute": 1, "window_seconds": 0.3})
    assert r.status_code == 200
    await run(sb, "todo", lead_id=DUPONT)
    assert (await run(sb, "lost", lead_id=DUPONT))["status"] == "lost"  # 429, API-RETRY-AFTER waited, sent again
    assert [r["status"] for r in sb.requests("nocrm")][-3:] == [200, 429, 200]
