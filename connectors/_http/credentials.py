"""``ConnectionCredentials``: the base of every connector's credentials Prefect Block.

A connector's Block holds the secrets of one account in ``SecretStr`` fields (Prefect stores them encrypted
and never shows them back), an advanced ``base_url`` so the same code talks to a proxy or the sandbox, and a
``test()`` that makes the vendor's cheapest authenticated call. The Block types are registered with Prefect
(:func:`connectors.registry.register_block_types`) so the UI's block catalog lists them before anyone saved
one; ``passerelle connect APP`` builds its options from the Block's fields.

Example:
    class ZendeskCredentials(ConnectionCredentials):
        app: ClassVar[str] = "zendesk"
        _block_type_name = "Zendesk Credentials"
        _block_type_slug = "zendesk-credentials"
        email: str = Field(..., description="E-mail of the agent the API token belongs to.")
        api_token: SecretStr = Field(..., description="API token. Stored encrypted by Prefect.")
        base_url: str = base_url_field("https://example.zendesk.com", "http://HOST:PORT/zendesk")
        max_concurrency: int = concurrency_field()

        def client(self, **options) -> ZendeskClient: ...
        async def test(self) -> str: ...
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, get_args

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

# A field whose name ends like this holds a secret and must be a SecretStr.
SECRET_SUFFIXES = ("password", "token", "secret", "key", "passphrase")


def base_url_field(default: str, sandbox: str) -> Any:
    """The advanced ``base_url`` field every credentials Block has.

    Args:
        default: The vendor's API root.
        sandbox: The Passerelle sandbox's root for this vendor, as shown to users (``http://HOST:PORT/…``).
    """
    return Field(default, description="Advanced: API root. Change only to use a proxy or the Passerelle "
                 f"sandbox ({sandbox}).")


def concurrency_field(default: int = 8) -> Any:
    """The advanced ``max_concurrency`` field (requests in flight at once)."""
    return Field(default, ge=1, le=64, description="Advanced: requests in flight at once.")


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)


class ConnectionCredentials(Block, ABC):
    """Credentials of one account of one app, saved as a Prefect Block under a connection's name.

    Subclasses set ``app`` (the registry's name: ``amilia``), Prefect's ``_block_type_name`` and
    ``_block_type_slug`` (never change them: saved Blocks are found by slug), declare their fields (secrets
    as ``SecretStr``, a ``base_url`` from :func:`base_url_field`), and implement :meth:`client` and
    :meth:`test`.
    """

    app: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if ABC in cls.__bases__:
            return
        missing = [name for name in ("app", "_block_type_slug") if not getattr(cls, name, None)]
        if missing or "base_url" not in cls.model_fields:
            raise TypeError(f"{cls.__name__} needs {', '.join(missing or ['a base_url field'])}")
        for name, field in cls.model_fields.items():
            if name.lower().endswith(SECRET_SUFFIXES) and not _is_secret(field.annotation):
                raise TypeError(f"{cls.__name__}.{name} holds a secret: declare it as SecretStr")

    @classmethod
    def secret_field_names(cls) -> list[str]:
        """The fields that hold secrets (prompted without echo by ``passerelle connect``)."""
        return [name for name, field in cls.model_fields.items() if _is_secret(field.annotation)]

    @property
    def block_ref(self) -> str:
        """``<block type slug>/<name>`` (just the slug before the Block is saved or loaded), for messages."""
        name = getattr(self, "_block_document_name", None)
        slug = self.get_block_type_slug()
        return f"{slug}/{name}" if name else slug

    @abstractmethod
    def client(self, **options: Any) -> Any:
        """A new vendor client for these credentials (an async context manager)."""

    @abstractmethod
    async def test(self) -> str:
        """Make the vendor's cheapest authenticated call.

        Returns:
            A one-line verdict, e.g. ``"Cyberimpact accepted the API token (GET /ping)"``.

        Raises:
            ApiError: the vendor refused the credentials or could not be reached (its message says what to
                fix, naming :attr:`block_ref`).
        """
