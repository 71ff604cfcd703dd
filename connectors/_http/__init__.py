"""The connector kit: client, retries and the effects rule, pagination, auth strategies, endpoints, errors.

The credentials Block base (:mod:`connectors._http.credentials`) imports Prefect, so it is not imported here.
"""

from connectors._http.auth import (
    ApiKeyHeaderAuth,
    BasicAuth,
    BearerTokenAuth,
    IssuedToken,
    OAuth2TokenAuth,
    TokenExchangeAuth,
)
from connectors._http.client import ApiClient, ClientStats, VendorClient, gather_or_cancel, vendor_message
from connectors._http.cursors import CursorPaginator, GraphQLCursorPaginator, LinkHeaderPaginator
from connectors._http.endpoints import Endpoint, quote_segment
from connectors._http.errors import (
    ApiError,
    AuthError,
    NotFoundError,
    OutcomeUnknown,
    PaginationLoopError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
)
from connectors._http.pagination import (
    ItemsPagingPaginator,
    NumberedPaginator,
    OffsetPaginator,
    PageLimitPaginator,
    PageRequest,
    Paginator,
)
from connectors._http.retry import (
    IDEMPOTENT_METHODS,
    NO_RETRY,
    RetryPolicy,
    is_replay_safe,
    may_have_applied,
    parse_retry_after,
)
from connectors._http.validation import ok_flag

__all__ = [
    "IDEMPOTENT_METHODS",
    "NO_RETRY",
    "ApiClient",
    "ApiError",
    "ApiKeyHeaderAuth",
    "AuthError",
    "BasicAuth",
    "BearerTokenAuth",
    "ClientStats",
    "CursorPaginator",
    "Endpoint",
    "GraphQLCursorPaginator",
    "IssuedToken",
    "ItemsPagingPaginator",
    "LinkHeaderPaginator",
    "NotFoundError",
    "NumberedPaginator",
    "OAuth2TokenAuth",
    "OffsetPaginator",
    "OutcomeUnknown",
    "PageLimitPaginator",
    "PageRequest",
    "PaginationLoopError",
    "Paginator",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "TokenExchangeAuth",
    "TransportError",
    "ValidationError",
    "VendorClient",
    "gather_or_cancel",
    "is_replay_safe",
    "may_have_applied",
    "ok_flag",
    "parse_retry_after",
    "quote_segment",
    "vendor_message",
]
