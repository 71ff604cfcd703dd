"""SMTP sink, server: aiosmtpd sessions on two ports of the sandbox's own event loop.

- ``port``: plain SMTP offering ``STARTTLS`` (a submission server, as on 587);
- ``tls_port``: SMTP over implicit TLS (as on 465).

Both present a self-signed certificate made at start for ``localhost`` and the listening address; its PEM is
published by the control API, so a client can trust exactly it. AUTH (PLAIN, LOGIN) checks the state's users.
Each connection reads the state when it opens: a ``PUT`` of state applies to the next connection.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import os
import ssl
import tempfile
import warnings
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sandbox.smtp.state import SmtpState

HOSTNAME = "sandbox.smtp.passerelle"
# aiosmtpd warns on every session that AUTH without TLS is allowed (the sandbox's choice, see the state) and about
# its own deprecated attribute; keep its errors only.
logging.getLogger("mail.log").setLevel(logging.ERROR)


def self_signed(host: str) -> tuple[ssl.SSLContext, str]:
    """A server TLS context with a fresh self-signed certificate for ``localhost`` and ``host``, and its PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    try:
        if ipaddress.ip_address(host) != ipaddress.ip_address("127.0.0.1"):
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Passerelle sandbox SMTP sink")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as folder:  # load_cert_chain reads files only
        path = os.path.join(folder, "sink.pem")
        with open(path, "w") as f:
            f.write(key_pem + cert_pem)
        context.load_cert_chain(path)
    return context, cert_pem


class SinkHandler:
    """aiosmtpd handler: refuses the state's refused recipients, applies DATA faults, records messages."""

    def __init__(self, state: SmtpState, implicit_tls: bool) -> None:
        self.state = state
        self.implicit_tls = implicit_tls

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if self.state.refuses(address):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = self.state.data_fault
        if fault and "code" in fault:
            return f"{fault['code']} {fault['message']}"
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        message = self.state.record(mail_from=envelope.mail_from or "", rcpt_tos=envelope.rcpt_tos, content=content,
                                    tls=self.implicit_tls or session.ssl is not None,
                                    auth_user=session.auth_data if isinstance(session.auth_data, str) else None)
        if fault and fault.get("disconnect") and server.transport is not None:
            server.transport.abort()  # delivered, and the answer never leaves
        return f"250 2.0.0 Ok: queued as {message['id']}"


class Authenticator:
    """aiosmtpd authenticator over the state's users (AUTH PLAIN and LOGIN)."""

    def __init__(self, state: SmtpState) -> None:
        self.state = state

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                 auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        username = auth_data.login.decode("utf-8", "replace")
        ok = self.state.login(username, auth_data.password.decode("utf-8", "replace"))
        return AuthResult(success=ok, handled=False, auth_data=username if ok else None)


class SmtpSink:
    """The two listening sockets of the sink, in the running event loop; started once, stopped on shutdown."""

    def __init__(self, state: SmtpState) -> None:
        self.state = state
        self.servers: list[asyncio.AbstractServer] = []
        self.info: dict[str, Any] | None = None
        self._starting = asyncio.Lock()

    def _session(self, context: ssl.SSLContext, implicit_tls: bool) -> SMTP:
        with self.state.lock:
            required, require_tls = self.state.auth_required, self.state.auth_require_tls
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Requiring AUTH while not requiring TLS"
            return SMTP(SinkHandler(self.state, implicit_tls), hostname=HOSTNAME,
                        tls_context=None if implicit_tls else context, auth_required=required,
                        auth_require_tls=False if implicit_tls else require_tls,
                        authenticator=Authenticator(self.state), auth_exclude_mechanism=["CRAM-MD5"],
                        loop=asyncio.get_running_loop())

    async def start(self, host: str = "127.0.0.1", port: int = 0, tls_port: int = 0) -> dict[str, Any]:
        """Listen (once: a second call returns where it listens); ``0`` = a free port."""
        async with self._starting:
            if self.info is not None:
                return self.info
            context, pem = self_signed(host)
            loop = asyncio.get_running_loop()
            plain = await loop.create_server(lambda: self._session(context, False), host, port)
            try:
                secure = await loop.create_server(lambda: self._session(context, True), host, tls_port, ssl=context)
            except OSError:
                plain.close()
                raise
            self.servers = [plain, secure]
            self.info = {"running": True, "host": host, "port": plain.sockets[0].getsockname()[1],
                         "tls_port": secure.sockets[0].getsockname()[1], "certificate": pem}
            return self.info

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        for server in self.servers:
            await server.wait_closed()
        self.servers, self.info = [], None
