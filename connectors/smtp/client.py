"""Sending e-mail over SMTP with aiosmtplib: one connection per message, each step's failure classified.

Security: ``starttls`` (connect in clear, upgrade before anything else; refused if the server cannot),
``tls`` (TLS from the first byte, as on port 465) or ``none`` (clear text all the way: local relays only).

Effects that must not happen twice (DESIGN.md): an e-mail cannot be recalled, and SMTP has no idempotency key.
Everything before ``DATA`` delivers nothing, so a failure there is safe to try again (:class:`TransportError`,
:class:`ServerError` for the server's 4xx) or is to be fixed (:class:`AuthError`, :class:`ValidationError`).
Once the message is sent, a lost answer (timeout, dropped connection) is :class:`OutcomeUnknown`: the server
may have queued it. Nothing here retries; the zap runner decides.

Example:
    async with SmtpClient(host="smtp.acme.org", port=587, security="starttls", username="bot",
                          password=SecretStr("…")) as smtp:
        delivery = await smtp.send(message, sender="bot@acme.org", recipients=["lea@example.org"])
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Literal

import aiosmtplib
from pydantic import SecretStr

from connectors._http import ApiError, AuthError, OutcomeUnknown, ServerError, TransportError, ValidationError
from connectors._http.client import tls_context

Security = Literal["starttls", "tls", "none"]
SECURITIES: tuple[str, ...] = ("starttls", "tls", "none")


@dataclass
class Delivery:
    """What the server accepted: the recipients it took, and those it refused (address → its reply)."""

    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    reply: str = ""


class SmtpClient:
    """One SMTP account: a connection per call (:meth:`check`, :meth:`send`).

    Args:
        host, port: The server.
        security: ``starttls``, ``tls`` or ``none``.
        username, password: The login (AUTH PLAIN/LOGIN/CRAM-MD5, whichever the server offers); none: no AUTH.
        timeout: Seconds for the connection and each reply.
        ca_certificate: PEM of the certificate authority to trust instead of the system's (a private CA, the
            sandbox's sink); None: the usual public CAs.
        block: The credentials Block's reference, named in hints.
    """

    def __init__(self, *, host: str, port: int, security: Security = "starttls", username: str | None = None,
                 password: SecretStr | str | None = None, timeout: float = 30.0, ca_certificate: str | None = None,
                 block: str = "smtp-server") -> None:
        if security not in SECURITIES:
            raise ValueError(f"security must be one of {', '.join(SECURITIES)}; got {security!r}")
        self.host, self.port, self.security = host, port, security
        self.username = username or None
        self._password = password if isinstance(password, SecretStr) or password is None else SecretStr(password)
        self.timeout = timeout
        self.ca_certificate = ca_certificate
        self.block = block
        self.vendor = f"SMTP server {host}:{port}"

    def __repr__(self) -> str:
        return (f"SmtpClient(host={self.host!r}, port={self.port}, security={self.security!r}, "
                f"username={self.username!r})")

    async def __aenter__(self) -> SmtpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    # -- errors --------------------------------------------------------------------------------------
    def _error(self, cls: type[ApiError], step: str, message: str | None, status: int | None = None,
               **kwargs: Any) -> ApiError:
        return cls(vendor=self.vendor, method="SMTP", path=step, status=status, message=message, **kwargs)

    def _tls_hint(self) -> str:
        return (f"Check security ({self.security}) against the port: 465 is usually tls, 587 starttls, 25 starttls "
                f"or none; set them in the '{self.block}' block.")

    # -- connection ----------------------------------------------------------------------------------
    def _tls(self) -> ssl.SSLContext:
        if self.ca_certificate:
            return ssl.create_default_context(cadata=self.ca_certificate)
        return tls_context()

    async def _open(self) -> aiosmtplib.SMTP:
        """Connected, upgraded to TLS as configured, logged in if a username is set."""
        smtp = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self.timeout,
                               use_tls=self.security == "tls", start_tls=False,
                               tls_context=self._tls() if self.security != "none" else None)
        try:
            await smtp.connect()
            if self.security == "starttls":
                await smtp.starttls()
            await smtp.ehlo()
            if self.username:
                password = self._password.get_secret_value() if self._password else ""
                await smtp.login(self.username, password)
        except Exception as exc:
            smtp.close()
            raise self._connect_error(exc) from None
        except BaseException:  # cancelled: close, and let it through
            smtp.close()
            raise
        return smtp

    def _connect_error(self, exc: Exception) -> Exception:
        """A failure before any mail was given: nothing was delivered."""
        cause = exc.__cause__ or exc.__context__
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            return AuthError(vendor=self.vendor, method="SMTP", path="AUTH", status=exc.code, message=exc.message,
                             credential="username and password",
                             hint=f"Check the username and password in the '{self.block}' block.")
        if isinstance(exc, aiosmtplib.SMTPConnectTimeoutError | aiosmtplib.SMTPTimeoutError):
            return self._error(TransportError, "CONNECT", "no answer in time", hint=f"Check host, port and security "
                               f"in the '{self.block}' block (a TLS port such as 465 says nothing until the client "
                               "starts TLS: security tls), and that the network lets this machine reach them.")
        unverified = next((e for e in (exc, cause) if isinstance(e, ssl.SSLCertVerificationError)), None)
        if unverified is not None:
            return self._error(ApiError, "STARTTLS" if self.security == "starttls" else "CONNECT",
                               f"its TLS certificate is not trusted ({unverified.verify_message})",
                               hint="Check the host name; for a private certificate authority, give its PEM as "
                               f"ca_certificate in the '{self.block}' block.")
        if isinstance(cause, ssl.SSLError) or isinstance(exc, ssl.SSLError):
            return self._error(ApiError, "CONNECT", "the TLS handshake failed", hint=self._tls_hint())
        if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
            cls = ServerError if 400 <= exc.code < 500 else ApiError
            return self._error(cls, "CONNECT", exc.message, status=exc.code)
        if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected | OSError):
            return self._error(TransportError, "CONNECT", str(exc).removeprefix("Error connecting to "),
                               hint=f"Check host and port in the '{self.block}' block.")
        if isinstance(exc, aiosmtplib.SMTPException) and "STARTTLS extension" in str(exc):
            return self._error(ApiError, "STARTTLS", "the server does not offer STARTTLS", hint=self._tls_hint())
        if isinstance(exc, aiosmtplib.SMTPException) and "AUTH extension" in str(exc):
            return AuthError(vendor=self.vendor, method="SMTP", path="AUTH", message="the server offers no login "
                             "(AUTH) on this connection", credential="username and password",
                             hint=f"Use security starttls or tls, or leave username empty if the server takes mail "
                             f"without login; in the '{self.block}' block.")
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            cls = ServerError if 400 <= exc.code < 500 else ApiError
            return self._error(cls, "EHLO", exc.message, status=exc.code)
        if isinstance(exc, aiosmtplib.SMTPException):  # anything else the dialogue refused, before any mail
            return self._error(ApiError, "CONNECT", f"{type(exc).__name__}: {exc}")
        return exc

    # -- calls ---------------------------------------------------------------------------------------
    async def check(self) -> str:
        """Connect, say EHLO, upgrade to TLS and log in as configured, then QUIT: no mail is sent."""
        smtp = await self._open()
        try:
            await smtp.quit()
        except aiosmtplib.SMTPException:
            smtp.close()
        login = f"accepted the login of {self.username}" if self.username else "answered (no login configured)"
        mode = {"starttls": "STARTTLS", "tls": "TLS", "none": "no encryption"}[self.security]
        return f"{self.host}:{self.port} {login} ({mode})"

    async def send(self, message: EmailMessage, *, sender: str, recipients: Sequence[str]) -> Delivery:
        """Send one message to the envelope's ``recipients`` (To, Cc and Bcc); returns who was accepted.

        Raises:
            AuthError: the login was refused, or the server wants one (530).
            ValidationError: the server refused the sender, every recipient, or the message (5xx).
            ServerError: a temporary refusal (4xx) before the message was accepted: nothing was delivered.
            TransportError: no connection, or it broke before the message was sent.
            OutcomeUnknown: the message was sent and no answer came back.
        """
        if not recipients:
            raise ValueError("recipients must not be empty")
        content = message.as_bytes()  # before connecting: a message that cannot be written is not half-sent
        smtp = await self._open()
        try:
            delivery = await self._envelope(smtp, sender, recipients)
            try:
                response = await smtp.data(content)
            except aiosmtplib.SMTPResponseException as exc:
                cls = ServerError if 400 <= exc.code < 500 else ValidationError
                raise self._error(cls, "DATA", exc.message, status=exc.code) from None
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
                raise self._error(OutcomeUnknown, "DATA", f"the connection ended before the server answered "
                                  f"({type(exc).__name__})") from None
            delivery.reply = f"{response.code} {response.message}"
        finally:
            await self._close(smtp)
        return delivery

    async def _envelope(self, smtp: aiosmtplib.SMTP, sender: str, recipients: Sequence[str]) -> Delivery:
        """MAIL FROM and RCPT TO (nothing is delivered yet)."""
        try:
            await smtp.mail(sender)
        except aiosmtplib.SMTPSenderRefused as exc:
            if exc.code == 530:
                raise AuthError(vendor=self.vendor, method="SMTP", path="MAIL FROM", status=530, message=exc.message,
                                credential="username and password",
                                hint=f"The server wants a login: set username and password in the '{self.block}' "
                                "block.") from None
            cls = ServerError if 400 <= exc.code < 500 else ValidationError
            raise self._error(cls, "MAIL FROM", f"{sender} refused: {exc.message}", status=exc.code,
                              hint="The server may not let this login send as this address (from).") from None
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
            raise self._error(TransportError, "MAIL FROM", type(exc).__name__) from None
        delivery = Delivery()
        for address in recipients:
            try:
                await smtp.rcpt(address)
                delivery.accepted.append(address)
            except aiosmtplib.SMTPRecipientRefused as exc:
                delivery.refused[address] = f"{exc.code} {exc.message}"
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
                raise self._error(TransportError, "RCPT TO", type(exc).__name__) from None
        if not delivery.accepted:
            temporary = all(reply.startswith("4") for reply in delivery.refused.values())
            detail = "; ".join(f"{a}: {r}" for a, r in delivery.refused.items())
            raise self._error(ServerError if temporary else ValidationError, "RCPT TO",
                              f"every recipient was refused ({detail})") from None
        return delivery

    @staticmethod
    async def _close(smtp: aiosmtplib.SMTP) -> None:
        if not smtp.is_connected:
            return
        try:
            await smtp.quit()
        except (aiosmtplib.SMTPException, OSError):
            smtp.close()
