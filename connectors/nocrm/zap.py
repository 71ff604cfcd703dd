"""noCRM.io's simplified API as zap actions: ``nocrm.<action>``, one per lead action of the seed
(../shared/seeds/nocrm-simplified-api.txt), named after the API path they call.

| action | path | idempotent |
| --- | --- | --- |
| ``nocrm.standby`` | ``standby?days=&activity_id=`` | yes |
| ``nocrm.won`` | ``won?amount=`` | yes |
| ``nocrm.cancelled`` / ``nocrm.lost`` / ``nocrm.todo`` | ``cancelled`` / ``lost`` / ``todo`` | yes |
| ``nocrm.assign`` | ``assign?user_id=`` (an id or an e-mail) | yes |
| ``nocrm.assign_random`` | ``assign/random`` (``?no_admin=true``: never an admin) | no |
| ``nocrm.assign_random_in_a_team`` | ``assign/random_in_a_team?team_id=`` | no |
| ``nocrm.next_step`` | ``next_step`` | no |
| ``nocrm.move_to_step`` | ``move_to_step?step_id=`` | yes |
| ``nocrm.add_tag`` | ``add_tag?tag=tag1,tag2`` | yes |
| ``nocrm.send_email_from_template`` | ``send_email_from_template?email_template_id=&from_user_id=`` | no |
| ``nocrm.add_activity`` | ``add_activity?activity_id=&user_id=&content=`` | no |

Idempotent = sending it twice lands the state of one call, so the runner may send it again after an
ambiguous failure; the others are sent once (docs/connector-nocrm.md says why, action by action). Inputs are
checked before any call, each error naming its field. ``run_lead_action`` runs one from plain inputs (a flow).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from connectors.nocrm.client import NocrmClient
from connectors.nocrm.models import (
    MAX_STANDBY_DAYS,
    Activity,
    Lead,
    amount_value,
    positive_id,
    tag_list,
    user_ref,
)
from passerelle.zaps.registry import action


def _id(field: str, what: str, example: int = 23):
    return BeforeValidator(lambda value: positive_id(value, field, what, example))


def _optional_id(field: str, what: str):
    return BeforeValidator(lambda value: None if value in (None, "") else positive_id(value, field, what))


def _days(value: Any) -> int:
    days = value.strip() if isinstance(value, str) else value
    if isinstance(days, str) and days.isdigit():
        days = int(days)
    if isinstance(days, float) and days.is_integer():
        days = int(days)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_STANDBY_DAYS:
        raise ValueError(f"days must be a whole number of days from 1 to {MAX_STANDBY_DAYS} (the next reminder is "
                         f"that many days from today), e.g. 15; got {str(value)[:40]!r}")
    return days


LeadId = Annotated[int, _id("lead_id", "lead", 145676), Field(description="the lead's id (LEAD_ID in noCRM's URLs)")]


class LeadInput(BaseModel):
    """The inputs of an action that needs only the lead."""

    model_config = ConfigDict(extra="forbid")

    lead_id: LeadId


class StandbyInput(LeadInput):
    days: Annotated[int, BeforeValidator(_days), Field(description="days until the next reminder (> 0)")]
    activity_id: Annotated[int | None, _optional_id("activity_id", "activity"),
                           Field(description="the activity of the next reminder (optional)")] = None


class WonInput(LeadInput):
    amount: Annotated[Decimal | None, BeforeValidator(amount_value),
                      Field(description="the lead's amount, e.g. 155.34 (optional)")] = None


class AssignInput(LeadInput):
    user_id: Annotated[str, BeforeValidator(lambda v: user_ref(v, "user_id")),
                       Field(description="the user's id or e-mail address")]


class AssignRandomInput(LeadInput):
    no_admin: bool = Field(False, description="true: never draw an admin of the account")


class TeamInput(LeadInput):
    team_id: Annotated[int, _id("team_id", "team"), Field(description="the team to draw a member from")]


class MoveToStepInput(LeadInput):
    step_id: Annotated[int, _id("step_id", "step"), Field(description="the pipeline step to move the lead to")]


class AddTagInput(LeadInput):
    tag: Annotated[list[str], BeforeValidator(tag_list),
                   Field(description="a tag, several separated by commas ('tag1,tag2'), or a list")]


class SendEmailInput(LeadInput):
    email_template_id: Annotated[int, _id("email_template_id", "e-mail template"),
                                 Field(description="a shared e-mail template")]
    from_user_id: Annotated[str, BeforeValidator(lambda v: user_ref(v, "from_user_id")),
                            Field(description="the sender: a user id or e-mail address")]


class AddActivityInput(LeadInput):
    activity_id: Annotated[int, _id("activity_id", "activity"),
                           Field(description="the activity logged (a call, a meeting...)")]
    user_id: Annotated[str, BeforeValidator(lambda v: user_ref(v, "user_id")),
                       Field(description="who logs it: a user id or e-mail address")]
    content: str | None = Field(None, max_length=10_000, description="the activity's text (optional)")


def _client(connection: Any) -> NocrmClient:
    if connection is None or not hasattr(connection, "client"):
        raise ValueError("connection: noCRM actions need a noCRM connection; create one with `passerelle connect "
                         "nocrm --name NAME` and name it in the step's connection")
    return connection.client()


def _lead(row: dict[str, Any]) -> Lead:
    return Lead.model_validate(row)


@action("nocrm", "standby", title="Set a lead to 'En attente' (standby)", idempotent=True, connection="nocrm")
async def standby(inputs: StandbyInput, connection: Any = None) -> Lead:
    """Change the lead's status to standby and plan its next reminder in `days` days (for `activity_id`)."""
    async with _client(connection) as nocrm:
        return _lead(await nocrm.standby(inputs.lead_id, inputs.days, inputs.activity_id))


