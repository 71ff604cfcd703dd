"""Error classification and messages: actionable, and never a secret in str() or repr()."""

from __future__ import annotations

import pickle

import httpx
import pytest

from connectors._http import (
    ApiClient,
    ApiError,
    AuthError,
    NotFoundError,
    PaginationLoopError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
    vendor_message,
)
from connectors._http.errors import error_class_for

SECRET = "s3cr3t-t0ken"


def make_client(**kwargs) -> ApiClient:
    return ApiClient("https://api.cyberimpact.com", vendor="Cyberimpact", credential="API token",
                     auth_hint="Check the token in the 'cyberimpact-credentials/prod' block.", **kwargs)


def response(status: int, body=None, *, url: str = "https://api.cyberimpact.com/members?key=" + SECRET,
             method: str = "GET", headers=None) -> httpx.Response:
    request = httpx.Request(method, url, headers={"Authorization": f"Bearer {SECRET}"})
    if body is None:
        return httpx.Response(status, request=request, headers=headers)
    return httpx.Response(status, json=body, request=request, headers=headers)


@pytest.mark.parametrize(("status", "cls"), [
    (400, ValidationError), (401, AuthError), (403, AuthError), (404, NotFoundError), (405, ApiError),
    (409, ApiError), (422, ValidationError), (429, RateLimitedError), (500, ServerError), (503, ServerError),
])
def test_error_class_for_status(status: int, cls: type[ApiError]) -> None:
    assert error_class_for(status) is cls


async def test_auth_error_message_is_actionable_and_secret_free() -> None:
    client = make_client()
    err = client.error_for(response(401, {"message": "Unauthenticated.", "errors": {}}))
    assert isinstance(err, AuthError)
    assert str(err) == ("Cyberimpact rejected the API token (401 on GET /members): Unauthenticated. "
                        "Check the token in the 'cyberimpact-credentials/prod' block.")
    assert SECRET not in str(err) and SECRET not in repr(err)
    assert (err.vendor, err.status, err.method, err.path) == ("Cyberimpact", 401, "GET", "/members")
    await client.aclose()


async def test_forbidden_says_access_refused() -> None:
    client = make_client()
    err = client.error_for(response(403, {"message": "This action is unauthorized."}))
    assert str(err).startswith("Cyberimpact refused access with this API token (403 on GET /members)")
    await client.aclose()


async def test_validation_error_lists_field_errors() -> None:
    client = make_client()
    body = {"message": "The given data was invalid.",
            "errors": {"email": ["The email has already been taken."]}}
    err = client.error_for(response(422, body, method="POST", url="https://api.cyberimpact.com/members"))
    assert isinstance(err, ValidationError)
    assert err.errors == {"email": ["The email has already been taken."]}
    assert str(err) == ("Cyberimpact rejected the request as invalid (422 on POST /members): "
                        "The given data was invalid. email: The email has already been taken.")
    await client.aclose()


async def test_path_is_relative_to_base_path_and_decoded() -> None:
    client = ApiClient("http://127.0.0.1:9/cyberimpact/", vendor="Cyberimpact")
    err = client.error_for(response(404, {"message": "Member not found."},
                                    url="http://127.0.0.1:9/cyberimpact/members/lea%40example.org?x=1"))
    assert isinstance(err, NotFoundError)
    assert err.path == "/members/lea@example.org"
    assert "?x=1" not in str(err)
    await client.aclose()


async def test_amilia_message_and_model_state() -> None:
    r = response(400, {"Message": "The request is invalid.", "ModelState": {"from": ["Bad date."]}})
    assert vendor_message(r) == ("The request is invalid.", {"from": ["Bad date."]})


def test_non_json_body_falls_back_to_text() -> None:
    request = httpx.Request("GET", "https://x.test/a")
    r = httpx.Response(502, text="<html>Bad gateway</html>", request=request)
    assert vendor_message(r) == ("<html>Bad gateway</html>", {})
    assert vendor_message(httpx.Response(500, request=request)) == ("Internal Server Error", {})


async def test_rate_limited_error_explains_retry_after_beyond_budget() -> None:
    client = make_client()
    err = client.error_for(response(429, {"message": "Too Many Requests"}, headers={"Retry-After": "3600"}),
                           attempts=1)
    assert isinstance(err, RateLimitedError) and err.retry_after == 3600
    assert "asked to wait 3600 s, more than the 60 s retry budget" in str(err)
    await client.aclose()


def test_server_and_transport_errors_count_attempts() -> None:
    err = ServerError(vendor="Amilia", status=503, method="GET", path="/x", message="down", attempts=6)
    assert str(err).startswith("Amilia kept failing after 6 attempts (503 on GET /x): down.")
    err = TransportError(vendor="Amilia", method="GET", path="/x", message="ConnectError: refused",
                         hint="Check the base URL (http://h) and the network.", attempts=2)
    assert str(err) == ("Amilia could not be reached after 2 attempts (GET /x): ConnectError: refused. "
                        "Check the base URL (http://h) and the network.")


def test_pagination_loop_error_message() -> None:
    err = PaginationLoopError(vendor="Amilia", method="GET", path="/en/org/1/persons", token=3)
    assert "same next page twice" in str(err) and "3" in str(err)
    assert isinstance(err, ApiError)


def test_errors_pickle_round_trip() -> None:
    err = AuthError(vendor="Amilia", status=401, method="GET", path="/authenticate", message="Denied.",
                    credential="username and password", hint="Check it.")
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is AuthError and str(copy) == str(err)
