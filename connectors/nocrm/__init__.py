"""noCRM.io connector: the simplified API's lead actions (client, models, errors, zap actions) and the
credentials Block."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.nocrm.client import NocrmClient
from connectors.nocrm.errors import (
    EmailRefused,
    LeadWithoutEmail,
    MailboxNotSynced,
    TemplateNotShared,
    TemplateVariablesLeft,
)
from connectors.nocrm.models import Activity, Lead, nocrm_account
from connectors.registry import register_app

if TYPE_CHECKING:
    from connectors.nocrm.credentials import NocrmCredentials

__all__ = ["APP", "Activity", "EmailRefused", "Lead", "LeadWithoutEmail", "MailboxNotSynced", "NocrmClient",
           "NocrmCredentials", "TemplateNotShared", "TemplateVariablesLeft", "nocrm_account"]

APP = register_app("nocrm", "noCRM.io", "connectors.nocrm.credentials:NocrmCredentials")


def __getattr__(name: str) -> Any:  # the Block imports Prefect: load it only when asked for
    if name == "NocrmCredentials":
        from connectors.nocrm.credentials import NocrmCredentials

        return NocrmCredentials
    raise AttributeError(name)
