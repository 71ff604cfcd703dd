"""Oxiva (../shared/seeds/oxiva-zapier.txt) against its emulator over a real socket: the test call
`GET …/v2.0/version/?dossier=&token=`, the three catch-hook hydrations with the seed's requests and filters, their
errors naming the query parameter, and the whole path the seed describes — Oxiva calls the hook URL of its Zapier
panel (`passerelle hooks add catch --link oxiva-new-ticket`) with `?id=…&sticket_id=…&url=…`, the gateway stores
the call, the trigger reads the ticket from the API. The emulator's default dossier: sandbox/oxiva/state.py."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

import pytest
from typer.testing import CliRunner

from connectors._http import AuthError, RateLimitedError
from connectors.oxiva import HookCallError, OxivaCredentials
from connectors.oxiva.zap import hydrate_activity, hydrate_client, hydrate_ticket
from passerelle.zaps.registry import get_trigger
from tests.connectors.conftest import FAST_RETRY, Control

TOKEN = "sandbox-oxiva-token"
ROOT = "/oxiva/appli/api/oxiva/v2.0"


def creds(sb: Control, dossier: str = "demo", token: str = TOKEN) -> OxivaCredentials:
    block = OxivaCredentials(dossier=dossier, token=token, base_url=f"{sb.server.url}{ROOT}")
    block._block_document_name = "my-dossier"
    return block


def call(**query: str) -> dict[str, Any]:
    """A catch-hook call as the gateway stores it (passerelle/gateway/sources/catch.py)."""
    return {"method": "GET", "query": {**query, "url": "https://hooks.example.org/hooks/catch/oxiva-x/***/"}}


def sent(sb: Control) -> list[dict[str, Any]]:
    """The emulator's request log: path and query parameters of each call."""
    return [{"path": r["path"], "query": {k: v[0] for k, v in parse_qs(r["query"]).items()}, "status": r["status"]}
            for r in sb.requests("oxiva")]


# -- the connection -------------------------------------------------------------------------------------------

async def test_the_test_call_is_get_version_with_dossier_and_token_in_the_query(sb: Control) -> None:
    verdict = await creds(sb).test()
    assert verdict == "Oxiva accepted the API token of dossier 'demo' (GET /version/; API 2.0)"
    assert sent(sb) == [{"path": f"{ROOT}/version/", "query": {"dossier": "demo", "token": TOKEN}, "status": 200}]


@pytest.mark.parametrize("dossier, token", [("demo", "wrong-token"), ("no-such-dossier", TOKEN)])
async def test_a_wrong_token_or_dossier_is_an_auth_error_naming_the_block(sb: Control, dossier, token) -> None:
    with pytest.raises(AuthError) as caught:
        await creds(sb, dossier, token).test()
    text = str(caught.value)
    assert "Oxiva rejected the API token (401 on GET /version/): Dossier ou token invalide." in text
    assert "'oxiva-credentials/my-dossier' block" in text and token not in text.replace("API token", "")


async def test_a_dossier_whose_api_is_not_activated_is_refused_403(sb: Control) -> None:
    document = sb.state("oxiva")
    document["dossiers"][0]["api_active"] = False
    sb.load("oxiva", document)
    with pytest.raises(AuthError) as caught:
        await creds(sb).test()
    assert caught.value.status == 403 and "L'API Oxiva n'est pas activée" in str(caught.value)


async def test_429_with_retry_after_is_retried_then_reported(sb: Control) -> None:
    sb.faults("oxiva", rate_429=1.0, retry_after=0)
    with pytest.raises(RateLimitedError):
        async with creds(sb).client(retry=FAST_RETRY) as oxiva:
            await oxiva.version()
    assert [r["status"] for r in sent(sb)] == [429] * FAST_RETRY.max_attempts


def test_the_credentials_refuse_bad_values_naming_the_field() -> None:
    from pydantic import ValidationError

    for fields, fragment in (({"dossier": "", "token": "t"}, "dossier: give the dossier name"),
                             ({"dossier": "de mo", "token": "t"}, "dossier: give the dossier name"),
                             ({"dossier": "demo", "token": " t "}, "token: the API token starts or ends")):
        with pytest.raises(ValidationError) as caught:
            OxivaCredentials(**fields)
        assert fragment in str(caught.value)
    assert TOKEN not in repr(OxivaCredentials(dossier="demo", token=TOKEN))


