"""The webhook gateway: vendor webhooks in, durable inbox rows out, Prefect nudged (docs/webhooks.md)."""

from passerelle.gateway.app import create_app
from passerelle.gateway.nudge import EVENT, Nudger, PrefectEmitter, nudge_resource
from passerelle.gateway.secrets import PrefectSecretStore, SigningSecrets, secret_block_name
from passerelle.gateway.settings import GatewaySettings
from passerelle.gateway.sources import AmiliaSource, CatchSource, KnownLink, Source, default_sources

__all__ = ["EVENT", "AmiliaSource", "CatchSource", "GatewaySettings", "KnownLink", "Nudger", "PrefectEmitter",
           "PrefectSecretStore", "SigningSecrets", "Source", "create_app", "default_sources", "nudge_resource",
           "secret_block_name"]
