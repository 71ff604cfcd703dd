"""Shared HTTP machinery of the connectors: client, retries, pagination, auth, endpoints, errors."""

from connectors._http.auth import BearerTokenAuth
from connectors._http.client import ApiClient, ClientStats, VendorClient, gather_or_cancel, vendor_message
from connectors._http.endpoints import Endpoint, quote_segment
from connectors._http.errors import (
    ApiError,
    AuthError,
    NotFoundError,
    PaginationLoopError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
)
from connectors._http.pagination import (
    ItemsPagingPaginator,
    NumberedPaginator,
    PageLimitPaginator,
    PageRequest,
    Paginator,
)
from connectors._http.retry import NO_RETRY, RetryPolicy, parse_retry_after

__all__ = [
    "NO_RETRY",
    "ApiClient",
    "ApiError",
    "AuthError",
    "BearerTokenAuth",
    "ClientStats",
    "VendorClient",
    "Endpoint",
    "ItemsPagingPaginator",
    "NotFoundError",
    "NumberedPaginator",
    "PageLimitPaginator",
    "PageRequest",
    "PaginationLoopError",
    "Paginator",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "TransportError",
    "ValidationError",
    "gather_or_cancel",
    "parse_retry_after",
    "quote_segment",
    "vendor_message",
]
