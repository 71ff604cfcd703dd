"""The iAdvize → Zendesk app install: one Prefect Block per iAdvize site (docs/iadvize-zendesk.md, "Install").

The seed's installation form, field for field: the five parameters ("Zendesk API Key", "iAdvize api key for rest
api", "Zendesk domain" of the form `https://[votredomaine].zendesk.com`, "Zendesk email", "iAdvize token for
graphQL api"), the automatic archival toggle and its form, the escalation toggle, the private note's label and the
escalation form. "Si vous avez plusieurs sites configurés sur iAdvize, il faudra installer l'app Zendesk pour
chacun d'entre eux": the Block document of site 4242 is named `site-4242`.

Saving validates: `passerelle connect iadvize-zendesk` runs :meth:`IadvizeZendeskInstall.test` (a Zendesk call
and an iAdvize call, each failure naming its credential) before it saves.

Example:
    install = await load_install("4242")
    async with install.zendesk() as zendesk, install.iadvize() as iadvize:
        conversation = await iadvize.conversation(conversation_id)
        await zendesk.tickets_by_external_id(...)
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, field_validator

from connectors._http.errors import ApiError, AuthError, NotFoundError, is_block_not_found
from connectors.iadvize.client import DEFAULT_BASE_URL as IADVIZE_API
from connectors.iadvize.client import IadvizeClient
from connectors.zendesk.client import ME, ZendeskClient
from connectors.zendesk.models import DOMAIN_FORM, check_email, zendesk_domain

BLOCK_TYPE_SLUG = "iadvize-zendesk-install"
CONNECT = "passerelle connect iadvize-zendesk"


def check_site(value: Any) -> str:
    """An iAdvize site (project) id as text (`"4242"`), or a ValueError saying the form expected."""
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise ValueError(f"site must be the iAdvize site (project) id, a whole number such as 4242; got {value!r:.40}")
    return str(int(text))


def install_block_name(site: str) -> str:
    """The name of a site's install Block: `site-4242`."""
    return f"site-{check_site(site)}"


class InstallNotFound(LookupError):
    """No install Block for the site: the message names the command that creates it."""

    def __init__(self, site: str) -> None:
        self.site = site
        super().__init__(f"iAdvize site {site} has no Zendesk app install (no {BLOCK_TYPE_SLUG} block "
                         f"{install_block_name(site)!r}): create it with `{CONNECT} --site {site}`")


class InstallCheckFailed(Exception):
    """:meth:`IadvizeZendeskInstall.test` failed: `failures` maps `zendesk` / `iadvize` to what each said."""

    def __init__(self, failures: dict[str, BaseException]) -> None:
        self.failures = failures
        super().__init__(" | ".join(str(exc) for exc in failures.values()))


def _url(value: str | None, name: str, example: str) -> str | None:
    value = (value or "").strip().rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise ValueError(f"{name} must be an http(s) URL such as {example}; got {value!r:.80}")
    return value or None


