"""Zendesk Support connector: client (tickets, users, ticket forms and fields), models and the credentials
Block."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.registry import register_app
from connectors.zendesk.client import ZendeskClient, ZendeskPaginator
from connectors.zendesk.models import Ticket, TicketField, TicketForm, User, zendesk_domain

if TYPE_CHECKING:
    from connectors.zendesk.credentials import ZendeskCredentials

__all__ = ["APP", "Ticket", "TicketField", "TicketForm", "User", "ZendeskClient", "ZendeskCredentials",
           "ZendeskPaginator", "zendesk_domain"]

APP = register_app("zendesk", "Zendesk", "connectors.zendesk.credentials:ZendeskCredentials")


def __getattr__(name: str) -> Any:  # the Block imports Prefect: load it only when asked for
    if name == "ZendeskCredentials":
        from connectors.zendesk.credentials import ZendeskCredentials

        return ZendeskCredentials
    raise AttributeError(name)
