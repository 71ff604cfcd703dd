"""The ``SMTP Server`` Prefect Block: an SMTP server, its login and the default sender of the e-mails sent."""

from __future__ import annotations

import re
import ssl
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors._http.credentials import ConnectionCredentials
from connectors.smtp.addresses import Mailbox, mailbox
from connectors.smtp.client import SmtpClient

_HOST = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                   r"[A-Za-z0-9])?)*")
_BASE_URL = re.compile(r"smtp://([^/:@\s]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})/?")


class SmtpCredentials(ConnectionCredentials):
    """An SMTP server to send e-mail through (a provider's submission server, an office relay…).

    Example:
        creds = SmtpCredentials(host="smtp.acme.org", port=587, security="starttls", username="bot@acme.org",
                                password="…", default_sender="Acme <bot@acme.org>")
        print(await creds.test())   # smtp.acme.org:587 accepted the login of bot@acme.org (STARTTLS)
    """

    # pydantic would echo the input in its errors, the password with it.
    model_config = ConfigDict(hide_input_in_errors=True)

    app: ClassVar[str] = "smtp"
    _block_type_name = "SMTP Server"
    _block_type_slug = "smtp-server"
    _description = "An SMTP server, its login and the default sender, to send e-mail from zaps and flows."
    _documentation_url = "https://datatracker.ietf.org/doc/html/rfc6409"

    host: str = Field(..., description="The server's host name, e.g. smtp.gmail.com (no scheme, no port).")
    port: int = Field(587, ge=1, le=65535, description="TCP port: 587 (starttls), 465 (tls), 25.")
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls: upgrade to TLS before the login (port 587); tls: TLS from the start "
        "(port 465); none: no encryption, the password in clear (local relays only).")
    username: str | None = Field(None, description="Login; leave empty for a server that takes mail without one.")
    password: SecretStr | None = Field(None, description="Password (or app password). Stored encrypted by Prefect.")
    default_sender: str = Field(..., description="From address when a step gives none: bot@acme.org or "
                                "Acme <bot@acme.org>.")
    base_url: str | None = Field(None, description="Advanced: smtp://HOST:PORT replacing host and port (security "
                                 "kept). Set only for the Passerelle sandbox's SMTP sink or a local relay.")
    ca_certificate: str | None = Field(None, description="Advanced: PEM of the certificate authority to trust "
                                       "instead of the public ones (a private CA, or the sandbox's sink).")
    timeout: float = Field(30.0, gt=0, le=300, description="Advanced: seconds for the connection and each reply.")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        text = value.strip()
        if "://" in text or ":" in text or not _HOST.fullmatch(text):
            raise ValueError(f"host must be a host name such as smtp.example.org (no scheme, no port: set port); "
                             f"got {text!r}")
        return text.lower()

    @field_validator("default_sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return str(mailbox(value))

    @field_validator("username", "ca_certificate")
    @classmethod
    def _blank(cls, value: str | None) -> str | None:
        return value.strip() or None if isinstance(value, str) else value

    @field_validator("ca_certificate")
    @classmethod
    def _pem(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ssl.create_default_context(cadata=value)
            except (ssl.SSLError, ValueError):
                raise ValueError("ca_certificate must be a PEM certificate (-----BEGIN CERTIFICATE----- …)") from None
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        text = (value or "").strip()
        if text and not _BASE_URL.fullmatch(text):
            raise ValueError(f"base_url must be smtp://HOST:PORT, e.g. smtp://127.0.0.1:2525; got {text!r}")
        return text.rstrip("/") or None

    @model_validator(mode="after")
    def _login(self) -> SmtpCredentials:
        if self.password is not None and not self.password.get_secret_value():
            self.password = None
        if (self.username is None) != (self.password is None):
            missing = "password" if self.password is None else "username"
            raise ValueError(f"{missing}: give both username and password, or neither (a server without login)")
        return self

    @property
    def sender(self) -> Mailbox:
        return mailbox(self.default_sender)

    def address(self) -> tuple[str, int]:
        """The host and port connected to: ``base_url``'s when it is set."""
        match = _BASE_URL.fullmatch(self.base_url or "")
        if match:
            return match.group(1).strip("[]"), int(match.group(2))
        return self.host, self.port

    def client(self, **options) -> SmtpClient:
        """A new :class:`SmtpClient` (use it with ``async with``); ``options`` override ``timeout``…"""
        host, port = self.address()
        return SmtpClient(**{"host": host, "port": port, "security": self.security, "username": self.username,
                             "password": self.password, "timeout": self.timeout,
                             "ca_certificate": self.ca_certificate, "block": self.block_ref, **options})

    async def test(self) -> str:
        """Connect, upgrade to TLS, log in, and QUIT (no mail is sent).

        Example:
            print(await creds.test())  # smtp.acme.org:587 accepted the login of bot@acme.org (STARTTLS)
        """
        async with self.client() as smtp:
            return await smtp.check()
