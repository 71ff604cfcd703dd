"""iAdvize connector: GraphQL client (closed conversations, transcripts), OAuth2 login, webhook checks and the
credentials Block (docs/connector-iadvize.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.iadvize.client import DEFAULT_BASE_URL, IadvizeAuth, IadvizeClient, graphql_errors
from connectors.iadvize.models import Conversation, ConversationSummary, Message, Operator, Transfer
from connectors.registry import register_app

if TYPE_CHECKING:
    from connectors.iadvize.credentials import IadvizeCredentials

__all__ = ["APP", "DEFAULT_BASE_URL", "Conversation", "ConversationSummary", "IadvizeAuth", "IadvizeClient",
           "IadvizeCredentials", "Message", "Operator", "Transfer", "graphql_errors"]

APP = register_app("iadvize", "iAdvize", "connectors.iadvize.credentials:IadvizeCredentials")


def __getattr__(name: str) -> Any:  # the Block imports Prefect: load it only when asked for
    if name == "IadvizeCredentials":
        from connectors.iadvize.credentials import IadvizeCredentials

        return IadvizeCredentials
    raise AttributeError(name)
