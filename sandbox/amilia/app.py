"""Amilia API v3 emulator (organisation routes), as written down in docs/contracts.md.

Mounted under `/amilia`, so a client's base URL is `http://HOST:PORT/amilia/api/V3`:

    GET|POST /api/V3/authenticate                      Basic auth → {"Token": "<jwt>"}
    GET      /api/V3/{lang}/org/{org}/persons[/{id}[/registrations]]
    GET      /api/V3/{lang}/org/{org}/accounts[/{id}[/contacts|/registrations]]
    GET      /api/V3/{lang}/org/{org}/programs[/{id}[/activities]]
    GET      /api/V3/{lang}/org/{org}/activities/{id}
    GET      /api/V3/{lang}/org/{org}/registrations
    GET      /api/V3/{lang}/org/{org}/memberships[/{id}/persons|/{id}/accounts]

Errors are ASP.NET Web API shaped: `{"Message": "..."}`. Lists answer
`{"Items": [...], "Paging": {"TotalCount": n, "Next": "<absolute url>" | ""}}`. The state lives in
`sandbox/amilia/state.py`, the answer shapes in `sandbox/amilia/render.py`; docs/sandbox-amilia.md
describes both.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute

from sandbox.amilia import render
from sandbox.amilia.document import parse_date
from sandbox.amilia.state import AmiliaData, AmiliaState
from sandbox.amilia.webhooks import build_webhook_router
from sandbox.core import JSONAnswer, Vendor

DENIED = "Authorization has been denied for this request."
DEFAULT_PER_PAGE = 200
MAX_PER_PAGE = 1000
LANGS = ("en", "fr")
STATUSES = {"active": "Active", "inactive": "Inactive", "expired": "Expired", "all": "All"}
ORG = "/api/{version}/{lang}/org/{org}"


class AmiliaError(Exception):
    """Answered as `{"Message": message}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class _AmiliaRoute(APIRoute):
    """Turns AmiliaError (and FastAPI's own validation errors) into Amilia-shaped answers."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request):
            try:
                return await handler(request)
            except AmiliaError as exc:
                return JSONAnswer({"Message": exc.message}, status_code=exc.status)
            except RequestValidationError:
                return JSONAnswer({"Message": "The request is invalid."}, status_code=400)

        return route


def _not_found(request: Request) -> AmiliaError:
    return AmiliaError(404, f"No HTTP resource was found that matches the request URI '{request.url}'.")


class _Query:
    """Query parameters, looked up case-insensitively as ASP.NET model binding does."""

    def __init__(self, request: Request) -> None:
        self.values: dict[str, str] = {}
        for key, value in request.query_params.multi_items():
            self.values.setdefault(key.lower(), value)

    def raw(self, name: str) -> str | None:
        value = self.values.get(name.lower())
        return value if value not in (None, "") else None

    def int(self, name: str, default: int, minimum: int = 1) -> int:
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise AmiliaError(400, f"The value '{raw}' is not valid for {name}.") from None
        if value < minimum:
            raise AmiliaError(400, f"{name} must be at least {minimum}.")
        return value

    def bool(self, name: str, default: bool) -> bool:
        raw = self.raw(name)
        if raw is None:
            return default
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
        raise AmiliaError(400, f"The value '{raw}' is not valid for {name}.")

    def dates(self) -> tuple[str | None, str | None]:
        """`from` and `to` (both inclusive) as YYYY-MM-DD strings."""
        out = []
        for name in ("from", "to"):
            raw = self.raw(name)
            if raw is not None and parse_date(raw) is None:
                raise AmiliaError(400, f"The value '{raw}' is not valid for {name}: expected YYYY-MM-DD.")
            out.append(raw)
        return out[0], out[1]


def _in_range(value: str, start: str | None, end: str | None) -> bool:
    day = value[:10]
    return (start is None or day >= start) and (end is None or day <= end)


def _page(request: Request, items: list[Any], show: Callable[[Any], Any]) -> Response:
    """One page of `items` in the Items/Paging wrapper; `Next` is this URL with page+1, or ""."""
    q = _Query(request)
    page = q.int("page", 1)
    per_page = min(q.int("perPage", DEFAULT_PER_PAGE), MAX_PER_PAGE)
    start = (page - 1) * per_page
    chunk = items[start:start + per_page]
    next_url = ""
    if start + per_page < len(items):
        params = [(k, v) for k, v in request.query_params.multi_items() if k.lower() != "page"]
        next_url = str(request.url.replace(query=urlencode([*params, ("page", str(page + 1))])))
    return JSONAnswer({"Items": [show(x) for x in chunk], "Paging": {"TotalCount": len(items), "Next": next_url}})


def _id(request: Request, raw: str) -> int:
    if not raw.isdigit():
        raise _not_found(request)
    return int(raw)


def build_amilia() -> Vendor:
    state = AmiliaState()
    router = APIRouter(route_class=_AmiliaRoute)

    def check_version(request: Request, version: str) -> None:
        if version.lower() != "v3":
            raise _not_found(request)

    def org_data(request: Request, version: str, lang: str, org: str) -> AmiliaData:
        """Auth and organisation checks of every org route; the snapshot the call answers from."""
        check_version(request, version)
        if lang.lower() not in LANGS:
            raise _not_found(request)
        data = state.data
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        claims = state.token_claims(token.strip()) if scheme.lower() == "bearer" else None
        if claims is None:
            raise AmiliaError(401, DENIED)
        o = data.organization
        if not (org == str(o["Id"]) or org.casefold() == o["RewriteUrl"].casefold()):
            raise AmiliaError(404, f"Organization '{org}' was not found.")
        if claims["org"] != o["Id"]:
            raise AmiliaError(403, DENIED)
        return data

    Data = Depends(org_data)

    def one(request: Request, index: dict[int, Any], raw_id: str, what: str) -> Any:
        item = index.get(_id(request, raw_id))
        if item is None:
            raise AmiliaError(404, f"{what} {raw_id} was not found.")
        return item

    def registrations_page(request: Request, data: AmiliaData, items: list[Any], key: tuple) -> Response:
        q = _Query(request)
        start, end = q.dates()
        show_ended = q.bool("showEnded", False)
        today = data.clock().isoformat()

        def keep(r: dict[str, Any]) -> bool:
            if not show_ended:
                end_date = data.activity_by_id[r["ActivityId"]]["EndDate"]
                if end_date is not None and end_date < today:
                    return False
            return _in_range(r["DateCreated"], start, end)

        if start is None and end is None and show_ended:
            kept = items
        else:
            kept = data.filtered((*key, start, end, show_ended, today), items, keep)
        return _page(request, kept, lambda r: render.registration(data, r))

    # ---- authentication ------------------------------------------------------------------------
    @router.api_route("/api/{version}/authenticate", methods=["GET", "POST"])
    async def authenticate(request: Request, version: str) -> Response:
        check_version(request, version)
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        token = None
        if scheme.lower() == "basic":
            try:
                user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                sep = ""
            if sep:
                token = state.authenticate(user, password)
        if token is None:
            raise AmiliaError(401, DENIED)
        return JSONAnswer({"Token": token})

    # ---- persons -------------------------------------------------------------------------------
    @router.get(ORG + "/persons")
    async def persons(request: Request, data: AmiliaData = Data) -> Response:
        start, end = _Query(request).dates()
        items = data.persons_sorted
        if start or end:
            items = data.filtered(("persons", start, end), items,
                                  lambda p: _in_range(p["DateCreated"], start, end))
        return _page(request, items, lambda p: render.person(data, p))

    @router.get(ORG + "/persons/{person_id}")
    async def person(request: Request, person_id: str, data: AmiliaData = Data) -> Response:
        return JSONAnswer(render.person(data, one(request, data.person_by_id, person_id, "Person")))

    @router.get(ORG + "/persons/{person_id}/registrations")
    async def person_registrations(request: Request, person_id: str, data: AmiliaData = Data) -> Response:
        p = one(request, data.person_by_id, person_id, "Person")
        return registrations_page(request, data, data.registrations_by_person.get(p["Id"], []),
                                  ("person-registrations", p["Id"]))

    # ---- accounts ------------------------------------------------------------------------------
    @router.get(ORG + "/accounts")
    async def accounts(request: Request, data: AmiliaData = Data) -> Response:
        q = _Query(request)
        start, end = q.dates()
        show_archived = q.bool("showArchived", False)
        email = q.raw("accountOwnerEmail")
        items = data.accounts_sorted
        if email is not None:
            items = data.accounts_by_owner_email.get(email.strip().casefold(), [])
        if not show_archived or start or end:
            items = data.filtered(
                ("accounts", email, show_archived, start, end), items,
                lambda a: (show_archived or not a["IsArchived"]) and _in_range(a["DateCreated"], start, end))
        return _page(request, items, lambda a: render.account(data, a))

    @router.get(ORG + "/accounts/{account_id}")
    async def account(request: Request, account_id: str, data: AmiliaData = Data) -> Response:
        return JSONAnswer(render.account(data, one(request, data.account_by_id, account_id, "Account")))

    @router.get(ORG + "/accounts/{account_id}/contacts")
    async def account_contacts(request: Request, account_id: str, data: AmiliaData = Data) -> Response:
        one(request, data.account_by_id, account_id, "Account")
        return _page(request, [], lambda c: c)  # the state holds no emergency/authorised contacts

    @router.get(ORG + "/accounts/{account_id}/registrations")
    async def account_registrations(request: Request, account_id: str,
                                    data: AmiliaData = Data) -> Response:
        a = one(request, data.account_by_id, account_id, "Account")
        return registrations_page(request, data, data.registrations_by_account.get(a["Id"], []),
                                  ("account-registrations", a["Id"]))

    # ---- programs and activities ---------------------------------------------------------------
    @router.get(ORG + "/programs")
    async def programs(request: Request, data: AmiliaData = Data) -> Response:
        return _page(request, data.programs_sorted, lambda p: render.program(data, p))

    @router.get(ORG + "/programs/{program_id}")
    async def program(request: Request, program_id: str, data: AmiliaData = Data) -> Response:
        return JSONAnswer(render.program(data, one(request, data.program_by_id, program_id, "Program")))

    @router.get(ORG + "/programs/{program_id}/activities")
    async def program_activities(request: Request, program_id: str, data: AmiliaData = Data) -> Response:
        p = one(request, data.program_by_id, program_id, "Program")
        return _page(request, data.activities_by_program.get(p["Id"], []),
                     lambda a: render.activity(data, a))

    @router.get(ORG + "/activities/{activity_id}")
    async def activity(request: Request, activity_id: str, data: AmiliaData = Data) -> Response:
        return JSONAnswer(render.activity(data, one(request, data.activity_by_id, activity_id, "Activity")))

    # ---- registrations -------------------------------------------------------------------------
    @router.get(ORG + "/registrations")
    async def registrations(request: Request, data: AmiliaData = Data) -> Response:
        return registrations_page(request, data, data.registrations_sorted, ("registrations",))

    # ---- memberships ---------------------------------------------------------------------------
    @router.get(ORG + "/memberships")
    async def memberships(request: Request, data: AmiliaData = Data) -> Response:
        q = _Query(request)
        show_hidden = q.bool("showHidden", False)
        active_only = q.bool("showActiveOnly", True)
        items = [m for m in data.memberships_sorted
                 if (show_hidden or m["IsVisible"]) and not (active_only and m["IsArchived"])]
        return _page(request, items, lambda m: render.membership(data, m))

    def holders(request: Request, data: AmiliaData, membership_id: str) -> tuple[list[Any], str, str]:
        m = one(request, data.membership_by_id, membership_id, "Membership")
        q = _Query(request)
        raw_status = q.raw("status") or "All"
        status = STATUSES.get(raw_status.lower())
        if status is None:
            raise AmiliaError(400, f"The value '{raw_status}' is not valid for status: expected one of "
                                   f"{', '.join(STATUSES.values())}.")
        start, end = q.dates()
        rows = [mp for mp in data.holders_by_membership.get(m["Id"], [])
                if _in_range(mp["PurchasedDate"], start, end)]
        return rows, status, data.clock().isoformat()

    @router.get(ORG + "/memberships/{membership_id}/persons")
    async def membership_persons(request: Request, membership_id: str,
                                 data: AmiliaData = Data) -> Response:
        rows, status, today = holders(request, data, membership_id)
        if status != "All":
            rows = [mp for mp in rows if render.membership_status(mp, today) == status]
        return _page(request, rows, lambda mp: render.membership_person(data, mp, today))

    @router.get(ORG + "/memberships/{membership_id}/accounts")
    async def membership_accounts(request: Request, membership_id: str,
                                  data: AmiliaData = Data) -> Response:
        rows, status, today = holders(request, data, membership_id)
        by_account: dict[int, list[Any]] = {}
        for mp in rows:
            by_account.setdefault(mp["AccountId"], []).append(mp)
        items = [render.membership_account(data, by_account[aid], today) for aid in sorted(by_account)]
        if status != "All":
            items = [x for x in items if x["Status"] == status]
        return _page(request, items, lambda x: x)

    # ---- anything else under /api ----------------------------------------------------------------
    @router.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                      include_in_schema=False)
    async def unknown(request: Request, rest: str) -> Response:
        raise _not_found(request)

    return Vendor(name="amilia", state=state, router=router, control=build_webhook_router(state))
