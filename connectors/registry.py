"""The apps Passerelle can connect to: app name → credentials Block class, each connector registering itself.

A connector package (``connectors/<app>/__init__.py``) calls :func:`register_app` with its name and where its
credentials Block lives (imported only when asked for: Prefect is slow to import, and ``passerelle --help``
must stay instant). :func:`apps` imports every connector package of ``connectors/`` and every module named by
a ``passerelle.connectors`` entry point (a connector shipped in another distribution), so that each
registers.

A *connection* is an app plus the name its credentials Block is saved under (DESIGN.md, "Connections");
:func:`open_connection` opens the vendor client of one.

Example:
    async with open_connection("cyberimpact", "newsletter") as cyber:
        await cyber.ping()
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from connectors._http.errors import block_name_problem, is_block_not_found

if TYPE_CHECKING:
    from connectors._http.credentials import ConnectionCredentials

ENTRY_POINT_GROUP = "passerelle.connectors"


@dataclass(frozen=True)
class App:
    """One app a connection can be made to.

    Attributes:
        name: The word users type (``passerelle connect amilia``); lowercase letters, digits, dashes.
        title: The vendor's display name ("Amilia").
        credentials: ``"module:Class"`` of its credentials Block (a :class:`ConnectionCredentials`).
    """

    name: str
    title: str
    credentials: str

    def credentials_class(self) -> type[ConnectionCredentials]:
        """The credentials Block class (imports it, and Prefect with it)."""
        module, _, attribute = self.credentials.partition(":")
        cls = getattr(importlib.import_module(module), attribute)
        if getattr(cls, "app", None) != self.name:
            raise TypeError(f"{self.credentials} declares app {getattr(cls, 'app', None)!r}, not {self.name!r}")
        return cls

    def env_var(self, field: str) -> str:
        """The environment variable a secret field can be read from: ``AMILIA_PASSWORD``."""
        return f"{self.name}_{field}".upper().replace("-", "_")


_APPS: dict[str, App] = {}
_discovered = False


def register_app(name: str, title: str, credentials: str) -> App:
    """Register an app (called by its connector package on import; registering it again is harmless).

    Raises:
        ValueError: the name is not a valid app name, or another app already has it.
    """
    if block_name_problem(name):
        raise ValueError(f"{name!r} is not a valid app name: use lowercase letters, digits and dashes")
    app = App(name, title, credentials)
    if _APPS.get(name, app) != app:
        raise ValueError(f"app {name!r} is registered twice ({_APPS[name].credentials} and {credentials})")
    _APPS[name] = app
    return app


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    import connectors

    for module in pkgutil.iter_modules(connectors.__path__):
        if module.ispkg and not module.name.startswith("_"):
            importlib.import_module(f"connectors.{module.name}")
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        entry.load()
    _discovered = True


def apps() -> dict[str, App]:
    """Every registered app, by name, sorted."""
    _discover()
    return dict(sorted(_APPS.items()))


class UnknownApp(ValueError):
    """No app of that name is registered."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"no app named {name!r}: use one of {', '.join(known)}")

    def __reduce__(self):
        return type(self), (self.name, self.known)


def get_app(name: str) -> App:
    """The registered app of that name.

    Raises:
        UnknownApp: listing the apps there are.
    """
    known = apps()
    if name not in known:
        raise UnknownApp(name, list(known))
    return known[name]


class ConnectionNotFound(ValueError):
    """No credentials Block of the app is saved under that name."""

    def __init__(self, app: str, name: str) -> None:
        self.app = app
        self.name = name
        super().__init__(f"no {app} connection named {name!r}: create it with "
                         f"`passerelle connect {app} --name {name}`")

    def __reduce__(self):
        return type(self), (self.app, self.name)


async def load_connection(app: str, name: str) -> ConnectionCredentials:
    """The credentials Block of a connection.

    Raises:
        UnknownApp, ValueError (a name a Block cannot have), ConnectionNotFound.
    """
    problem = block_name_problem(name)
    if problem:
        raise ValueError(problem.replace("link name", "connection name"))
    cls = get_app(app).credentials_class()
    try:
        return await cls.aload(name)
    except ValueError as exc:
        if is_block_not_found(exc):
            raise ConnectionNotFound(app, name) from None
        raise


@asynccontextmanager
async def open_connection(app: str, name: str, **options: Any) -> AsyncIterator[Any]:
    """The vendor client of a connection, closed on exit.

    Args:
        app: A registered app ("cyberimpact").
        name: The name its credentials Block is saved under.
        **options: Client options (``retry``, ``rate_limit``...).

    Example:
        async with open_connection("amilia", "my-club") as amilia:
            persons = await amilia.list_persons()
    """
    block = await load_connection(app, name)
    async with block.client(**options) as client:
        yield client


async def register_block_types() -> list[str]:
    """Register every app's credentials Block type and schema with the Prefect API (idempotent), so the UI's
    block catalog lists them before anyone saved one.

    Returns:
        The block type slugs registered.
    """
    slugs = []
    for app in apps().values():
        cls = app.credentials_class()
        await cls.aregister_type_and_schema()
        slugs.append(cls.get_block_type_slug())
    return slugs
