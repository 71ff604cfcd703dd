"""The Amilia emulator's webhook sender delivering to the gateway (renders from state, retries)."""

from __future__ import annotations

import httpx

from passerelle.gateway.server import free_port
from tests.gateway.conftest import envelope

STATE = {
    "today": "2026-03-15",
    "persons": [
        {"Id": 501, "AccountId": 77, "FirstName": "Léa", "LastName": "Roy", "Email": "lea@example.org",
         "DateCreated": "2021-03-04T10:11:12"},
        {"Id": 502, "AccountId": 77, "FirstName": "Émile", "LastName": "Roy", "IsChild": True,
         "DateCreated": "2021-03-04T10:15:00"}],
    "accounts": [{"Id": 77, "DateCreated": "2021-03-04T10:11:12", "OwnerPersonId": 501,
                  "MemberPersonIds": [501, 502]}],
    "programs": [{"Id": 1, "Name": "Arts"}],
    "activities": [{"Id": 4, "Name": "Ballet 5-7 ans", "ProgramId": 1, "CategoryId": 2, "CategoryName": "Danse",
                    "SubCategoryId": 3, "SubCategoryName": "Ballet", "EndDate": "2026-06-14"}],
    "registrations": [{"Id": 9001, "RegistrationId": "SUB-9001", "ActivityId": 4, "PersonId": 502,
                       "AccountId": 77, "DateCreated": "2025-09-01T14:00:00"}],
    "memberships": [{"Id": 12, "Name": "Abonnement gym annuel", "DateCreated": "2020-01-01T00:00:00",
                     "MembershipType": "Individual"}],
    "membershipPersons": [{"MembershipId": 12, "PersonId": 501, "AccountId": 77,
                           "PurchasedDate": "2026-01-10T09:00:00", "EffectiveDate": "2026-01-10",
                           "ExpirationDate": "2027-01-09"}],
}


def fire(sandbox, url: str, events: list, **options) -> httpx.Response:
    return httpx.post(f"{sandbox.url}/_sandbox/amilia/webhooks/fire", json={"url": url, "events": events, **options},
                      timeout=60)


def test_fired_events_land_in_the_inbox_with_api_shaped_payloads(gateway, sandbox_server):
    httpx.put(f"{sandbox_server.url}/_sandbox/amilia/state", json=STATE).raise_for_status()
    url = f"{gateway.hook}?token={gateway.token}"
    events = [{"Context": "Person", "Action": "Create", "Id": 501},
              {"Context": "Account", "Action": "Update", "Id": 77},
              {"Context": "Registration", "Action": "Delete", "Id": 9001},
              {"Context": "MembershipPurchased", "Action": "Create", "PersonId": 501},
              {"Context": "Person", "Action": "Delete", "Id": 502},
              {"envelope": envelope("Block", "Create", {"Id": 3})}]
    r = fire(sandbox_server, url, events)
    assert r.json() == {"sent": 6, "failed": 0, "results": [{"status": 200, "attempts": 1}] * 6}
    rows = sorted(gateway.rows(), key=lambda e: e.id)
    assert [(e.event_type, e.entity_key) for e in rows] == [
        ("Person.Create", "person:501"), ("Account.Update", "account:77"), ("Registration.Delete", "person:502"),
        ("MembershipPurchased.Create", "person:501"), ("Person.Delete", "person:502"), ("Block.Create", "block:3")]
    person, account, registration, membership, deleted, _ = (e.payload for e in rows)
    assert person["OrganizationId"] == 8008 and person["Name"] == "Passerelle"
    assert person["EventTime"].startswith("2026-03-15T") and person["EventTime"].endswith("Z")
    api = httpx.get(f"{sandbox_server.amilia_url}/en/org/8008/persons/501", headers=_auth(sandbox_server)).json()
    assert person["Payload"] == api
    assert account["Payload"]["Owners"][0]["AccountOwnerId"] == 501
    assert registration["Payload"]["IsCancelled"] is True and registration["Payload"]["Person"]["Id"] == 502
    assert registration["Payload"]["RegistrationId"] == "SUB-9001"
    assert membership["Payload"]["PersonId"] == 501 and membership["Payload"]["Status"] == "Active"
    assert deleted["Payload"] == {"Id": "502"}


def _auth(sandbox) -> dict[str, str]:
    token = httpx.post(f"{sandbox.amilia_url}/authenticate", auth=("demo@passerelle.dev", "demo-password")).json()
    return {"Authorization": f"Bearer {token['Token']}"}


def test_retries_until_the_gateway_accepts(gateway, sandbox_server):
    writer = gateway.server.app.state.writer
    real, failures = writer._store, []

    def flaky(deliveries):
        if len(failures) < 2:
            failures.append(1)
            raise OSError("database is locked")
        return real(deliveries)

    writer._store = flaky
    url = f"{gateway.hook}?token={gateway.token}"
    r = fire(sandbox_server, url, [{"envelope": envelope()}, {"envelope": envelope(payload={"Id": 2})}],
             retry_interval=0.05, max_attempts=5)
    assert r.json() == {"sent": 2, "failed": 0, "results": [{"status": 200, "attempts": 3},
                                                            {"status": 200, "attempts": 1}]}
    assert len(gateway.rows()) == 2  # the retried delivery is stored once


def test_gives_up_after_max_attempts(sandbox_server):
    r = fire(sandbox_server, f"http://127.0.0.1:{free_port()}/hooks/amilia/x", [{"envelope": envelope()}],
             retry_interval=0.01, max_attempts=3)
    [result] = r.json()["results"]
    assert r.json()["failed"] == 1 and result["status"] is None and result["attempts"] == 3
    assert "ConnectError" in result["error"]


def test_unknown_objects_are_refused_before_sending(gateway, sandbox_server):
    httpx.put(f"{sandbox_server.url}/_sandbox/amilia/state", json=STATE).raise_for_status()
    url = f"{gateway.hook}?token={gateway.token}"
    r = fire(sandbox_server, url, [{"Context": "Person", "Action": "Create", "Id": 501},
                                   {"Context": "Person", "Action": "Update", "Id": 999}])
    assert r.status_code == 422 and "events[1]" in r.json()["detail"] and "999" in r.json()["detail"]
    r = fire(sandbox_server, url, [{"Context": "Alert", "Action": "Create", "Id": 1}])
    assert r.status_code == 422 and "envelope" in r.json()["detail"]
    assert gateway.rows() == []


def test_cli_fire(gateway, sandbox_server, tmp_path):
    from typer.testing import CliRunner

    from passerelle.cli.main import app

    events = tmp_path / "events.json"
    events.write_text('[{"envelope": {"OrganizationId": 8008, "Context": "Person", "Action": "Delete", '
                      '"Name": "x", "EventTime": "2026-03-15T10:00:00Z", "Payload": {"Id": "9"}}}]')
    result = CliRunner().invoke(app, ["sandbox", "fire", "--url", f"{gateway.hook}?token={gateway.token}",
                                      "--events", f"@{events}", "--sandbox", sandbox_server.url])
    assert result.exit_code == 0, result.output
    assert "sent 1, failed 0" in result.output
    [row] = gateway.rows()
    assert row.entity_key == "person:9"
    bad = CliRunner().invoke(app, ["sandbox", "fire", "--url", f"{gateway.hook}?token=wrong", "--max-attempts", "1",
                                   "--events", '{"envelope": {"Context": "Person"}}', "--sandbox", sandbox_server.url])
    assert bad.exit_code == 1 and "401" in bad.output