# -- the three triggers and their hydration -----------------------------------------------------------------------

@pytest.mark.parametrize("name, dedupe", [("new_client", "id"), ("new_activity", "ccom_id"),
                                          ("new_ticket", "sticket_id")])
def test_the_three_triggers_are_catch_hooks_with_an_oxiva_connection(name: str, dedupe: str) -> None:
    spec = get_trigger(f"oxiva.{name}")
    assert (spec.kind, spec.source, spec.connection, spec.dedupe_key) == ("catch_hook", "catch", "oxiva", dedupe)
    assert spec.hydrate is not None and dedupe in spec.sample


async def test_new_client_reads_the_societe_the_call_names(sb: Control) -> None:
    client = await hydrate_client(call(id="11"), creds(sb), {})
    assert client["id"] == "11" and client["raison_sociale"] == "Boulangerie Martin"
    assert "activites" not in client and "tickets" not in client
    assert sent(sb) == [{"path": f"{ROOT}/societe/", "query": {"dossier": "demo", "token": TOKEN, "id": "11"},
                         "status": 200}]


async def test_new_activity_reads_the_activities_and_keeps_the_one_whose_ccom_id_is_given(sb: Control) -> None:
    activity = await hydrate_activity(call(id="11", ccom_id="2"), creds(sb), {})
    assert activity["ccom_id"] == "2" and activity["ccom_sujet"] == "Test" and activity["ccom_type"] == "task"
    assert activity["societe"]["raison_sociale"] == "Boulangerie Martin" and "activites" not in activity["societe"]
    [request] = sent(sb)
    assert request["query"] == {"dossier": "demo", "token": TOKEN, "id": "11", "activites": "Y"}
    first = await hydrate_activity(call(id="11", cocom_id="1"), creds(sb), {})  # the seed's user guide spelling
    assert first["ccom_id"] == "1" and first["ccom_sujet"] == "Appel découverte"


async def test_new_ticket_reads_the_tickets_and_keeps_the_one_whose_sticket_id_is_given(sb: Control) -> None:
    ticket = await hydrate_ticket(call(id="11", sticket_id="810"), creds(sb), {})  # the seed's example URL
    assert ticket["sticket_id"] == "810" and ticket["sticket_sujet"] == "Imprimante en panne"
    assert ticket["societe"]["id"] == "11" and "tickets" not in ticket["societe"]
    [request] = sent(sb)
    assert request["query"] == {"dossier": "demo", "token": TOKEN, "id": "11", "tickets": "Y"}


async def test_the_ids_may_come_in_a_posted_json_or_form_body(sb: Control) -> None:
    posted = {"method": "POST", "query": {}, "json": {"id": 11, "sticket_id": 809}}
    assert (await hydrate_ticket(posted, creds(sb), {}))["sticket_sujet"] == "Accès au portail"
    form = {"method": "POST", "query": {"id": "12"}, "form": {}}
    assert (await hydrate_client(form, creds(sb), {}))["raison_sociale"] == "Garage des Monts"


@pytest.mark.parametrize("hydrate, query, parameter, fragment", [
    (hydrate_client, {}, "id", "query parameter 'id' is missing from the call; Oxiva calls the hook as …/hooks/catch/"),
    (hydrate_client, {"id": "abc"}, "id", "query parameter 'id' must be an Oxiva id, a whole number such as 11"),
    (hydrate_client, {"id": ["11", "12"]}, "id", "query parameter 'id' is given 2 times"),
    (hydrate_client, {"id": "99"}, "id", "query parameter 'id': Oxiva has no société 99 in dossier 'demo'"),
    (hydrate_activity, {"id": "11"}, "ccom_id", "query parameter 'ccom_id' (or 'cocom_id') is missing"),
    (hydrate_activity, {"id": "11", "ccom_id": "7"}, "ccom_id",
     "query parameter 'ccom_id': société 11 has no commercial activity with ccom_id 7 (Oxiva answered 2: 1, 2)"),
    (hydrate_ticket, {"id": "11"}, "sticket_id", "query parameter 'sticket_id' is missing"),
    (hydrate_ticket, {"id": "12", "sticket_id": "810"}, "sticket_id",
     "query parameter 'sticket_id': société 12 has no ticket with sticket_id 810 (Oxiva answered 0: none)"),
])
async def test_a_call_the_trigger_cannot_use_fails_naming_the_query_parameter(sb: Control, hydrate, query, parameter,
                                                                               fragment) -> None:
    with pytest.raises(HookCallError) as caught:
        await hydrate({"method": "GET", "query": query}, creds(sb), {})
    assert caught.value.parameter == parameter and fragment in str(caught.value)
    assert isinstance(caught.value, ValueError)  # the run fails for good: the same call will not get better