class IadvizeZendeskInstall(Block):
    """The Zendesk app installed on one iAdvize site: the five parameters of the seed and the app's options.

    Example:
        install = IadvizeZendeskInstall(site="4242", zendesk_domain="https://acme.zendesk.com",
                                        zendesk_email="admin@acme.com", zendesk_api_key="…",
                                        iadvize_rest_api_key="…", iadvize_graphql_token="…", auto_archive=True)
        await install.test()
        await install.save(install_block_name("4242"))
    """

    _block_type_name: ClassVar[str] = "iAdvize Zendesk Install"
    _block_type_slug: ClassVar[str] = BLOCK_TYPE_SLUG
    _description: ClassVar[str] = ("The iAdvize → Zendesk app installed on one iAdvize site (named site-<id>): "
                                   "Zendesk and iAdvize credentials, automatic archival and agent escalation.")
    _documentation_url: ClassVar[str] = "https://help.iadvize.com/hc/en-gb/articles/360014229180"

    site: str = Field(..., description="The iAdvize site (project) id, e.g. 4242. One install per site.")
    zendesk_api_key: SecretStr = Field(..., description="Zendesk API Key: an API token generated in your Zendesk "
                                       "administration. Stored encrypted by Prefect.")
    iadvize_rest_api_key: SecretStr = Field(..., description="iAdvize api key for rest api (ask help@iadvize.com "
                                            "if you have none). Stored encrypted by Prefect.")
    zendesk_domain: str = Field(..., description=f"Zendesk domain, of the form {DOMAIN_FORM}.")
    zendesk_email: str = Field(..., description="Zendesk email: the admin e-mail of that Zendesk subdomain.")
    iadvize_graphql_token: SecretStr = Field(..., description="iAdvize token for graphQL api (ask "
                                             "help@iadvize.com if you have none). Stored encrypted by Prefect.")
    auto_archive: bool = Field(False, description="Save a Zendesk ticket automatically after each conversation.")
    archive_form_id: int | None = Field(None, gt=0, description="Zendesk ticket form for the automatically saved "
                                        "tickets (Enterprise plans and above); the default form when empty.")
    escalation: bool = Field(False, description="Let agents escalate a conversation to a Zendesk ticket.")
    escalation_note_label: str = Field("", max_length=200, description="Label of the private note's text area "
                                       "shown to agents who escalate, e.g. 'Synthèse de la demande en une ligne'.")
    escalation_form_id: int | None = Field(None, gt=0, description="Zendesk ticket form used for escalations.")
    site_country: str | None = Field(None, description="The site's country for the 'iAdvize Country' field; "
                                     "filled from iAdvize when the install is checked, if iAdvize knows it.")
    zendesk_base_url: str | None = Field(None, description="Advanced: Zendesk API root replacing the domain "
                                         "(a proxy or the Passerelle sandbox, http://HOST:PORT/zendesk).")
    iadvize_base_url: str | None = Field(None, description=f"Advanced: iAdvize API root instead of {IADVIZE_API} "
                                         "(a proxy or the Passerelle sandbox, http://HOST:PORT/iadvize).")
    iadvize_platform: Literal["ha", "sd"] = Field("ha", description="The iAdvize platform of the account: 'ha' "
                                                  "(most accounts) or 'sd'.")

    @field_validator("site", mode="before")
    @classmethod
    def _site(cls, value: Any) -> str:
        return check_site(value)

    @field_validator("zendesk_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return zendesk_domain(value)

    @field_validator("zendesk_email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_email(value, "zendesk_email")

    @field_validator("zendesk_base_url")
    @classmethod
    def _zendesk_url(cls, value: str | None) -> str | None:
        return _url(value, "zendesk_base_url", "http://127.0.0.1:8765/zendesk")

    @field_validator("iadvize_base_url")
    @classmethod
    def _iadvize_url(cls, value: str | None) -> str | None:
        return _url(value, "iadvize_base_url", "http://127.0.0.1:8765/iadvize")

    @field_validator("escalation_note_label", "site_country")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() if isinstance(value, str) else value

    @property
    def block_ref(self) -> str:
        return f"{BLOCK_TYPE_SLUG}/{install_block_name(self.site)}"

    def _hint(self, what: str) -> str:
        return f"Check the {what} of the '{self.block_ref}' block (`{CONNECT} --site {self.site}` saves it again)."

    def zendesk(self, **options: Any) -> ZendeskClient:
        """A :class:`ZendeskClient` for this install (``async with install.zendesk() as zd:``)."""
        return ZendeskClient(domain=self.zendesk_domain, base_url=self.zendesk_base_url, email=self.zendesk_email,
                             api_token=self.zendesk_api_key,
                             **{"auth_hint": self._hint("Zendesk email and Zendesk API key"), **options})

    def iadvize(self, **options: Any) -> IadvizeClient:
        """An :class:`IadvizeClient` authenticated with the GraphQL token (``async with install.iadvize() as ia:``)."""
        return IadvizeClient(token=self.iadvize_graphql_token, platform=self.iadvize_platform,
                             base_url=self.iadvize_base_url or IADVIZE_API,
                             **{"auth_hint": self._hint("iAdvize token for graphQL api and platform"), **options})

    async def _check_zendesk(self) -> str:
        async with self.zendesk() as zendesk:
            user = await zendesk.me()
        where = dict(vendor="Zendesk", method="GET", path=ME.path, credential="Zendesk email and API key",
                     hint=self._hint("Zendesk email and Zendesk API key"))
        if user.get("id") is None:
            raise AuthError(status=401, message="it answered as an anonymous user", **where)
        if user.get("role") not in ("admin", "agent"):
            raise AuthError(status=403, message=f"{self.zendesk_email} is an {user.get('role') or 'unknown role'}, "
                            "not an agent or admin", **where)
        return f"Zendesk accepted the API key of {user.get('email') or self.zendesk_email} ({user['role']})"

    async def _check_iadvize(self) -> str:
        async with self.iadvize() as iadvize:
            if not await iadvize.authenticated():
                raise AuthError(vendor="iAdvize", status=200, method="GET", path="/_authenticated",
                                credential="GraphQL token", message="the token was not accepted",
                                hint=self._hint("iAdvize token for graphQL api"))
            projects = {str(p.get("id")): p for p in await iadvize.projects()}
        project = projects.get(self.site)
        if project is None:
            seen = ", ".join(sorted(projects)[:10]) or "none"
            raise NotFoundError(vendor="iAdvize", method="POST", path="/graphql",
                                message=f"the GraphQL token sees no site {self.site} (sites it sees: {seen})",
                                hint=f"Check --site, or ask help@iadvize.com for a token of site {self.site}.")
        if self.site_country is None and project.get("country"):
            self.site_country = str(project["country"])
        return f"iAdvize accepted the GraphQL token and knows site {self.site} ({project.get('name') or '?'})"

    async def check(self) -> list[str]:
        """Both credentials checked at once (`GET /api/v2/users/me`; `GET /_authenticated` and the `projects`
        query, which must list the site); one verdict line each. Fills `site_country` when iAdvize knows it.

        Raises:
            InstallCheckFailed: naming each credential refused (its `failures`: ``zendesk`` / ``iadvize``).
        """
        outcomes = await asyncio.gather(self._check_zendesk(), self._check_iadvize(), return_exceptions=True)
        failures = {name: outcome for name, outcome in zip(("zendesk", "iadvize"), outcomes, strict=True)
                    if isinstance(outcome, BaseException)}
        for exc in failures.values():
            if not isinstance(exc, ApiError | ValueError):
                raise exc  # a bug, not a refusal: its traceback matters
        if failures:
            raise InstallCheckFailed(failures)
        return [str(line) for line in outcomes]

    async def test(self) -> None:
        """Check both credentials with a test call (see :meth:`check`).

        Example:
            await install.test()   # InstallCheckFailed: Zendesk rejected the Zendesk email and API key (401 …
        """
        await self.check()


async def load_install(site: str) -> IadvizeZendeskInstall:
    """The install Block of an iAdvize site.

    Raises:
        ValueError: `site` is not a site id. InstallNotFound: none saved (naming `passerelle connect iadvize-zendesk`).
    """
    site = check_site(site)
    try:
        return await IadvizeZendeskInstall.aload(install_block_name(site))
    except ValueError as exc:
        if is_block_not_found(exc):
            raise InstallNotFound(site) from None
        raise


async def register_install_block_type() -> str:
    """Register the install's Block type and schema with Prefect (idempotent), for the UI's block catalog."""
    await IadvizeZendeskInstall.aregister_type_and_schema()
    return BLOCK_TYPE_SLUG
