"""Google Sheets emulator, part 2: service accounts and the OAuth token endpoint (the JWT-bearer grant).

``POST /google-sheets/token`` (the stand-in for ``https://oauth2.googleapis.com/token``), form
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>``. The JWT's ``iss`` names a service
account the emulator knows; its RS256 signature is checked against that account's public key; ``aud`` must be
Google's token URL or this endpoint's own URL; ``iat``/``exp`` must span at most an hour around now (5 minutes
of clock skew allowed); ``scope`` is required. Answers ``{"access_token", "expires_in", "token_type": "Bearer"}``
or 400 ``{"error": "invalid_grant" | "invalid_scope" | "unsupported_grant_type", "error_description"}``.

Keys the emulator generates (the default account's, and those of ``POST /_sandbox/google-sheets/keys``) are kept
for the life of the process, so a control call can hand out a whole JSON key file.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.google_sheets.document import DEFAULT_EMAIL, GoogleError, OAuthError

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_LIFETIME = 3600
SKEW = 300
WRITE_SCOPES = {"https://www.googleapis.com/auth/spreadsheets", "https://www.googleapis.com/auth/drive",
                "https://www.googleapis.com/auth/drive.file"}
READ_SCOPES = WRITE_SCOPES | {"https://www.googleapis.com/auth/spreadsheets.readonly",
                              "https://www.googleapis.com/auth/drive.readonly"}
TIMEFRAME = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your "
             "iat and exp values in the JWT claim.")
CREDENTIALS = ("Expected OAuth 2 access token, login cookie or other valid authentication credential. See "
               "https://developers.google.com/identity/sign-in/web/devconsole-project.")

_GENERATED: dict[str, str] = {}  # public PEM -> private PEM, for keys made in this process


def generate_account(email: str) -> dict[str, Any]:
    """A new RSA key pair for ``email``: the account's state entry (public key) and its private key is kept."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    _GENERATED[public_pem] = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()).decode()
    return {"client_email": email, "private_key_id": secrets.token_hex(20), "public_key": public_pem}


_DEFAULT: dict[str, Any] = {}


def default_account() -> dict[str, Any]:
    """The default service account, its key generated once per process."""
    if not _DEFAULT:
        _DEFAULT.update(generate_account(DEFAULT_EMAIL))
    return dict(_DEFAULT)


def key_file(account: dict[str, Any], token_uri: str) -> dict[str, Any] | None:
    """The JSON key file of an account whose private key this process made, else None."""
    private = _GENERATED.get(account["public_key"])
    if private is None:
        return None
    project = account["client_email"].split("@", 1)[1].split(".", 1)[0]
    return {"type": "service_account", "project_id": project, "private_key_id": account["private_key_id"],
            "private_key": private, "client_email": account["client_email"],
            "client_id": str(int(account["private_key_id"][:12] or "0", 16)), "token_uri": token_uri,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth"}


class Tokens:
    """Access tokens issued: token → (service account e-mail, scopes, expiry in ``time.monotonic()``)."""

    def __init__(self) -> None:
        self.issued: dict[str, tuple[str, frozenset[str], float]] = {}

    def exchange(self, form: dict[str, str], accounts: dict[str, dict[str, Any]], audiences: set[str],
                 lifetime: int, now: float | None = None) -> dict[str, Any]:
        grant = form.get("grant_type", "")
        if grant != JWT_BEARER:
            raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant}")
        assertion = form.get("assertion", "")
        if not assertion:
            raise OAuthError("invalid_request", "Missing required parameter: assertion")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "Invalid JWT: the assertion is not a signed JWT.") from None
        account = accounts.get(str(unverified.get("iss") or "").lower())
        if account is None:
            raise OAuthError("invalid_grant", "Invalid grant: account not found")
        if header.get("alg") != "RS256":
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        clock = time.time() if now is None else now
        try:
            claims = jwt.decode(assertion, account["public_key"], algorithms=["RS256"], audience=sorted(audiences),
                                leeway=SKEW, options={"require": ["iss", "aud", "iat", "exp"]})
        except jwt.InvalidSignatureError:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.") from None
        except jwt.InvalidAudienceError:
            raise OAuthError("invalid_grant", f"Invalid JWT: Failed audience check. The right audience is "
                             f"{GOOGLE_TOKEN_URI}.") from None
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", TIMEFRAME) from None
        iat, exp = claims["iat"], claims["exp"]
        if exp - iat > MAX_LIFETIME or iat > clock + SKEW:
            raise OAuthError("invalid_grant", TIMEFRAME)
        scopes = frozenset(str(claims.get("scope") or "").split())
        if not scopes:
            raise OAuthError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        token = "ya29.sandbox-" + secrets.token_urlsafe(24)
        self.issued[token] = (account["client_email"], scopes, time.monotonic() + lifetime)
        return {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}

    def bearer(self, header: str, needed: set[str]) -> str:
        """The service account an ``Authorization: Bearer`` header acts as, if its scopes allow ``needed``."""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise GoogleError(401, "UNAUTHENTICATED", f"Request is missing required authentication credential. "
                              f"{CREDENTIALS}")
        found = self.issued.get(token.strip())
        if found is None or time.monotonic() >= found[2]:
            raise GoogleError(401, "UNAUTHENTICATED", f"Request had invalid authentication credentials. {CREDENTIALS}")
        if not found[1] & needed:
            raise GoogleError(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.")
        return found[0]

    def expire(self) -> int:
        """Forget every token (as if they had all expired); how many there were."""
        count = len(self.issued)
        self.issued.clear()
        return count