@action("nocrm", "won", title="Set a lead to 'Gagné' (won)", idempotent=True, connection="nocrm")
async def won(inputs: WonInput, connection: Any = None) -> Lead:
    """Change the lead's status to won, and set its amount when one is given."""
    async with _client(connection) as nocrm:
        return _lead(await nocrm.won(inputs.lead_id, inputs.amount))


@action("nocrm", "cancelled", title="Set a lead to 'Annulé' (cancelled)", idempotent=True, connection="nocrm")
async def cancelled(inputs: LeadInput, connection: Any = None) -> Lead:
    """Change the lead's status to cancelled."""
    async with _client(connection) as nocrm:
        return _lead(await nocrm.cancelled(inputs.lead_id))


@action("nocrm", "lost", title="Set a lead to 'Perdu' (lost)", idempotent=True, connection="nocrm")
async def lost(inputs: LeadInput, connection: Any = None) -> Lead:
    """Change the lead's status to lost."""
    async with _client(connection) as nocrm:
        return _lead(await nocrm.lost(inputs.lead_id))


@action("nocrm", "todo", title="Set a lead to 'À faire' (to do)", idempotent=True, connection="nocrm")
async def todo(inputs: LeadInput, connection: Any = None) -> Lead:
    """Change the lead's status to to-do."""
    async with _client(connection) as nocrm:
        return _lead(await nocrm.todo(inputs.lead_id))


@action("nocrm", "assign", title="Assign a lead to a user", idempotent=True, connection="nocrm")
async def assign(inputs: AssignInput, connection: Any = None) -> Lead:
    """Assign the lead to the user given by id or e-mail address."""
    async with _client(connection) as nocrm:
        return _lead(await nocrm.assign(inputs.lead_id, inputs.user_id))


@action("nocrm", "assign_random", title="Assign a lead to a random user", idempotent=False, connection="nocrm")
async def assign_random(inputs: AssignRandomInput, connection: Any = None) -> Lead:
    """Assign the lead to a user of the account drawn at random (with `no_admin`, never an admin)."""
    async with _client(connection) as nocrm:
        return _lead(await nocrm.assign_random(inputs.lead_id, no_admin=inputs.no_admin))


@action("nocrm", "assign_random_in_a_team", title="Assign a lead to a random member of a team", idempotent=False,
        connection="nocrm")
async def assign_random_in_a_team(inputs: TeamInput, connection: Any = None) -> Lead:
    """Assign the lead to a member of the team drawn at random."""
    async with _client(connection) as nocrm:
        return _lead(await nocrm.assign_random_in_a_team(inputs.lead_id, inputs.team_id))


@action("nocrm", "next_step", title="Move a lead to the next pipeline step", idempotent=False, connection="nocrm")
async def next_step(inputs: LeadInput, connection: Any = None) -> Lead:
    """Move the lead to the next step of the pipeline it is in."""
    async with _client(connection) as nocrm:
        return _lead(await nocrm.next_step(inputs.lead_id))


@action("nocrm", "move_to_step", title="Move a lead to a step", idempotent=True, connection="nocrm")
async def move_to_step(inputs: MoveToStepInput, connection: Any = None) -> Lead:
    """Move the lead to the pipeline step of your choice."""
    async with _client(connection) as nocrm:
        return _lead(await nocrm.move_to_step(inputs.lead_id, inputs.step_id))


@action("nocrm", "add_tag", title="Add tags to a lead", idempotent=True, connection="nocrm")
async def add_tag(inputs: AddTagInput, connection: Any = None) -> Lead:
    """Add one tag or several (separated by commas) to the lead; a tag it already has stays one."""
    async with _client(connection) as nocrm:
        return _lead(await nocrm.add_tag(inputs.lead_id, inputs.tag))


@action("nocrm", "send_email_from_template", title="Send an e-mail template to a lead", idempotent=False,
        connection="nocrm")
async def send_email_from_template(inputs: SendEmailInput, connection: Any = None) -> Lead:
    """Send an e-mail template to the lead's contact e-mail, its fields replaced, from a user's synchronised
    mailbox. Refused (nothing sent) when the template is not shared, variables are left after replacement, the
    lead has no e-mail address, or the sender's mailbox is not synchronised."""
    async with _client(connection) as nocrm:
        return _lead(await nocrm.send_email_from_template(inputs.lead_id, inputs.email_template_id,
                                                          inputs.from_user_id))


@action("nocrm", "add_activity", title="Log an activity on a lead", idempotent=False, connection="nocrm")
async def add_activity(inputs: AddActivityInput, connection: Any = None) -> Activity:
    """Log an activity (a call, a meeting...) done on the lead, by a user, with an optional text."""
    async with _client(connection) as nocrm:
        return Activity.model_validate(await nocrm.add_activity(inputs.lead_id, inputs.activity_id, inputs.user_id,
                                                                inputs.content))


ACTIONS = {fn.zap_action.name: fn for fn in (  # type: ignore[attr-defined]
    standby, won, cancelled, lost, todo, assign, assign_random, assign_random_in_a_team, next_step, move_to_step,
    add_tag, send_email_from_template, add_activity)}


async def run_lead_action(name: str, connection: Any, **inputs: Any) -> BaseModel:
    """Run ``nocrm.<name>`` with plain inputs (checked by its input model) and a credentials Block."""
    if name not in ACTIONS:
        raise ValueError(f"action: unknown noCRM action {name!r}; one of {', '.join(sorted(ACTIONS))}")
    spec = ACTIONS[name].zap_action  # type: ignore[attr-defined]
    return await spec.run(spec.input_model.model_validate(inputs), connection)
