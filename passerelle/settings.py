"""Platform settings, read from the environment (prefix PASSERELLE_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PASSERELLE_", extra="ignore")

    home: Path = Field(Path(".passerelle"), description="folder for the local SQLite store and state")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the store; default: a SQLite file under `home`. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db")

    run_heartbeat_seconds: float = Field(
        30.0, gt=0, description="how often a running sync or reconciliation marks its store row alive")
    run_stale_after_seconds: float = Field(
        120.0, gt=0, description="a run whose row was not marked alive for this long is recorded as crashed, "
        "and the next run of its link may start")

    @property
    def store_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        self.home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.home / 'passerelle.db').resolve()}"


def normalise_database_url(url: str) -> str:
    """Accept the usual `postgres://` / `postgresql://` forms and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
