"""Contract: every request the Mailchimp connector sends is an operation of Mailchimp's published Swagger 2 slice
(../shared/specs/mailchimp/mailchimp_marketing_lists_slice_swagger2.yml, spec 3.0.55): the path (under basePath
/3.0) and method exist, each query parameter is declared, each JSON body validates against the operation's
`in: body` schema made strict (tests/support/oas.py). The emulator's answers validate against the same file's
response schemas, strict too: the emulator invents no field.

Known gaps, patched only here and each pinned by a test: the slice holds the `/lists/{list_id}/...` paths only,
so `GET /ping` (Mailchimp's health check, the Block's test call) is not in it; its problem document has no
`errors` array, which the live API sends with every "Invalid Resource" answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import jsonschema
import pytest
import respx

from connectors._http import RetryPolicy
from connectors.mailchimp import MailchimpCredentials, subscriber_hash
from connectors.mailchimp.zap import AddMemberTagsInput, UpsertMemberInput, add_member_tags, upsert_member
from tests.support.oas import SPECS, load, match_template, needs, resolve, strict

SPEC = SPECS / "mailchimp" / "mailchimp_marketing_lists_slice_swagger2.yml"
pytestmark = needs(SPEC)
KEY = "0123456789abcdef0123456789abcdef-us21"
BASE = "https://us21.api.mailchimp.com/3.0"
LIST = "8e3b1f0c2a"
OUTSIDE_SLICE = {("GET", "/ping"): {"operationId": "getPing", "parameters": []}}  # the known gap


def spec() -> dict[str, Any]:
    return load(SPEC)


def operation(method: str, path: str, *, patched: bool = True) -> tuple[str, dict[str, Any]]:
    base = spec()["basePath"]
    assert path.startswith(base + "/"), f"{path} is not under the spec's basePath {base}"
    relative = path.removeprefix(base)
    if patched and (method, relative) in OUTSIDE_SLICE:
        return relative, OUTSIDE_SLICE[(method, relative)]
    template = match_template(spec()["paths"], relative)
    assert template is not None, f"{relative} is no path of the spec"
    item = spec()["paths"][template]
    assert method.lower() in item, f"{method} {template} is not an operation of the spec"
    return template, item[method.lower()]


def body_schema(op: dict[str, Any]) -> dict[str, Any]:
    body = [p for p in op.get("parameters", []) if p.get("in") == "body"]
    assert body, f"{op['operationId']} takes no body"
    return strict(resolve(body[0]["schema"], spec()))


def check(request: httpx.Request, *, patched: bool = True) -> str:
    """Raise AssertionError / jsonschema.ValidationError unless the request is an operation of the spec."""
    template, op = operation(request.method, request.url.path, patched=patched)
    declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
    unknown = set(request.url.params) - declared
    assert not unknown, f"{request.method} {template}: query parameters {sorted(unknown)} are not declared"
    if request.content:
        jsonschema.Draft4Validator(body_schema(op)).validate(json.loads(request.content))
    scheme, _, encoded = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic" and base64.b64decode(encoded).decode().partition(":")[2] == KEY  # basicAuth
    return f"{request.method} {template}"


def answer(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path.endswith("/ping"):
        return httpx.Response(200, json={"health_status": "Everything's Chimpy!"})
    if path.endswith("/tags") and request.method == "POST":
        return httpx.Response(204)
    if path.endswith("/tags"):  # a full first page and one more tag, so that the second page is read too
        count = int(request.url.params["count"])
        size = count if request.url.params.get("offset") == "0" else 1
        tags = [{"id": i, "name": f"t{i}", "date_added": "2026-01-01T00:00:00+00:00"} for i in range(size)]
        return httpx.Response(200, json={"tags": tags, "total_items": count + 1})
    if "/members/" in path:
        body = json.loads(request.content) if request.content else {}
        return httpx.Response(200, json={"id": path.rsplit("/", 1)[1], "email_address": body.get("email_address", "x"),
                                         "status": "subscribed", "list_id": LIST, "merge_fields": {}, "tags": []})
    return httpx.Response(200, json={"id": LIST, "name": "Newsletter"})


UPSERTS = [
    {"list_id": LIST, "email": "lea@example.org"},
    {"list_id": LIST, "email": " Lea.Roy@Example.org ", "status_if_new": "pending", "status": "subscribed",
     "first_name": "Léa", "last_name": "Roy", "merge_fields": {"PHONE": "+15145550100", "AGE": 33, "NOTE": None},
     "language": "fr", "skip_merge_validation": True},
]
TAGS = [
    {"list_id": LIST, "email": "lea@example.org", "tags": ["okast", "free copy"]},
    {"list_id": LIST, "email": "lea@example.org", "remove_tags": ["trial"], "is_syncing": True},
    {"list_id": LIST, "email": "lea@example.org", "tags": ["renewed"], "remove_tags": ["trial"]},
]


@pytest.fixture(scope="module")
def sent() -> list[httpx.Request]:
    """Every request shape the connector produces (the actions, the Block's test, the reads), captured."""

    async def produce() -> list[httpx.Request]:
        creds = MailchimpCredentials(api_key=KEY)
        with respx.mock(base_url=BASE, assert_all_called=True) as mock:
            route = mock.route().mock(side_effect=answer)
            await creds.test()
            for inputs in UPSERTS:
                await upsert_member(UpsertMemberInput(**inputs), creds)
            for inputs in TAGS:
                await add_member_tags(AddMemberTagsInput(**inputs), creds)
            async with creds.client(retry=RetryPolicy(max_attempts=1)) as mailchimp:
                await mailchimp.get_list(LIST)
                await mailchimp.get_member(LIST, "lea@example.org")
                await mailchimp.member_tags(LIST, "lea@example.org")
            return [call.request for call in route.calls]

    return asyncio.run(produce())


def test_every_request_the_connector_sends_is_an_operation_of_the_spec(sent: list[httpx.Request]) -> None:
    operations = [check(request) for request in sent]
    assert set(operations) == {
        "GET /ping", "PUT /lists/{list_id}/members/{subscriber_hash}",
        "POST /lists/{list_id}/members/{subscriber_hash}/tags", "GET /lists/{list_id}",
        "GET /lists/{list_id}/members/{subscriber_hash}", "GET /lists/{list_id}/members/{subscriber_hash}/tags"}
    assert operations.count("PUT /lists/{list_id}/members/{subscriber_hash}") == len(UPSERTS)
    assert operations.count("POST /lists/{list_id}/members/{subscriber_hash}/tags") == len(TAGS)
    pages = [r.url.params.get("offset") for r in sent if r.method == "GET" and r.url.path.endswith("/tags")]
    assert pages == ["0", "1000"]  # the second page was read, and checked, too


def test_the_member_path_is_the_md5_of_the_lower_cased_address(sent: list[httpx.Request]) -> None:
    """The spec: "The MD5 hash of the lowercase version of the list member's email address"."""
    puts = [r for r in sent if r.method == "PUT"]
    assert puts[1].url.path.rsplit("/", 1)[1] == subscriber_hash("lea.roy@example.org")
    assert json.loads(puts[1].content)["email_address"] == "Lea.Roy@Example.org"
    assert json.loads(puts[1].content)["merge_fields"] == {"PHONE": "+15145550100", "AGE": 33, "NOTE": None,
                                                           "FNAME": "Léa", "LNAME": "Roy"}


def test_the_checker_refuses_what_the_spec_does_not_have() -> None:
    auth = {"Authorization": "Basic " + base64.b64encode(f"any:{KEY}".encode()).decode()}

    def request(method: str, path: str, body: Any = None, **params: str) -> httpx.Request:
        return httpx.Request(method, f"{BASE}{path}", params=params, json=body, headers=auth)

    member = f"/lists/{LIST}/members/{subscriber_hash('lea@example.org')}"
    with pytest.raises(AssertionError, match="no path"):
        check(request("GET", f"/lists/{LIST}/subscribers"))
    with pytest.raises(AssertionError, match="not an operation"):
        check(request("POST", member, {"email_address": "lea@example.org", "status_if_new": "subscribed"}))
    with pytest.raises(AssertionError, match=r"\['skip_validation'\]"):
        check(request("PUT", member, {"email_address": "x@y.org", "status_if_new": "subscribed"}, skip_validation="1"))
    with pytest.raises(jsonschema.ValidationError, match="'status_if_new' is a required property"):
        check(request("PUT", member, {"email_address": "lea@example.org"}))
    with pytest.raises(jsonschema.ValidationError, match="'active' is not one of"):
        check(request("PUT", member, {"email_address": "lea@example.org", "status_if_new": "active"}))
    with pytest.raises(jsonschema.ValidationError, match="'tags' was unexpected"):
        check(request("PUT", member, {"email_address": "x@y.org", "status_if_new": "subscribed", "tags": ["a"]}))
    with pytest.raises(jsonschema.ValidationError, match="'status' is a required property"):
        check(request("POST", f"{member}/tags", {"tags": [{"name": "okast"}]}))


def test_ping_is_outside_the_slice_and_only_it_is_patched() -> None:
    """The gap: the slice has no /ping; unpatched, the Block's test call fails the check."""
    ping = httpx.Request("GET", f"{BASE}/ping", headers={
        "Authorization": "Basic " + base64.b64encode(f"any:{KEY}".encode()).decode()})
    assert "/ping" not in spec()["paths"] and all(p.startswith("/lists/{list_id}") for p in spec()["paths"])
    with pytest.raises(AssertionError, match="no path"):
        check(ping, patched=False)
    assert check(ping) == "GET /ping"


# The problem document's `errors` array ([{field, message}], "For field-specific details, see the 'errors'
# array"): sent by the live API with every "Invalid Resource" (API-NOTES §8; answers quoted in public issue
# threads), absent from the slice's schema.
ERRORS = {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"},
                                                                       "message": {"type": "string"}}}}


