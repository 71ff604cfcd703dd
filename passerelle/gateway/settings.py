"""Gateway settings, read from `PASSERELLE_GATEWAY_*` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PASSERELLE_GATEWAY_", extra="ignore")

    max_body_bytes: int = Field(1 << 20, ge=1, description="larger bodies are refused with 413 (read "
                                "incrementally: an oversized body is never read whole)")
    pre_auth_max_body_bytes: int = Field(64 << 10, ge=1, description="sources that prove the caller by a "
                                         "signature over the body: the most read before the caller is known")
    max_buffered_bytes: int = Field(64 << 20, ge=1, description="request bodies held at once, all calls "
                                    "together (declared Content-Length reserved up front); past it, 503 "
                                    "with Retry-After")
    max_connections: int = Field(4096, ge=1, description="open connections; past it a new connection is "
                                 "answered 503 with Retry-After as soon as its request line arrives")
    body_timeout_seconds: float = Field(10.0, gt=0, description="the whole body must arrive within this "
                                        "long of the request's headers, else 408 and the connection closes")
    idle_timeout_seconds: float = Field(5.0, gt=0, description="a connection closes when it has not sent a "
                                        "complete request head within this long of opening or of its last answer")
    store_lock_timeout_seconds: float = Field(3.0, gt=0, description="how long a commit waits for a locked "
                                              "store before the calls get 503 with Retry-After")
    retry_after_seconds: int = Field(5, ge=1, description="the Retry-After of every 503")
    nudge_seconds: float = Field(2.0, ge=0, description="at most one Prefect nudge per (source, link) per "
                                 "this many seconds")
    commit_linger_ms: float = Field(1.0, ge=0, description="group commit: how long the writer waits for "
                                    "more deliveries before committing a batch that is not full")
    commit_max_deliveries: int = Field(500, ge=1, description="group commit: deliveries per transaction "
                                       "(a single call's deliveries are never split)")
    link_cache_seconds: float = Field(5.0, ge=0, description="how long link tokens are cached; an unknown "
                                      "link or a wrong token re-reads them at most once a second")
    secret_cache_seconds: float = Field(300.0, ge=0, description="signed sources: how long a link's signing "
                                        "secret (a Prefect Secret block) is kept in memory; a signature that "
                                        "does not match re-reads it at most once a second")
    secret_timeout_seconds: float = Field(10.0, gt=0, description="signed sources: how long a call waits for "
                                          "Prefect to give a signing secret before it gets 503 with Retry-After")
    processes: int = Field(1, ge=1, le=64, description="gateway processes serving one port (SO_REUSEPORT), "
                           "each with its own event loop; on a SQLite store their commits take turns on a "
                           "file lock. More than one uses more cores: see docs/webhooks.md#throughput")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL", description="SQLite store only: FULL syncs the WAL at every commit, so an acknowledged "
        "delivery also survives a power loss; NORMAL survives a process crash only")
    public_url: str = Field("http://127.0.0.1:8000", description="base URL the vendors reach the gateway "
                            "at; `passerelle hooks add` prints receiver URLs under it")