async def test_without_a_connection_the_error_names_trigger_connection() -> None:
    with pytest.raises(HookCallError) as caught:
        await hydrate_client(call(id="11"), None, {})
    assert str(caught.value).startswith("trigger.connection: an Oxiva trigger reads the record from Oxiva's API")


# -- the seed's whole path: Oxiva's panel → the catch hook → the inbox → the hydrated ticket ----------------------

@pytest.fixture
def home(tmp_path, monkeypatch):
    from passerelle.settings import reset_settings_cache

    monkeypatch.setenv("PASSERELLE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PASSERELLE_DATABASE_URL", raising=False)
    reset_settings_cache()
    yield
    reset_settings_cache()


def hook_url(base_url: str, link: str) -> str:
    from passerelle.cli.main import app

    result = CliRunner().invoke(app, ["hooks", "add", "catch", "--link", link, "--base-url", base_url],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    [url] = re.findall(rf"{re.escape(base_url)}/hooks/catch/{link}/\S+/", result.output)
    return url


async def test_one_hook_url_per_event_from_the_oxiva_panel_to_the_hydrated_record(sb: Control, home) -> None:
    from passerelle.gateway.app import create_app
    from passerelle.gateway.server import GatewayServer
    from passerelle.store.inbox import list_events

    async def nudge(source: str, link: str, accepted: int) -> None:
        return None

    server = GatewayServer(create_app(emitter=nudge))  # its port is chosen: the URLs can be made before it starts
    urls = {kind: hook_url(server.url, f"oxiva-new-{kind}") for kind in ("client", "ticket", "activity")}
    server.start()
    try:
        panel = sb.http.put("/_sandbox/oxiva/dossiers/demo/zapier", json={"urls": urls})
        assert panel.status_code == 200, panel.text

        created = sb.http.post("/_sandbox/oxiva/dossiers/demo/societes/11/tickets",
                               json={"sticket_sujet": "Caisse bloquée", "sticket_statut": "ouvert"}).json()
        assert created["hook"]["status"] == 200 and created["hook"]["params"] == {"id": "11", "sticket_id": "811"}
        client = sb.http.post("/_sandbox/oxiva/dossiers/demo/societes", json={"raison_sociale": "Fromagerie"}).json()
        activity = sb.http.post("/_sandbox/oxiva/dossiers/demo/societes/11/activites",
                                json={"ccom_sujet": "Relance devis"}).json()
        assert client["hook"]["status"] == activity["hook"]["status"] == 200

        [row] = list_events(source="catch", link="oxiva-new-ticket")
        assert row.payload["query"]["sticket_id"] == "811" and "***" in row.payload["query"]["url"]
        ticket = await hydrate_ticket(row.payload, creds(sb), {})
        assert (ticket["sticket_id"], ticket["sticket_sujet"], ticket["societe"]["id"]) == ("811", "Caisse bloquée",
                                                                                             "11")
        [row] = list_events(source="catch", link="oxiva-new-client")
        assert (await hydrate_client(row.payload, creds(sb), {}))["raison_sociale"] == "Fromagerie"
        [row] = list_events(source="catch", link="oxiva-new-activity")
        assert (await hydrate_activity(row.payload, creds(sb), {}))["ccom_sujet"] == "Relance devis"

        sb.http.put("/_sandbox/oxiva/dossiers/demo/zapier", json={"urls": urls, "suspended": True})
        quiet = sb.http.post("/_sandbox/oxiva/dossiers/demo/societes/11/tickets", json={}).json()
        assert quiet["hook"] == {"dossier": "demo", "kind": "ticket", "params": {"id": "11", "sticket_id": "812"},
                                 "called": False, "reason": "Zapier use is suspended"}
        assert len(list_events(source="catch", link="oxiva-new-ticket")) == 1
    finally:
        server.stop()
