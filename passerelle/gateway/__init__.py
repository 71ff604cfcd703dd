"""The webhook gateway: vendor webhooks in, durable inbox rows out, Prefect nudged (docs/webhooks.md)."""

from passerelle.gateway.app import create_app
from passerelle.gateway.nudge import EVENT, Nudger, PrefectEmitter, nudge_resource
from passerelle.gateway.settings import GatewaySettings
from passerelle.gateway.sources import AmiliaSource, KnownLink, Source, default_sources

__all__ = ["EVENT", "AmiliaSource", "GatewaySettings", "KnownLink", "Nudger", "PrefectEmitter", "Source",
           "create_app", "default_sources", "nudge_resource"]
