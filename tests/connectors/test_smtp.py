"""E-mail over SMTP (docs/connector-smtp.md): `smtp.send_email` through the registry, delivered to the sandbox's
aiosmtpd sink over real sockets (plain, STARTTLS, implicit TLS) and read back from it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError as InputError

from connectors._http import ApiError, AuthError, OutcomeUnknown, ServerError, TransportError, ValidationError
from connectors.smtp import SmtpCredentials
from passerelle.zaps.registry import get_action
from tests.connectors.conftest import Control

USER, PASSWORD = "sandbox", "sandbox-smtp-password"


@pytest.fixture(scope="module")
def smtp_sandbox() -> Iterator[Control]:
    from sandbox.app import create_app
    from sandbox.server import SandboxServer
    from sandbox.smtp.app import build_smtp

    with SandboxServer(app=create_app([build_smtp()])) as server:
        control = Control(server)
        yield control
        control.http.post("/_sandbox/smtp/stop")
        control.http.close()


@pytest.fixture
def sb(smtp_sandbox: Control) -> Control:
    smtp_sandbox.reset()
    return smtp_sandbox


@pytest.fixture
def sink(sb: Control) -> dict[str, Any]:
    """Where the sink listens (started on first use): host, port, tls_port, certificate."""
    return sb.http.post("/_sandbox/smtp/start").raise_for_status().json()


def block(sink: dict[str, Any], security: str = "starttls", **fields: Any) -> SmtpCredentials:
    port = sink["tls_port"] if security == "tls" else sink["port"]
    values = {"host": "localhost", "port": port, "security": security, "username": USER, "password": PASSWORD,
              "default_sender": "Passerelle <bot@passerelle.dev>", "ca_certificate": sink["certificate"],
              **fields}
    return SmtpCredentials(**values)


async def send(connection: Any, **inputs: Any):
    spec = get_action("smtp.send_email")
    return await spec.run(spec.input_model.model_validate(inputs), connection)


def received(sb: Control) -> list[dict[str, Any]]:
    return sb.http.get("/_sandbox/smtp/messages").raise_for_status().json()["messages"]


def header(message: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in message["headers"] if k.lower() == name.lower()]


# -- delivery, read back from the sink ------------------------------------------------------------------

@pytest.mark.parametrize("security", ["starttls", "tls", "none"])
async def test_an_email_is_delivered_with_its_headers_bodies_and_envelope(sb: Control, sink: dict[str, Any],
                                                                         security: str) -> None:
    out = await send(block(sink, security), to="Léa Roy <lea@example.org>, bob@example.org",
                     cc=["carla@example.org"], bcc="hidden@example.org", reply_to="support@passerelle.dev",
                     subject="Bienvenue chez Passerelle", text="Bonjour Léa", html="<p>Bonjour <b>Léa</b></p>")
    [message] = received(sb)
    assert message["envelope_from"] == "bot@passerelle.dev"
    assert message["envelope_to"] == ["lea@example.org", "bob@example.org", "carla@example.org",
                                      "hidden@example.org"]
    assert out.accepted == message["envelope_to"] and out.refused == {}
    assert message["message_id"] == out.message_id and out.message_id.endswith("@passerelle.dev>")
    assert message["from"] == out.sender == "Passerelle <bot@passerelle.dev>"
    assert message["to"] == "Léa Roy <lea@example.org>, bob@example.org"
    assert (message["cc"], message["reply_to"]) == ("carla@example.org", "support@passerelle.dev")
    assert message["subject"] == "Bienvenue chez Passerelle"
    assert header(message, "Bcc") == [] and "hidden@example.org" not in message["raw"]
    assert (message["text"].strip(), message["html"].strip()) == ("Bonjour Léa", "<p>Bonjour <b>Léa</b></p>")
    assert header(message, "Date") and header(message, "Content-Type")[0].startswith("multipart/alternative")
    assert message["auth_user"] == USER
    assert message["tls"] is (security != "none")


async def test_a_from_override_an_html_only_body_and_non_ascii_headers(sb: Control, sink: dict[str, Any]) -> None:
    out = await send(block(sink), to=["Zoé Lefèvre <zoe@exämple.org>"], subject="Réservation confirmée ✓",
                     html="<h1>Merci</h1>", **{"from": "Équipe Oxiva <equipe@oxiva.example>"})
    [message] = received(sb)
    assert message["from"] == out.sender == "Équipe Oxiva <equipe@oxiva.example>"
    assert message["envelope_from"] == "equipe@oxiva.example"
    assert message["envelope_to"] == ["zoe@xn--exmple-cua.org"]  # the domain in its IDNA form
    assert message["subject"] == "Réservation confirmée ✓"
    assert "Réservation" not in message["raw"]  # encoded on the wire (RFC 2047), decoded back above
    assert (message["text"], message["html"].strip()) == (None, "<h1>Merci</h1>")


async def test_recipients_the_server_refuses_are_reported_and_the_others_get_it(sb: Control,
                                                                                sink: dict[str, Any]) -> None:
    sb.load("smtp", {"refuse_recipients": ["gone@example.org"]})
    out = await send(block(sink), to=["lea@example.org", "gone@example.org"], subject="s", text="t")
    assert out.accepted == ["lea@example.org"]
    assert out.refused["gone@example.org"].startswith("550 5.1.1")
    assert [m["envelope_to"] for m in received(sb)] == [["lea@example.org"]]
    with pytest.raises(ValidationError) as info:
        await send(block(sink), to="gone@example.org", subject="s", text="t")
    assert "every recipient was refused" in str(info.value) and "gone@example.org: 550" in str(info.value)
    assert len(received(sb)) == 1


async def test_the_blocks_test_logs_in_and_sends_nothing(sb: Control, sink: dict[str, Any]) -> None:
    assert await block(sink).test() == f"localhost:{sink['port']} accepted the login of {USER} (STARTTLS)"
    assert await block(sink, "tls").test() == f"localhost:{sink['tls_port']} accepted the login of {USER} (TLS)"
    assert received(sb) == []


# -- what goes wrong, named -----------------------------------------------------------------------------

async def test_a_refused_login_is_an_auth_error_naming_the_block_not_the_password(sb: Control,
                                                                                  sink: dict[str, Any]) -> None:
    wrong = block(sink, password="not-the-password")
    wrong._block_document_name = "office"
    for call in (wrong.test(), send(wrong, to="lea@example.org", subject="s", text="t")):
        with pytest.raises(AuthError) as info:
            await call
        text = str(info.value)
        assert "rejected the username and password (535 on SMTP AUTH)" in text
        assert "'smtp-server/office'" in text and "not-the-password" not in text + repr(info.value)
    assert received(sb) == []


async def test_a_server_that_wants_a_login_or_tls_for_it_says_so(sb: Control, sink: dict[str, Any]) -> None:
    with pytest.raises(AuthError) as info:
        await send(block(sink, username=None, password=None), to="lea@example.org", subject="s", text="t")
    assert "530" in str(info.value) and "set username and password" in str(info.value)
    sb.load("smtp", {"auth_require_tls": True})
    with pytest.raises(AuthError) as info:
        await block(sink, "none").test()
    assert "offers no login (AUTH) on this connection" in str(info.value)
    assert "security starttls or tls" in str(info.value)
    assert "STARTTLS" in await block(sink, "starttls").test()


async def test_an_untrusted_certificate_or_a_wrong_security_fails_before_any_login(sb: Control,
                                                                                   sink: dict[str, Any]) -> None:
    with pytest.raises(ApiError, match="TLS certificate is not trusted"):
        await block(sink, ca_certificate=None).test()
    with pytest.raises(ApiError, match="Check security \\(tls\\) against the port"):
        await block(sink, "tls", port=sink["port"]).test()
    with pytest.raises(TransportError, match="a TLS port such as 465 says nothing until the client starts TLS"):
        await block(sink, "starttls", port=sink["tls_port"], timeout=1).test()


async def test_no_server_listening_is_a_transport_error(sb: Control, sink: dict[str, Any]) -> None:
    from sandbox.server import free_port

    with pytest.raises(TransportError) as info:
        await send(block(sink, port=free_port()), to="lea@example.org", subject="s", text="t")
    assert "Check host and port" in str(info.value)


@pytest.mark.parametrize(("fault", "error", "delivered"), [
    ({"code": 451, "message": "4.3.0 Try again later"}, ServerError, 0),
    ({"code": 554, "message": "5.7.1 Message rejected as spam"}, ValidationError, 0),
    ({"disconnect": True}, OutcomeUnknown, 1),
])
async def test_a_refused_message_is_not_delivered_and_a_lost_answer_is_unknown(
        sb: Control, sink: dict[str, Any], fault: dict[str, Any], error: type[ApiError], delivered: int) -> None:
    sb.load("smtp", {"data_fault": fault})
    with pytest.raises(error) as info:
        await send(block(sink), to="lea@example.org", subject="s", text="t")
    assert type(info.value) is error
    assert len(received(sb)) == delivered
    if delivered:  # the sink has it: a person can find it by the Message-ID the error names
        assert f"look for Message-ID {received(sb)[0]['message_id']}" in str(info.value)
    else:
        assert str(fault["code"]) in str(info.value)


@pytest.mark.parametrize(("inputs", "field", "words"), [
    ({"to": "bob@", "subject": "s", "text": "t"}, "to", "'bob@' is not an e-mail address"),
    ({"to": ["lea@example.org", "bob@example"], "subject": "s", "text": "t"}, "to",
     "address 2: 'bob@example': the domain 'example' is not a host name"),
    ({"to": "lea@example.org", "cc": "x@example.org\r\nBcc: spy@evil.example", "subject": "s", "text": "t"}, "cc",
     "line break"),
    ({"to": "lea@example.org", "subject": "s", "text": "t", "from": "Bot <bot@>"}, "from",
     "is not one e-mail address"),
    ({"to": "lea@example.org", "subject": "a\nBcc: spy@evil.example", "text": "t"}, "subject", "one line"),
    ({"to": "", "subject": "s", "text": "t"}, "to", "at least one recipient"),
    ({"to": "lea@example.org", "subject": "s", "text": " "}, "text", "give a text or an html body"),
    ({"to": [f"u{i}@example.org" for i in range(101)], "subject": "s", "text": "t"}, "to", "at most 100"),
])
def test_bad_inputs_are_refused_naming_the_field(inputs: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        get_action("smtp.send_email").input_model.model_validate(inputs)
    error = info.value.errors()[0]
    assert field in (".".join(map(str, error["loc"])) + " " + error["msg"]) and words in error["msg"]


@pytest.mark.parametrize(("fields", "words"), [
    ({"host": "smtp://mail.example.org"}, "host must be a host name"),
    ({"host": "mail.example.org:587"}, "no port: set port"),
    ({"password": None}, "password: give both username and password"),
    ({"default_sender": "bot"}, "'bot' is not an e-mail address"),
    ({"base_url": "http://127.0.0.1:25"}, "base_url must be smtp://HOST:PORT"),
    ({"ca_certificate": "not a pem"}, "ca_certificate must be a PEM"),
    ({"security": "ssl"}, "security"),
])
def test_the_block_refuses_bad_settings_naming_them(fields: dict[str, Any], words: str) -> None:
    values = {"host": "mail.example.org", "username": "bot", "password": "pw", "default_sender": "bot@example.org",
              **fields}
    with pytest.raises(InputError) as info:
        SmtpCredentials(**values)
    assert words in str(info.value)
    assert "'pw'" not in str(info.value)  # the input (and its password) is not echoed


async def test_base_url_points_the_block_at_the_sink_and_secrets_stay_hidden(sb: Control,
                                                                              sink: dict[str, Any]) -> None:
    creds = block(sink, host="smtp.example.org", port=587, base_url=f"smtp://127.0.0.1:{sink['port']}",
                  ca_certificate=None, security="none")
    assert creds.address() == ("127.0.0.1", sink["port"])
    await send(creds, to="lea@example.org", subject="s", text="t")
    assert len(received(sb)) == 1
    assert PASSWORD not in repr(creds) and PASSWORD not in repr(creds.client())
    spec = get_action("smtp.send_email")
    assert (spec.idempotent, spec.connection) == (False, "smtp")
    with pytest.raises(ApiError, match="needs an SMTP connection"):
        await send(None, to="lea@example.org", subject="s", text="t")


# -- the sink itself ------------------------------------------------------------------------------------

def test_the_sink_starts_once_and_its_state_round_trips(sb: Control, sink: dict[str, Any]) -> None:
    again = sb.http.post("/_sandbox/smtp/start", json={"port": 1}).json()
    assert (again["port"], again["tls_port"]) == (sink["port"], sink["tls_port"])  # already listening
    assert sb.http.get("/_sandbox/smtp/server").json() == sink
    assert sb.http.post("/_sandbox/smtp/start", json={"bogus": 1}).status_code == 422
    sb.load("smtp", {"users": [{"username": "a", "password": "b"}], "refuse_recipients": ["X@example.org"],
                     "messages": [{"id": 1, "subject": "kept"}]})
    dumped = sb.state("smtp")
    assert dumped["refuse_recipients"] == ["x@example.org"] and dumped["messages"][0]["subject"] == "kept"
    sb.load("smtp", dumped)
    assert sb.state("smtp") == dumped
    assert sb.http.put("/_sandbox/smtp/state", json={"data_fault": {"code": 200}}).status_code == 422
    assert sb.http.delete("/_sandbox/smtp/messages").json() == {"cleared": "smtp"} and received(sb) == []


def test_served_with_its_lifespan_the_sink_listens_from_startup(monkeypatch) -> None:
    from fastapi.testclient import TestClient

    from sandbox.app import create_app
    from sandbox.server import free_port
    from sandbox.smtp.app import build_smtp

    port = free_port()
    monkeypatch.setenv("PASSERELLE_SANDBOX_SMTP_PORT", str(port))
    with TestClient(create_app([build_smtp()])) as client:
        info = client.get("/_sandbox/smtp/server").json()
        assert (info["running"], info["port"]) == (True, port)
        creds = SmtpCredentials(host="127.0.0.1", port=port, security="none", username=USER, password=PASSWORD,
                                default_sender="bot@passerelle.dev")
        assert "accepted the login" in asyncio.run(creds.test())
    assert TestClient(create_app([build_smtp()])).get("/_sandbox/smtp/server").json() == {"running": False}


@pytest.mark.prefect
async def test_a_saved_smtp_server_loads_as_a_connection_and_sends(prefect_server, sb: Control,
                                                                   sink: dict[str, Any]) -> None:
    import uuid

    from connectors.registry import load_connection

    name = f"smtp-{uuid.uuid4().hex[:8]}"
    await block(sink).save(name)
    loaded = await load_connection("smtp", name)
    assert loaded.password.get_secret_value() == PASSWORD and loaded.block_ref == f"smtp-server/{name}"
    out = await send(loaded, to="lea@example.org", subject="from a saved block", text="t")
    assert [m["message_id"] for m in received(sb)] == [out.message_id]
