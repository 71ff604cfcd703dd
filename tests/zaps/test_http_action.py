"""`http.request` against a local server on 127.0.0.1 (allowed by the setting): methods, bodies, statuses, JSON
output, redirects, the size cap, and the Prefect task."""

from __future__ import annotations

import pytest

from connectors._http.errors import ApiError, NotFoundError, OutcomeUnknown, ServerError
from passerelle.zaps import ssrf
from tasks.actions.http import HttpRequestInput, request
from tests.zaps.http_support import FakeDNS, LocalServer


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv(ssrf.ALLOW_NETWORKS_ENV, "127.0.0.1/32")
    with LocalServer() as srv:
        yield srv


async def call(**fields):
    return await request(HttpRequestInput(**fields))


async def test_get_sends_the_query_and_parses_the_json_answer(server):
    out = await call(url=f"{server.base}/echo?a=1", query={"b": "two", "flag": True, "ids": [1, 2]})
    assert out.status == 200 and out.truncated is False
    assert out.body["method"] == "GET" and out.body["path"] == "/echo"
    assert out.body["query"] == {"a": ["1"], "b": ["two"], "flag": ["true"], "ids": ["1", "2"]}
    assert out.headers["content-type"] == "application/json" and out.size == int(out.headers["content-length"])


async def test_json_form_and_raw_bodies_are_sent_as_declared(server):
    out = await call(method="POST", url=f"{server.base}/echo", body={"email": "lea@example.org", "n": 2})
    assert out.status == 201
    assert out.body["headers"]["content-type"] == "application/json"
    assert out.body["body"].replace(" ", "") == '{"email":"lea@example.org","n":2}'

    out = await call(method="PUT", url=f"{server.base}/echo", body={"name": "Léa", "n": 2}, body_format="form")
    assert out.body["method"] == "PUT"
    assert out.body["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert out.body["body"] == "name=L%C3%A9a&n=2"

    out = await call(method="PATCH", url=f"{server.base}/echo", body="hello", body_format="raw",
                     headers={"X-Trace": "t1"})
    assert out.body["body"] == "hello" and out.body["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert out.body["headers"]["x-trace"] == "t1"


async def test_delete_head_and_a_text_answer(server):
    assert (await call(method="DELETE", url=f"{server.base}/echo")).body["method"] == "DELETE"
    head = await call(method="HEAD", url=f"{server.base}/echo")
    assert head.status == 200 and head.body is None
    text = await call(url=f"{server.base}/text")
    assert text.body == "plain text é"
    assert [r["method"] for r in server.requests] == ["DELETE", "HEAD", "GET"]


async def test_statuses_outside_the_expected_ones_raise_the_kits_errors(server):
    with pytest.raises(NotFoundError) as err:
        await call(url=f"{server.base}/status/404")
    assert err.value.status == 404 and "status 404" in str(err.value)
    assert (await call(url=f"{server.base}/status/404", expected_statuses=[404])).body == {"error": "status 404"}
    with pytest.raises(ServerError):  # a GET may be retried
        await call(url=f"{server.base}/status/500")
    with pytest.raises(OutcomeUnknown, match="not re-sent"):  # a POST may have created something
        await call(method="POST", url=f"{server.base}/status/500", body={"a": 1})
    with pytest.raises(ServerError):  # a POST with an idempotency key may be retried
        await call(method="POST", url=f"{server.base}/status/502", body={"a": 1},
                   headers={"Idempotency-Key": "k1"}, idempotency_key_header="Idempotency-Key")
    with pytest.raises(ApiError, match="expected_statuses"):
        await call(url=f"{server.base}/status/409")


async def test_redirects_are_followed_hop_by_hop_and_capped(server):
    target = f"{server.base}/echo"
    out = await call(method="POST", url=f"{server.base}/redirect?to={target}&code=303", body={"a": 1})
    assert out.body["method"] == "GET" and out.url == target  # 303: the next hop is a GET without body
    out = await call(method="POST", url=f"{server.base}/redirect?to=/echo&code=307", body={"a": 1})
    assert out.body["method"] == "POST" and out.body["body"].replace(" ", "") == '{"a":1}'
    with pytest.raises(ApiError, match="more than 0 redirects"):
        await call(url=f"{server.base}/redirect?to={target}", max_redirects=0)
    kept = await call(url=f"{server.base}/redirect?to={target}", follow_redirects=False, expected_statuses=[302])
    assert kept.status == 302 and kept.headers["location"] == target


async def test_the_answer_is_capped(server):
    out = await call(url=f"{server.base}/big", max_response_bytes=1000)
    assert out.truncated is True and out.size == 1000 and out.body == "x" * 1000


async def test_a_host_name_is_kept_in_the_host_header_while_the_checked_address_is_dialled(server, monkeypatch):
    dns = FakeDNS(["127.0.0.1"])
    monkeypatch.setattr(ssrf, "system_resolver", dns)
    out = await call(url=f"http://api.partner.test:{server.port}/echo")
    assert out.body["headers"]["host"] == f"api.partner.test:{server.port}"
    assert dns.calls == ["api.partner.test"]


async def test_proxies_from_the_environment_are_ignored(server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # a proxy would resolve the name itself
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    assert (await call(url=f"{server.base}/echo")).status == 200


def test_the_prefect_task_is_usable_on_its_own(server, prefect_server):
    from prefect import flow

    from tasks.actions.http import http_request

    @flow
    async def one_call() -> dict:
        out = await http_request(f"{server.base}/echo", "POST", body={"k": "v"})
        return out.model_dump()

    import asyncio

    result = asyncio.run(one_call())
    assert result["status"] == 201 and result["body"]["method"] == "POST"


async def test_credentials_are_not_carried_to_another_origin_on_redirect(server, monkeypatch):
    monkeypatch.setattr(ssrf, "system_resolver", FakeDNS(["127.0.0.1"]))
    headers = {"Authorization": "Bearer s3cret", "X-Trace": "t1"}
    same = await call(url=f"http://api.partner.test:{server.port}/redirect?to=/echo", headers=headers)
    assert same.body["headers"]["authorization"] == "Bearer s3cret"
    other = await call(url=f"http://api.partner.test:{server.port}/redirect?to={server.base}/echo", headers=headers)
    assert "authorization" not in other.body["headers"] and other.body["headers"]["x-trace"] == "t1"