def response_schema(method: str, template: str, status: str, *, patched: bool = True) -> dict[str, Any]:
    responses = spec()["paths"][template][method.lower()]["responses"]
    schema = strict(resolve((responses.get(status) or responses["default"])["schema"], spec()), request=False)
    if patched and status == "default":
        schema["properties"]["errors"] = strict(ERRORS, request=False)
    return schema


def test_the_emulators_answers_follow_the_spec(sandbox) -> None:
    """The emulator's member, tags and problem documents validate against the spec's response schemas."""
    root = f"{sandbox.url}/mailchimp"
    auth = ("any", "sandbox-mailchimp-key-us21")
    member = f"/lists/{LIST}/members/{subscriber_hash('lea@example.org')}"
    with httpx.Client(base_url=root, auth=auth) as http:
        put = http.put(member, json={"email_address": "lea@example.org", "status_if_new": "subscribed",
                                     "merge_fields": {"FNAME": "Léa"}})
        tags = http.post(f"{member}/tags", json={"tags": [{"name": "okast", "status": "active"}]})
        listed = http.get(f"{member}/tags")
        missing = http.put(f"/lists/nolist{member.removeprefix('/lists/' + LIST)}",
                           json={"email_address": "lea@example.org", "status_if_new": "subscribed"})
        bad = http.put(member, json={"email_address": "not-an-address", "status_if_new": "subscribed"})
    assert (put.status_code, tags.status_code, listed.status_code, missing.status_code, bad.status_code) == (
        200, 204, 200, 404, 400)
    template = "/lists/{list_id}/members/{subscriber_hash}"
    jsonschema.Draft4Validator(response_schema("PUT", template, "200")).validate(put.json())
    jsonschema.Draft4Validator(response_schema("GET", f"{template}/tags", "200")).validate(listed.json())
    for problem in (missing, bad):
        assert problem.headers["content-type"].startswith("application/problem+json")
        jsonschema.Draft4Validator(response_schema("PUT", template, "default")).validate(problem.json())
    assert bad.json()["errors"][0]["field"] == "email_address"
    with pytest.raises(jsonschema.ValidationError, match="'errors' was unexpected"):  # the second gap, pinned
        jsonschema.Draft4Validator(response_schema("PUT", template, "default", patched=False)).validate(bad.json())
