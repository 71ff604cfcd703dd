"""Gateway settings, read from `PASSERELLE_GATEWAY_*` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PASSERELLE_GATEWAY_", extra="ignore")

    max_body_bytes: int = Field(1 << 20, ge=1, description="larger bodies are refused with 413 (read "
                                "incrementally: an oversized body is never read whole)")
    nudge_seconds: float = Field(2.0, ge=0, description="at most one Prefect nudge per (source, link) per "
                                 "this many seconds")
    commit_linger_ms: float = Field(1.0, ge=0, description="group commit: how long the writer waits for "
                                    "more deliveries before committing a batch that is not full")
    commit_max_deliveries: int = Field(500, ge=1, description="group commit: deliveries per transaction "
                                       "(a single call's deliveries are never split)")
    link_cache_seconds: float = Field(5.0, ge=0, description="how long link tokens are cached; an unknown "
                                      "link or a wrong token re-reads them at most once a second")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL", description="SQLite store only: FULL syncs the WAL at every commit, so an acknowledged "
        "delivery also survives a power loss; NORMAL survives a process crash only")
    public_url: str = Field("http://127.0.0.1:8000", description="base URL the vendors reach the gateway "
                            "at; `passerelle hooks add` prints receiver URLs under it")
