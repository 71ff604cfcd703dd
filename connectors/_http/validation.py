"""``validate_response`` hooks for APIs that answer 200 with an error in the body.

:class:`~connectors._http.client.ApiClient` calls its ``validate_response`` with every 2xx answer; the hook
raises an :class:`ApiError` of the right class, and the client fills in the vendor, method and path.

Example:
    api = ApiClient("https://slack.com/api", vendor="Slack", auth=BearerTokenAuth(token),
                    validate_response=ok_flag())
    await api.post_json("/chat.postMessage", {...})   # {"ok": false, "error": "channel_not_found"}
    # -> NotFoundError: Slack has no such resource (200 on POST /chat.postMessage): channel_not_found.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from connectors._http.decoding import response_json
from connectors._http.errors import ApiError, AuthError, NotFoundError, RateLimitedError, ValidationError

# Slack Web API error codes (https://api.slack.com/web#evaluating_responses and each method's "Errors").
SLACK_ERRORS: dict[str, type[ApiError]] = {
    **dict.fromkeys(("not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired",
                     "no_permission", "missing_scope", "not_allowed_token_type", "ekm_access_denied"),
                    AuthError),
    **dict.fromkeys(("channel_not_found", "user_not_found", "message_not_found", "not_in_channel",
                     "is_archived"), NotFoundError),
    "ratelimited": RateLimitedError,
    **dict.fromkeys(("invalid_arguments", "invalid_blocks", "invalid_attachments", "no_text", "msg_too_long",
                     "too_many_attachments", "invalid_array_arg", "invalid_charset", "invalid_form_data",
                     "invalid_post_type", "missing_post_type", "invalid_json", "json_not_object"),
                    ValidationError),
}


def ok_flag(ok_key: str = "ok", error_key: str = "error",
            classes: Mapping[str, type[ApiError]] = SLACK_ERRORS,
            default: type[ApiError] = ApiError) -> Callable[[httpx.Response], None]:
    """A hook refusing JSON answers whose ``ok_key`` is ``false`` (Slack's ``{"ok": false, "error": "…"}``).

    Args:
        ok_key, error_key: Keys of the success flag and of the error code.
        classes: Error code → error class (unknown codes: ``default``).

    Answers that are not a JSON object, or have no ``ok_key``, pass (Slack's incoming webhooks answer
    a plain ``ok``).
    """

    def validate(response: httpx.Response) -> None:
        try:
            body: Any = response_json(response)
        except ValueError:
            return
        if not isinstance(body, Mapping) or body.get(ok_key, True) is not False:
            return
        code = str(body.get(error_key) or "error")
        raise classes.get(code, default)(status=response.status_code, message=code)

    return validate
