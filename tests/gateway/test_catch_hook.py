"""The catch hook over a real socket: query-only calls (Oxiva's `?id=11&sticket_id=810`), form and JSON bodies,
the token in the path, and what is refused."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passerelle.gateway.server import RedactTokens
from passerelle.store.inbox import list_events
from passerelle.store.links import create_link


@pytest.fixture
def catch(store, start_gateway):
    token = create_link("catch", "oxiva", url=store)  # before the gateway reads its links
    gateway = start_gateway()
    return gateway, token, f"{gateway.url}/hooks/catch/oxiva"


def rows(gateway):
    return list_events(source="catch", limit=100, url=gateway.store)


def test_a_query_only_get_is_stored_as_its_parameters(catch):
    gateway, token, hook = catch
    r = httpx.get(f"{hook}?token={token}&id=11&sticket_id=810")
    assert r.status_code == 200 and r.json() == {"accepted": 1, "duplicates": 0}
    [row] = rows(gateway)
    assert row.payload == {"method": "GET", "query": {"id": "11", "sticket_id": "810"}}
    assert row.event_type == "catch_hook" and row.entity_key == f"call:{row.event_id}"
    assert httpx.get(f"{hook}?id=11&sticket_id=810&token={token}").json() == {"accepted": 0, "duplicates": 1}
    assert httpx.post(f"{hook}?token={token}&id=11&sticket_id=810").json() == {"accepted": 1, "duplicates": 0}
    assert [r.payload["method"] for r in rows(gateway)] == ["POST", "GET"]


def test_oxiva_appends_its_query_to_the_path_token_url_and_the_echoed_url_is_masked(catch):
    """Oxiva calls the URL it was given followed by `?id=…&sticket_id=…&url=<that URL>` (seeds/oxiva-zapier.txt)."""
    gateway, token, hook = catch
    given = f"{hook}/{token}/"
    r = httpx.get(f"{given}?id=11&sticket_id=810&url={given}")
    assert r.status_code == 200
    [row] = rows(gateway)
    assert row.payload == {"method": "GET", "query": {"id": "11", "sticket_id": "810",
                                                      "url": f"{hook}/***/"}}
    assert token not in json.dumps(row.payload)
    assert httpx.get(f"{hook}/{token}?id=1").status_code == 200  # without the trailing slash too
    assert httpx.get(f"{hook}/wrong-token/?id=11").status_code == 401
    assert httpx.get(f"{hook}/{token}/extra/?id=11").status_code == 404


def test_form_and_json_bodies_keep_their_shape(catch):
    gateway, token, hook = catch
    form = httpx.post(hook, params={"token": token, "source": "crm"},
                      content=b"tag=a&tag=b&name=L%C3%A9a+Roy&empty=", headers={"Content-Type": "application/x-www"
                                                                                  "-form-urlencoded; charset=utf-8"})
    data = httpx.post(hook, headers={"X-Passerelle-Token": token}, json={"client": {"id": 11, "nom": "Léa"}})
    assert form.status_code == data.status_code == 200
    by_kind = {("form" if "form" in r.payload else "json"): r.payload for r in rows(gateway)}
    assert by_kind["form"] == {"method": "POST", "query": {"source": "crm"},
                               "form": {"tag": ["a", "b"], "name": "Léa Roy", "empty": ""}}
    assert by_kind["json"] == {"method": "POST", "query": {}, "json": {"client": {"id": 11, "nom": "Léa"}}}


def test_refused_calls_store_nothing(catch):
    gateway, token, hook = catch
    cases = [
        (httpx.post(hook, params={"token": token}, content=b"hello", headers={"Content-Type": "text/plain"}), 415),
        (httpx.post(hook, params={"token": token}, content=b"a=%FF", headers={"Content-Type": "application/x-www-"
                                                                                          "form-urlencoded"}), 400),
        (httpx.get(f"{hook}?token={token}&n=%FF"), 400),
        (httpx.post(hook, params={"token": token}, content=b"{", headers={"Content-Type": "application/json"}), 400),
        (httpx.get(f"{hook}?id=11"), 401),
        (httpx.get(f"{hook}?token=wrong&id=11"), 401),
        (httpx.get(f"{gateway.url}/hooks/catch/unknown?token={token}"), 404),
        (httpx.get(f"{hook}?token={token}&" + "&".join(f"p{i}=1" for i in range(1001))), 422),
        (httpx.put(hook, params={"token": token}), 405),
    ]
    for response, status in cases:
        assert response.status_code == status, (status, response.text)
    assert rows(gateway) == []


MEDIA = st.sampled_from(["", "application/x-www-form-urlencoded", "application/json", "application/ld+json",
                         "text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded; "
                         "charset=latin-1", "\u00e9/\u00e9"])
QUERY = st.binary(max_size=60).map(lambda raw: "".join(f"%{b:02X}" if b % 3 else chr(97 + b % 26) + "="
                                                       for b in raw))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(body=st.binary(max_size=200) | st.text(max_size=60).map(str.encode), media=MEDIA, query=QUERY,
       method=st.sampled_from(["GET", "POST"]))
def test_no_generated_call_gets_a_5xx(catch, body, media, query, method):
    gateway, token, hook = catch
    headers = {"Content-Type": media.encode()} if media else {}  # raw bytes, even non-ASCII ones
    r = httpx.request(method, f"{hook}?token={token}&{query}", content=body, headers=headers, timeout=30)
    assert r.status_code in (200, 400, 415, 422), (r.status_code, r.text, body[:100], media, query)


def test_access_log_masks_path_tokens():
    line = '%s - "%s %s HTTP/%s" %d'
    path = "/hooks/catch/oxiva/s3cretT0ken/?id=11&url=https://gw.example.org/hooks/catch/oxiva/s3cretT0ken/"
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, line, ("127.0.0.1:5", "GET", path, "1.1", 200),
                               None)
    RedactTokens().filter(record)
    assert "s3cretT0ken" not in record.getMessage()
    assert "/hooks/catch/oxiva/***/?id=11" in record.getMessage()
