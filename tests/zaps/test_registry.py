"""The apps registry: specs built from annotations, unknown refs, duplicates, the refs this round registers."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from passerelle.zaps import registry
from passerelle.zaps.registry import RegistryError, UnknownRef, action, get_action, get_trigger, isolated, trigger


class AddInput(BaseModel):
    email: str
    tags: list[str] = []


class AddOutput(BaseModel):
    id: int


def test_the_decorator_builds_the_spec_from_the_annotations_and_docstring():
    with isolated():
        @action("demo_app", "add_member", title="Add a member", idempotent=True, connection="demo_app")
        async def add_member(inputs: AddInput, connection=None) -> AddOutput:
            """Add or update one member by e-mail.

            Longer text that the listing does not show."""
            return AddOutput(id=1)

        spec = get_action("demo_app.add_member")
        assert spec.input_model is AddInput and spec.output_model is AddOutput
        assert spec.run is add_member and add_member.zap_action is spec
        assert (spec.app, spec.name, spec.ref, spec.title) == ("demo_app", "add_member", "demo_app.add_member",
                                                               "Add a member")
        assert spec.description == "Add or update one member by e-mail."
        assert spec.idempotent is True and spec.connection == "demo_app"
        assert spec.is_idempotent(AddInput(email="a@example.org")) is True
    with pytest.raises(UnknownRef):  # isolated() left nothing behind
        get_action("demo_app.add_member")


@pytest.mark.parametrize("make, fragment", [
    (lambda: (lambda inputs: None), "must be an `async def`"),
    (lambda: _untyped_input, "annotate its first parameter with the input model"),
    (lambda: _untyped_output, "annotate its return with the output model"),
])
def test_an_action_without_models_is_refused_with_what_to_annotate(make, fragment):
    with isolated(), pytest.raises(RegistryError, match="action demo_app.bad") as err:
        action("demo_app", "bad", title="Bad", idempotent=False)(make())
    assert fragment in str(err.value)


async def _untyped_input(inputs, connection=None) -> AddOutput:
    return AddOutput(id=1)


async def _untyped_output(inputs: AddInput, connection=None) -> dict:
    return {}


def test_an_unknown_ref_names_the_known_ones():
    with pytest.raises(KeyError) as err:
        get_action("http.reqest")
    message = str(err.value)
    assert "unknown action 'http.reqest'" in message and "known actions: " in message and "http.request" in message
    with pytest.raises(KeyError, match=r"write it as app.name"):
        get_action("request")
    with pytest.raises(KeyError) as err:
        get_trigger("catch.hooks")
    assert "catch.hook" in str(err.value) and "schedule.cron" in str(err.value)


def test_a_duplicate_registration_is_refused():
    with isolated():
        @action("demo_app", "send", title="Send", idempotent=False)
        async def send(inputs: AddInput, connection=None) -> AddOutput:
            return AddOutput(id=1)

        with pytest.raises(RegistryError, match="action demo_app.send is already registered"):
            @action("demo_app", "send", title="Send again", idempotent=False)
            async def send_again(inputs: AddInput, connection=None) -> AddOutput:
                return AddOutput(id=2)

        assert get_action("demo_app.send").run is send
        trigger("demo_app", "new", title="New", kind="webhook", sample={"id": 1}, dedupe_key="id")
        with pytest.raises(RegistryError, match="trigger demo_app.new is already registered"):
            trigger("demo_app", "new", title="Other", kind="polling", sample={"id": 1}, dedupe_key="id")
        with pytest.raises(RegistryError, match="action http.request is already registered"):
            @action("http", "request", title="Mine", idempotent=True)
            async def mine(inputs: AddInput, connection=None) -> AddOutput:
                return AddOutput(id=3)


def test_triggers_are_checked_when_declared():
    with isolated():
        with pytest.raises(RegistryError, match="kind 'hook' is not one of webhook, catch_hook, polling, schedule"):
            trigger("demo_app", "x", title="X", kind="hook", sample={})
        with pytest.raises(RegistryError, match="dedupe_key 'uuid' is not a field of its sample"):
            trigger("demo_app", "y", title="Y", kind="polling", sample={"id": 1}, dedupe_key="uuid")
        with pytest.raises(RegistryError, match="app 'Demo-App'"):
            trigger("Demo-App", "z", title="Z", kind="webhook", sample={})


def test_load_apps_registers_this_rounds_triggers_and_action_once():
    registry.load_apps()
    registry.load_apps()
    assert {t.ref: t.kind for t in registry.triggers()}.items() >= {
        "catch.hook": "catch_hook", "schedule.cron": "schedule", "schedule.interval": "schedule",
        "http.poll": "polling"}.items()
    assert get_trigger("http.poll").dedupe_key == "id" and "id" in get_trigger("http.poll").sample
    spec = get_action("http.request")
    from tasks.actions.http import HttpRequestInput, HttpResponseOutput, request

    assert spec.input_model is HttpRequestInput and spec.output_model is HttpResponseOutput and spec.run is request
    assert spec.connection is None


@pytest.mark.parametrize("method, headers, key, expected", [
    ("GET", {}, None, True), ("HEAD", {}, None, True), ("PUT", {}, None, True), ("DELETE", {}, None, True),
    ("POST", {}, None, False), ("PATCH", {}, None, False),
    ("POST", {"Idempotency-Key": "zap-1:run-9:step-2"}, "Idempotency-Key", True),
])
def test_http_request_idempotence_follows_the_method_or_an_idempotency_key(method, headers, key, expected):
    spec = get_action("http.request")
    inputs = spec.input_model(method=method, url="https://api.example.org/x", headers=headers,
                              idempotency_key_header=key)
    assert spec.is_idempotent(inputs) is expected


def test_an_idempotency_key_header_must_be_sent():
    spec = get_action("http.request")
    with pytest.raises(PydanticValidationError, match="idempotency_key_header: header 'Idempotency-Key' is not in"):
        spec.input_model(method="POST", url="https://api.example.org/x", idempotency_key_header="Idempotency-Key")


@pytest.mark.parametrize("fields, fragment", [
    ({"url": "ftp://example.org/file"}, "give a full http:// or https:// URL"),
    ({"url": "https://user:secret@example.org/"}, "credentials in the URL"),
    ({"url": "https://example.org/", "body": {"a": 1}}, "body: a GET request carries no body"),
    ({"url": "https://example.org/", "method": "POST", "body": [1], "body_format": "form"}, "needs a mapping"),
    ({"url": "https://example.org/", "headers": {"Host": "internal"}}, "Host: set by Passerelle"),
    ({"url": "https://example.org/", "expected_statuses": [700]}, "between 100 and 599"),
    ({"url": "https://example.org/", "method": "TRACE"}, "method"),
])
def test_bad_http_inputs_name_the_field_and_the_fix(fields, fragment):
    with pytest.raises(PydanticValidationError) as err:
        get_action("http.request").input_model(**fields)
    assert fragment in str(err.value)
    assert "secret" not in str(err.value)  # inputs are not echoed: headers and URLs may hold secrets
