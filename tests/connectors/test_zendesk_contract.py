"""Contract: every request the Zendesk connector sends is an operation of Zendesk's own OpenAPI file
(../shared/specs/zendesk/zendesk_support_oas.yaml, OAS 3.0.3): the path and method exist, each query parameter
is declared (or is the operation's documented pagination), and each JSON body validates against the
operation's requestBody schema with `jsonschema`.

The schemas are made *strict* here: an object listing its properties accepts no others (the OAS never says
`additionalProperties: false`, so a misspelt field would otherwise pass) and read-only properties are removed
(OpenAPI 3.0: not sent in requests). Two known gaps of the 2024 snapshot are patched, each pinned by a test
showing the unpatched file refuses what the live API takes:

- `TicketCreateInput` lacks `requester {name, email, locale_id}` (../shared/specs/SOURCES.md, "Known gaps";
  the live Create Ticket docs and API-NOTES §4 have it);
- `TicketCreateInput.custom_fields` items point at `CustomFieldObject`, the *ticket field definition*
  (required `key`, `type`, `title`), where the live API and the same file's `TicketObject.custom_fields`
  take `{id, value}` (not in SOURCES.md yet).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from typing import Any

import httpx
import jsonschema
import pytest
import respx
import yaml

from connectors._http import RetryPolicy
from connectors.zendesk import ZendeskClient
from tests.support.oas import SPECS

OAS_PATH = SPECS / "zendesk" / "zendesk_support_oas.yaml"
BASE = "https://acme.zendesk.com"
# Pagination parameters are documented once for the whole API (API-NOTES §4 "Pagination"; Zendesk's
# "Pagination" introduction), not per operation in the OAS. Per operation, what its description says:
PAGINATION = {
    ("GET", "/api/v2/users/search"): {"page", "per_page"},              # "Offset pagination only"
    ("GET", "/api/v2/ticket_fields"): {"page[size]", "page[after]"},    # "Cursor pagination (recommended)"
    ("GET", "/api/v2/ticket_forms"): {"page[size]", "page[after]"},     # not said: Zendesk's general cursor rule
    ("GET", "/api/v2/tickets"): {"page", "per_page", "page[size]", "page[after]"},
}
REQUESTER = {"type": "object", "properties": {"name": {"type": "string"}, "email": {"type": "string"},
                                              "locale_id": {"type": "integer"}}, "required": ["email"]}
CUSTOM_FIELD_VALUE = {"type": "object", "properties": {"id": {"type": "integer"}, "value": {}}, "required": ["id"]}
pytestmark = pytest.mark.skipif(not OAS_PATH.exists(), reason=f"{OAS_PATH} is not here")


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads the bare `=` the file uses as a mapping value (SOURCES.md: YAML gotcha)."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


@functools.cache
def oas() -> dict[str, Any]:
    with OAS_PATH.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def resolve(node: Any, stack: tuple[str, ...] = ()) -> Any:
    """Inline `#/components/...` references (a cycle becomes `{}`) and turn `nullable` into JSON Schema."""
    if isinstance(node, list):
        return [resolve(item, stack) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in stack:
            return {}
        target: Any = oas()
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        return resolve(target, (*stack, ref))
    out = {k: resolve(v, stack) for k, v in node.items() if k not in ("example", "examples", "nullable")}
    if node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def strict(schema: Any) -> Any:
    """No property the schema does not list; no read-only property."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: v for k, v in out["properties"].items() if not v.get("readOnly")}
        out.setdefault("additionalProperties", False)
    return out


def operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The OAS path template and operation of a request path (Zendesk's `.json` suffix is optional)."""
    path = path.removesuffix(".json")
    paths = oas()["paths"]  # a literal path wins over a template (/users/me, not /users/{user_id})
    for template in sorted(paths, key=lambda t: (t != path, t.count("{"))):
        item = paths[template]
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            assert method.lower() in item, f"{method} {template} is not an operation of the OAS"
            return template, item[method.lower()]
    raise AssertionError(f"{path} is no path of the OAS")


def body_schema(op: dict[str, Any], *, patched: bool = True) -> dict[str, Any]:
    schema = strict(resolve(op["requestBody"]["content"]["application/json"]["schema"]))
    if patched and op.get("operationId") == "CreateTicket":
        ticket = schema["properties"]["ticket"]
        ticket["properties"]["requester"] = strict(REQUESTER)
        ticket["properties"]["custom_fields"]["items"] = strict(CUSTOM_FIELD_VALUE)
    if patched and op.get("operationId") == "UpdateTicket":
        # The same custom_fields gap; and `TicketUpdateInput` has no `ticket_form_id`, which the live API takes on
        # an update ("Setting the ticket form": developer.zendesk.com, tickets API) — the escalation of an
        # archived conversation moves its ticket to the escalation form.
        ticket = schema["properties"]["ticket"]
        ticket["properties"]["custom_fields"]["items"] = strict(CUSTOM_FIELD_VALUE)
        ticket["properties"].setdefault("ticket_form_id", {"type": "integer"})
    return schema


def check(request: httpx.Request, *, patched: bool = True) -> str:
    """Raise AssertionError / jsonschema.ValidationError unless the request is an OAS operation."""
    template, op = operation(request.method, request.url.path)
    declared = {resolve(p)["name"] for p in op.get("parameters", []) if resolve(p)["in"] == "query"}
    allowed = declared | PAGINATION.get((request.method, template), set())
    unknown = set(request.url.params) - allowed
    assert not unknown, f"{request.method} {template}: query parameters {sorted(unknown)} are not declared"
    if request.content:
        assert "requestBody" in op, f"{request.method} {template} takes no body"
        jsonschema.Draft7Validator(body_schema(op, patched=patched)).validate(json.loads(request.content))
    return f"{request.method} {template}"


def answer(request: httpx.Request) -> httpx.Response:
    """Plausible answers, with a second page for each listing so that next-page requests are captured too."""
    path, params = request.url.path.removesuffix(".json"), request.url.params
    if request.method == "POST":
        return httpx.Response(201, json={"ticket": {"id": 1}})
    if path == "/api/v2/users/me":
        return httpx.Response(200, json={"user": {"id": 1, "role": "admin"}})
    if path.startswith("/api/v2/tickets/"):
        return httpx.Response(200, json={"ticket": {"id": 1}})
    key = {"/api/v2/users/search": "users", "/api/v2/tickets": "tickets"}.get(path)
    if key:  # offset pages
        nxt = None if "page" in params else str(request.url.copy_merge_params({"page": 2}))
        return httpx.Response(200, json={key: [], "next_page": nxt, "previous_page": None, "count": 0})
    key = path.rsplit("/", 1)[-1]
    more = "page[after]" not in params
    nxt = str(request.url.copy_merge_params({"page[after]": "c2"})) if more else None
    return httpx.Response(200, json={key: [], "meta": {"has_more": more, "after_cursor": "c2", "before_cursor": "c1"},
                                     "links": {"next": nxt, "prev": None}})


TICKETS = [
    {"comment": {"body": "transcript"}},
    {"subject": "Conversation 42", "status": "solved", "external_id": "conv-42", "ticket_form_id": 360001,
     "comment": {"body": "Visitor: hello", "public": True}, "requester": {"name": "Léa Roy", "email": "lea@x.org"},
     "custom_fields": [{"id": 360002, "value": "Ana Silva"}], "tags": ["iadvize"]},
    {"status": "open", "requester_id": 42, "comment": {"html_body": "<p>note</p>", "public": False},
     "priority": "normal", "type": "question"},
]

UPDATES = [  # what the archival sends (tasks/iadvize_zendesk/apply.py): a private note, and an escalation's move
    {"comment": {"body": "Conversation: https://ha.iadvize.com/…", "public": False}, "tags": ["iadvize", "note"]},
    {"status": "open", "ticket_form_id": 360009, "custom_fields": [{"id": 360002, "value": "Ana Silva"}],
     "comment": {"body": "Escalated by Ana Silva", "public": False}, "tags": ["iadvize", "escalated"]},
]


@pytest.fixture(scope="module")
def sent() -> list[httpx.Request]:
    """Every request shape the connector produces, captured with respx."""
    import asyncio

    async def produce() -> list[httpx.Request]:
        with respx.mock(base_url=BASE, assert_all_called=True) as mock:
            route = mock.route().mock(side_effect=answer)
            async with ZendeskClient(domain=BASE, email="a@acme.com", api_token="t",
                                     retry=RetryPolicy(max_attempts=1)) as zendesk:
                await zendesk.me()
                await zendesk.find_user_by_email("lea@x.org")
                await zendesk.search_users("role:agent")
                await zendesk.tickets_by_external_id("conv-42")
                await zendesk.get_ticket(1)
                await zendesk.ticket_forms()
                await zendesk.ticket_forms(active=True)
                await zendesk.ticket_fields()
                for i, ticket in enumerate(TICKETS):
                    await zendesk.create_ticket(ticket, idempotency_key=f"k{i}" if i else None)
                for update in UPDATES:
                    await zendesk.update_ticket(1, update)
            return [call.request for call in route.calls]

    return asyncio.run(produce())


def test_every_request_the_connector_sends_is_an_oas_operation(sent: list[httpx.Request]) -> None:
    operations = [check(request) for request in sent]
    assert set(operations) == {"GET /api/v2/users/me", "GET /api/v2/users/search", "GET /api/v2/tickets",
                               "GET /api/v2/tickets/{ticket_id}", "GET /api/v2/ticket_forms",
                               "GET /api/v2/ticket_fields", "POST /api/v2/tickets",
                               "PUT /api/v2/tickets/{ticket_id}"}
    paged = {r.url.path: r.url.params for r in sent if "page" in r.url.params or "page[after]" in r.url.params}
    assert set(paged) == {"/api/v2/users/search", "/api/v2/tickets", "/api/v2/ticket_forms",
                          "/api/v2/ticket_fields"}  # the next pages were read, and checked, too
    assert len([r for r in sent if r.method == "POST"]) == len(TICKETS)


def test_the_oas_documents_the_pagination_allowed_here() -> None:
    for template, style in (("/api/v2/users/search", "Offset pagination only"),
                            ("/api/v2/ticket_fields", "Cursor pagination")):
        assert style in oas()["paths"][template]["get"]["description"]


def test_the_checker_refuses_what_the_oas_does_not_have() -> None:
    def request(method: str, path: str, body: Any = None, **params: str) -> httpx.Request:
        return httpx.Request(method, f"{BASE}{path}", params=params, json=body)

    with pytest.raises(AssertionError, match="no path"):
        check(request("GET", "/api/v2/ticket"))
    with pytest.raises(AssertionError, match="not an operation"):
        check(request("DELETE", "/api/v2/users/me"))
    with pytest.raises(AssertionError, match=r"\['sort'\]"):
        check(request("GET", "/api/v2/users/search", query="x", sort="id"))
    with pytest.raises(jsonschema.ValidationError, match="requestor"):
        check(request("POST", "/api/v2/tickets", {"ticket": {"comment": {"body": "x"}, "requestor": {}}}))
    with pytest.raises(jsonschema.ValidationError, match="'comment' is a required property"):
        check(request("POST", "/api/v2/tickets", {"ticket": {"subject": "x"}}))
    with pytest.raises(jsonschema.ValidationError, match="'done' is not one of"):
        check(request("POST", "/api/v2/tickets", {"ticket": {"comment": {"body": "x"}, "status": "done"}}))


@pytest.mark.parametrize("field", [{"requester": {"name": "Léa", "email": "lea@x.org"}},
                                   {"custom_fields": [{"id": 360002, "value": "Ana"}]}])
def test_the_two_patched_gaps_are_real(field: dict[str, Any]) -> None:
    """Unpatched, the 2024 OAS refuses what the live API takes; patched, it accepts it."""
    request = httpx.Request("POST", f"{BASE}/api/v2/tickets", json={"ticket": {"comment": {"body": "x"}, **field}})
    with pytest.raises(jsonschema.ValidationError):
        check(request, patched=False)
    assert check(request) == "POST /api/v2/tickets"


@pytest.mark.parametrize("field", [{"ticket_form_id": 360009}, {"custom_fields": [{"id": 360002, "value": "Ana"}]}])
def test_the_patched_gaps_of_the_update_are_real(field: dict[str, Any]) -> None:
    request = httpx.Request("PUT", f"{BASE}/api/v2/tickets/1", json={"ticket": {"status": "open", **field}})
    with pytest.raises(jsonschema.ValidationError):
        check(request, patched=False)
    assert check(request) == "PUT /api/v2/tickets/{ticket_id}"


def test_the_patch_leaves_the_original_schema_alone() -> None:
    before = copy.deepcopy(oas()["components"]["schemas"]["TicketCreateInput"])
    body_schema(oas()["paths"]["/api/v2/tickets"]["post"])
    assert oas()["components"]["schemas"]["TicketCreateInput"] == before


@pytest.mark.parametrize("inputs", [
    {"comment_body": "Password reset asked"},
    {"subject": "Password reset: lea@x.org", "comment_body": "<p>Reset</p>", "comment_html": True,
     "comment_public": False, "requester_email": "lea@x.org", "requester_name": "Léa", "priority": "high",
     "type": "task", "tags": ["okast", "password"], "external_id": "okast-42", "custom_fields": {360002: "web"}},
])
def test_the_zendesk_create_ticket_action_sends_oas_tickets(inputs: dict[str, Any]) -> None:
    """The zap action `zendesk.create_ticket` (connectors/zendesk/zap.py) builds its own ticket object: each shape
    it produces is a `POST /api/v2/tickets` body the OAS takes (requester patched as above)."""
    from connectors.zendesk.zap import CreateTicketInput

    request = httpx.Request("POST", f"{BASE}/api/v2/tickets.json",
                            json={"ticket": CreateTicketInput.model_validate(inputs).ticket()})
    assert check(request) == "POST /api/v2/tickets"
