"""Vendor signatures as pure units: each vendor's configuration against what the vendor publishes (Slack's
worked example, the vectors of Twilio's own validator, iAdvize's and Zendesk's documented recipes computed
here independently with `hmac`), replay windows, and the one-line refusals."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode

import pytest
from starlette.datastructures import Headers

from passerelle.gateway.sources import HmacSignature, Unauthorized
from passerelle.gateway.sources.calls import Call
from passerelle.gateway.sources.signatures import IADVIZE, SLACK, TWILIO, ZENDESK, parse_timestamp


def call(body: bytes = b"", headers: dict[str, str] | None = None, method: str = "POST", query: bytes = b"",
         url: str = "https://hooks.example.org/hooks/x/default") -> Call:
    return Call(method, "default", Headers(headers or {}), query, body, url)


# Slack's worked example (docs.slack.dev/authentication/verifying-requests-from-slack)
SLACK_SECRET = b"8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TS = "1531420618"
SLACK_BODY = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
              b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
              b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgc"
              b"ZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
SLACK_SIG = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def slack_call(signature: str = SLACK_SIG, timestamp: str = SLACK_TS, body: bytes = SLACK_BODY) -> Call:
    return call(body, {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": timestamp})


def test_slack_worked_example_verifies_within_five_minutes():
    assert SLACK.sign(SLACK_SECRET, SLACK_BODY, SLACK_TS) == SLACK_SIG
    SLACK.verify(slack_call(), SLACK_SECRET, now=int(SLACK_TS) + 299)
    SLACK.verify(slack_call(), SLACK_SECRET, now=int(SLACK_TS) - 299)  # a sender's clock a little ahead


@pytest.mark.parametrize(("now", "words"), [(int(SLACK_TS) + 301, "301 s old"), (int(SLACK_TS) - 400, "400 s ahead")])
def test_slack_refuses_a_timestamp_outside_the_window(now, words):
    with pytest.raises(Unauthorized) as caught:
        SLACK.verify(slack_call(), SLACK_SECRET, now=now)
    assert words in caught.value.detail and "X-Slack-Request-Timestamp" in caught.value.detail


@pytest.mark.parametrize(("case", "bad", "words"), [
    ("wrong secret", {"secret": b"another"}, "does not match"),
    ("body changed", {"body": SLACK_BODY.replace(b"foobar", b"foobaz")}, "does not match"),
    ("timestamp changed", {"timestamp": str(int(SLACK_TS) + 1)}, "does not match"),
    ("no prefix", {"signature": SLACK_SIG[3:]}, "'v0=' followed by a hex digest"),
    ("not hex", {"signature": "v0=zz"}, "hex digest"),
    ("empty", {"signature": ""}, "missing X-Slack-Signature"),
    ("no timestamp", {"timestamp": ""}, "missing X-Slack-Request-Timestamp"),
    ("timestamp not a time", {"timestamp": "yesterday"}, "Unix seconds or an ISO 8601"),
])
def test_slack_refusals_name_the_header(case, bad, words):
    secret = bad.pop("secret", SLACK_SECRET)
    with pytest.raises(Unauthorized) as caught:
        SLACK.verify(slack_call(**bad), secret, now=int(SLACK_TS))
    assert words in caught.value.detail, case
    assert SLACK_SECRET.decode() not in caught.value.detail


# Twilio: the vectors of Twilio's own validator (twilio-python tests/unit/test_request_validator.py)
TWILIO_TOKEN = b"12345"
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309", "To": "+18005551212",
                 "Caller": "+14158675309"}


def twilio_call(signature: str, body: bytes, url: str = TWILIO_URL) -> Call:
    return call(body, {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
                query=url.partition("?")[2].encode(), url=url)


def test_twilio_vectors_of_its_own_validator():
    body = urlencode(TWILIO_PARAMS).encode()  # `+` travels as %2B; Twilio signs the decoded values
    assert TWILIO.sign(TWILIO_TOKEN, TWILIO_URL, sorted(TWILIO_PARAMS.items())) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    TWILIO.verify(twilio_call("RSOYDt4T1cUTdK1PDd93/VVr8B8=", body), TWILIO_TOKEN)
    TWILIO.verify(twilio_call("kvajT1Ptam85bY51eRf/AJRuM3w=", body), TWILIO_TOKEN)  # signed with :443
    TWILIO.verify(twilio_call("RSOYDt4T1cUTdK1PDd93/VVr8B8=", body, TWILIO_URL.replace(".com", ".com:1234")),
                  TWILIO_TOKEN)  # signed without the port the URL has
    repeated = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234"  # a name sent twice: values sorted
    TWILIO.verify(twilio_call("IK+Dwps556ElfBT0I3Rgjkr1wJU=", repeated), TWILIO_TOKEN)


def test_twilio_json_body_is_signed_through_body_sha256():
    body = b'{"property": "value", "boolean": true}'
    url = TWILIO_URL + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    TWILIO.verify(twilio_call("a9nBmqA0ju/hNViExpshrM61xv4=", body, url), TWILIO_TOKEN)
    with pytest.raises(Unauthorized, match="bodySHA256"):
        TWILIO.verify(twilio_call("a9nBmqA0ju/hNViExpshrM61xv4=", body.replace(b"true", b"false"), url),
                      TWILIO_TOKEN)


def test_twilio_refuses_a_changed_parameter_or_another_url():
    body = urlencode({**TWILIO_PARAMS, "Digits": "9999"}).encode()
    with pytest.raises(Unauthorized, match="PASSERELLE_GATEWAY_PUBLIC_URL"):
        TWILIO.verify(twilio_call("RSOYDt4T1cUTdK1PDd93/VVr8B8=", body), TWILIO_TOKEN)
    with pytest.raises(Unauthorized, match="does not match"):
        TWILIO.verify(twilio_call("RSOYDt4T1cUTdK1PDd93/VVr8B8=", urlencode(TWILIO_PARAMS).encode(),
                                  "http://127.0.0.1:8000/myapp.php?foo=1&bar=2"), TWILIO_TOKEN)
    with pytest.raises(Unauthorized, match="base64"):
        TWILIO.verify(twilio_call("not base64!", b""), TWILIO_TOKEN)


def test_iadvize_signs_the_raw_body_and_a_get_s_raw_query():
    """iAdvize (build-apps, "App security"): `sha256=` + hex HMAC-SHA256 with the secret token, of the raw
    body for a POST, of the raw query string for a GET."""
    secret, body = b"yourSecretToken", b'{"eventId":"0f0bb3af","eventType":"v2.conversation.closed"}'
    header = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    IADVIZE.verify(call(body, {"X-iAdvize-Signature": header}), secret)
    query = b"idWebsite=ha-123&idOperator=9999"
    get = "sha256=" + hmac.new(secret, query, hashlib.sha256).hexdigest()
    IADVIZE.verify(call(headers={"X-iAdvize-Signature": get}, method="GET", query=query), secret)
    with pytest.raises(Unauthorized):
        IADVIZE.verify(call(body + b" ", {"X-iAdvize-Signature": header}), secret)
    with pytest.raises(Unauthorized):  # a POST is not signed over its query string
        IADVIZE.verify(call(b"", {"X-iAdvize-Signature": get}, query=query), secret)


def test_zendesk_signs_timestamp_then_body_in_base64_without_a_window():
    """Zendesk (developer.zendesk.com/documentation/webhooks/verifying): base64(HMACSHA256(TIMESTAMP + BODY));
    the timestamp is ISO 8601 and no window is documented, so an old one is not refused."""
    secret, ts = b"dGhpc19zZWNyZXQ", "2021-03-25T05:09:27Z"
    body = b'{"type":"zen:event-type:ticket.created","id":"01J"}'
    signature = base64.b64encode(hmac.new(secret, ts.encode() + body, hashlib.sha256).digest()).decode()
    headers = {"X-Zendesk-Webhook-Signature": signature, "X-Zendesk-Webhook-Signature-Timestamp": ts}
    ZENDESK.verify(call(body, headers), secret)
    with pytest.raises(Unauthorized, match="X-Zendesk-Webhook-Signature does not match"):
        ZENDESK.verify(call(body, {**headers, "X-Zendesk-Webhook-Signature-Timestamp": "2021-03-25T05:09:28Z"}),
                       secret)


def test_a_vendor_configuration_is_checked_when_written():
    with pytest.raises(ValueError, match="unknown placeholder"):
        HmacSignature(header="X-Sig", template="{ts}.{body}")
    with pytest.raises(ValueError, match="timestamp_header"):
        HmacSignature(header="X-Sig", template="{timestamp}.{body}")
    with pytest.raises(ValueError, match="timestamp_header"):
        HmacSignature(header="X-Sig", max_age_seconds=60)
    with pytest.raises(ValueError, match="algorithm"):
        HmacSignature(header="X-Sig", algorithm="md4")
    with pytest.raises(ValueError, match="encoding"):
        HmacSignature(header="X-Sig", encoding="base32")


@pytest.mark.parametrize(("text", "seconds"), [
    ("1531420618", 1531420618.0), (" 1531420618 ", 1531420618.0), ("2021-03-25T05:09:27Z", 1616648967.0),
    ("2021-03-25T07:09:27+02:00", 1616648967.0), ("2021-03-25T05:09:27", 1616648967.0),
    ("1531420618000", None), ("-5", None), ("soon", None), ("", None),
])
def test_timestamps(text, seconds):
    assert parse_timestamp(text) == seconds
