"""The iAdvize emulator's account in memory: logins and tokens, the login rate limits, and the data the
GraphQL resolvers answer from (docs/sandbox-iadvize.md).

`reset`, `load` and `dump` take `lock` themselves (the control API calls them from worker threads); the
routes hold it around everything else and never await while holding it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from datetime import datetime
from typing import Any

from graphql import GraphQLError

from sandbox.iadvize.document import parse_document
from sandbox.iadvize.schema import connection, decode_cursor, encode_cursor, make_schema, parse_datetime


class IadvizeState:
    """One iAdvize account (one client id, on one platform)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.schema = make_schema({"projects": self.resolve_projects,
                                   "closedConversations": self.resolve_closed_conversations,
                                   "conversation": self.resolve_conversation})
        self.reset()

    # --- control protocol ----------------------------------------------------------------------------------
    def reset(self) -> None:
        self.load({})

    def load(self, document: dict[str, Any]) -> None:
        fresh = parse_document(document)
        with self.lock:
            self.doc = fresh
            self.projects = {p["id"]: p for p in fresh["projects"]}
            self.operators = {o["id"]: o for o in fresh["operators"]}
            self.visitors = {v["id"]: v for v in fresh["visitors"]}
            self.conversations = {c["id"]: c for c in fresh["conversations"]}
            self.tokens: dict[str, tuple[str, float]] = {}  # access token -> (username, expires at)
            self.attempts: dict[str, deque[float]] = {}  # "user:<name>" / "ip:<addr>" -> login times

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {key: _copy(value) for key, value in self.doc.items()}

    # --- logins and tokens ---------------------------------------------------------------------------------
    def throttle(self, username: str, ip: str) -> float | None:
        """Record a login attempt; the seconds to wait when it is over a limit (10/min per user, 100/min per
        IP by default), else None. Refused attempts count too."""
        limits = self.doc["loginLimits"]
        window, now = float(limits["windowSeconds"]), time.monotonic()
        waits = []
        for key, limit in ((f"user:{username.lower()}", limits["perUser"]), (f"ip:{ip}", limits["perIp"])):
            seen = self.attempts.setdefault(key, deque())
            while seen and seen[0] <= now - window:
                seen.popleft()
            if len(seen) >= limit:
                waits.append(seen[0] + window - now)
        if waits:
            return max(waits)
        for key in (f"user:{username.lower()}", f"ip:{ip}"):
            self.attempts[key].append(now)
        return None

    def login(self, username: str, password: str) -> dict[str, Any] | None:
        """The token answer for a known login, else None."""
        known = any(secrets.compare_digest(login["username"].lower(), username.lower())
                    and secrets.compare_digest(login["password"], password) for login in self.doc["logins"])
        if not known:
            return None
        token, lifetime = secrets.token_urlsafe(24), self.doc["tokenLifetime"]
        self.tokens[token] = (username, time.monotonic() + lifetime)
        return {"access_token": token, "refresh_token": secrets.token_urlsafe(24), "token_type": "bearer",
                "expires_in": lifetime}

    def token_valid(self, token: str) -> bool:
        entry = self.tokens.get(token)
        if entry is None:
            return False
        if time.monotonic() >= entry[1]:
            del self.tokens[token]
            return False
        return True

    def revoke_tokens(self) -> int:
        with self.lock:
            count = len(self.tokens)
            self.tokens.clear()
            return count

    # --- rendering (API shape) -----------------------------------------------------------------------------
    def user(self, operator_id: int | None) -> dict[str, Any] | None:
        op = self.operators.get(operator_id) if operator_id is not None else None
        if op is None:
            return None
        return {"__typename": op["type"], "id": op["id"], "firstName": op["firstName"], "lastName": op["lastName"],
                "email": op["email"]}

    def visitor(self, visitor_id: str | None) -> dict[str, Any] | None:
        v = self.visitors.get(visitor_id) if visitor_id else None
        if v is None:
            return None
        return {k: v[k] for k in ("id", "firstName", "lastName", "email", "country")}

    def message(self, conversation: dict[str, Any], m: dict[str, Any]) -> dict[str, Any]:
        shown = {"id": m["id"], "createdAt": m["createdAt"], "text": m["text"]}
        if m["author"] == "visitor":
            return {"__typename": "VisitorMessage", **shown, "author": self.visitor(conversation["visitorId"])}
        if m["author"] == "operator":
            return {"__typename": "UserMessage", **shown, "author": self.user(m["operatorId"])}
        pushed = ([{"__typename": "ConversationPushedSystemAttachment", "toUser": self.user(m["pushedTo"])}]
                  if m["pushedTo"] is not None else [])
        return {"__typename": "SystemMessage", **shown, "attachments": pushed}

    def conversation(self, c: dict[str, Any]) -> dict[str, Any]:
        def messages(_info: Any, first: int | None = None, after: str | None = None) -> dict[str, Any]:
            start = int(decode_cursor(after, 2)[1]) + 1 if after else 0
            items = [(encode_cursor("message", n), self.message(c, m)) for n, m in enumerate(c["messages"])]
            return connection(items, first, start)

        return {"id": c["id"], "createdAt": c["createdAt"], "closedAt": c["closedAt"], "channel": c["channel"],
                "project": dict(self.projects[c["projectId"]]), "visitor": self.visitor(c["visitorId"]),
                "engagementCampaign": _copy(c["engagementCampaign"]), "targetingRule": _copy(c["targetingRule"]),
                "messages": messages}

    # --- GraphQL root fields -------------------------------------------------------------------------------
    def resolve_projects(self, _info: Any, first: int | None = None, after: str | None = None) -> dict[str, Any]:
        items = [(encode_cursor("project", p["id"]), dict(p)) for p in sorted(self.projects.values(),
                                                                             key=lambda p: p["id"])]
        start = next((i + 1 for i, (cursor, _) in enumerate(items) if cursor == after), None) if after else 0
        if start is None:
            decode_cursor(after or "", 0)  # raises: not a cursor of this connection
        return connection(items, first, start or 0)

    def resolve_closed_conversations(self, _info: Any, interval: dict[str, datetime],
                                     projectIds: list[int] | None = None,  # noqa: N803 - the GraphQL argument
                                     first: int | None = None, after: str | None = None) -> dict[str, Any]:
        start, end = interval["from"], interval["to"]
        if start >= end:
            raise GraphQLError("interval: from must be before to")
        closed = sorted((c for c in self.conversations.values() if c["closedAt"] is not None
                         and start <= parse_datetime(c["closedAt"]) < end
                         and (projectIds is None or c["projectId"] in projectIds)),
                        key=lambda c: (parse_datetime(c["closedAt"]), c["id"]))
        items = [(encode_cursor(c["closedAt"], c["id"]), c) for c in closed]
        index = 0
        if after:
            closed_at, cid = decode_cursor(after, 2)
            key = (parse_datetime(closed_at), cid)
            index = next((i for i, c in enumerate(closed) if (parse_datetime(c["closedAt"]), c["id"]) > key),
                         len(closed))
        page = connection(items, first, index)
        for edge in page["edges"]:
            edge["node"] = self.conversation(edge["node"])
        return page

    def resolve_conversation(self, _info: Any, id: str) -> dict[str, Any] | None:  # noqa: A002
        c = self.conversations.get(id)
        return self.conversation(c) if c is not None else None


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
