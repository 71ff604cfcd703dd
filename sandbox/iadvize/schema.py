"""The GraphQL subset the iAdvize emulator serves, executed by graphql-core (docs/sandbox-iadvize.md).

Names follow iAdvize's public schema where it is published (graphql.iadvize.dev, docs.iadvize.dev; the
contract is docs/connector-iadvize.md): ``closedConversations(interval:, projectIds:)``, ``conversation(id:)``,
``Conversation.closedAt/channel/project/visitor/targetingRule/messages``, ``Visitor.email``, the user types
``Professional``/``Expert``/``Bot``, ``SystemMessage`` with ``ConversationPushedSystemAttachment.toUser`` and
Relay connections. The rest (the message types, ``engagementCampaign``, ``Project.country``) is this
emulator's choice, written down there.

Objects are plain dicts in API shape (``__typename`` picks the type of an interface or union value); a field
whose value is a function is called with the field's arguments (graphql-core's default resolver).
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    ValueNode,
    build_schema,
    execute_sync,
    parse,
    validate,
    validate_schema,
)
from graphql.language import StringValueNode

SDL = '''
"ISO 8601 date and time with a time zone, e.g. 2026-03-02T14:05:00Z."
scalar DateTime
scalar UUID

enum ConversationChannel {
  APPLE_BUSINESS_CHAT CALL CHAT FACEBOOK FACEBOOK_BUSINESS_ON_MESSENGER GOOGLE_BUSINESS_MESSAGES INSTAGRAM
  MOBILE_APP SMS TWITTER VIDEO WHATSAPP
}

"Closed conversations whose closedAt is in [from, to)."
input DateTimeIntervalInput { from: DateTime!  to: DateTime! }

type Query {
  projects(first: Int, after: String): ProjectConnection!
  closedConversations(interval: DateTimeIntervalInput!, projectIds: [Int!], first: Int, after: String
                      ): ConversationConnection!
  conversation(id: UUID!): Conversation
}

type PageInfo { hasNextPage: Boolean!  endCursor: String }

type Project { id: Int!  name: String!  country: String }
type ProjectEdge { node: Project!  cursor: String! }
type ProjectConnection { edges: [ProjectEdge!]!  pageInfo: PageInfo! }

interface User { id: Int!  firstName: String  lastName: String  email: String }
type Professional implements User { id: Int!  firstName: String  lastName: String  email: String }
type Expert implements User { id: Int!  firstName: String  lastName: String  email: String }
type Bot implements User { id: Int!  firstName: String  lastName: String  email: String }

type Visitor { id: UUID!  firstName: String  lastName: String  email: String  country: String }
type EngagementCampaign { id: UUID!  name: String! }
type TargetingRule { id: UUID!  name: String! }

type ConversationPushedSystemAttachment { toUser: User }
union SystemAttachment = ConversationPushedSystemAttachment

interface Message { id: UUID!  createdAt: DateTime!  text: String }
type VisitorMessage implements Message { id: UUID!  createdAt: DateTime!  text: String  author: Visitor }
type UserMessage implements Message { id: UUID!  createdAt: DateTime!  text: String  author: User }
type SystemMessage implements Message {
  id: UUID!  createdAt: DateTime!  text: String  attachments: [SystemAttachment!]!
}
type MessageEdge { node: Message!  cursor: String! }
type MessageConnection { edges: [MessageEdge!]!  pageInfo: PageInfo! }

type Conversation {
  id: UUID!
  createdAt: DateTime!
  closedAt: DateTime
  channel: ConversationChannel!
  project: Project
  visitor: Visitor
  engagementCampaign: EngagementCampaign
  targetingRule: TargetingRule
  messages(first: Int, after: String): MessageConnection!
}
type ConversationEdge { node: Conversation!  cursor: String! }
type ConversationConnection { edges: [ConversationEdge!]!  pageInfo: PageInfo! }
'''

DEFAULT_FIRST = 20
MAX_FIRST = 100


def parse_datetime(value: Any) -> datetime:
    """A DateTime input: ISO 8601 with a time zone."""
    if not isinstance(value, str):
        raise GraphQLError(f"DateTime cannot represent a non-string value: {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise GraphQLError(f"DateTime must be ISO 8601, e.g. 2026-03-02T14:05:00Z; got {value!r}") from None
    if moment.tzinfo is None:
        raise GraphQLError(f"DateTime needs a time zone (Z or +01:00); got {value!r}")
    return moment


def parse_uuid(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise GraphQLError(f"UUID cannot represent {value!r}") from None


def _literal(parse):
    def parse_literal(node: ValueNode, _variables: Any = None) -> Any:
        if not isinstance(node, StringValueNode):
            raise GraphQLError("expected a string literal")
        return parse(node.value)

    return parse_literal


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_FIRST
    if not 1 <= first <= MAX_FIRST:
        raise GraphQLError(f"first must be between 1 and {MAX_FIRST}; got {first}")
    return first


def encode_cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode("|".join(str(p) for p in parts).encode()).decode()


def decode_cursor(cursor: str, count: int) -> list[str]:
    try:
        parts = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        parts = []
    if len(parts) != count:
        raise GraphQLError(f"after: {cursor!r} is not a cursor this connection gave")
    return parts


def connection(items: list[tuple[str, dict[str, Any]]], first: int | None, after_index: int) -> dict[str, Any]:
    """A Relay connection of ``(cursor, node)`` pairs from ``after_index``, ``first`` of them."""
    size = page_size(first)
    chunk = items[after_index:after_index + size]
    return {"edges": [{"cursor": c, "node": n} for c, n in chunk],
            "pageInfo": {"hasNextPage": after_index + size < len(items),
                         "endCursor": chunk[-1][0] if chunk else None}}


def make_schema(resolvers: dict[str, Any]) -> GraphQLSchema:
    """The schema with the root fields answered by ``resolvers`` (name → function(info, **args))."""
    schema = build_schema(SDL)
    for name, scalar_parse in (("DateTime", parse_datetime), ("UUID", parse_uuid)):
        scalar = schema.type_map[name]
        scalar.parse_value = scalar_parse  # type: ignore[attr-defined]
        scalar.parse_literal = _literal(scalar_parse)  # type: ignore[attr-defined]
    query = schema.query_type
    assert query is not None
    for name, resolve in resolvers.items():
        query.fields[name].resolve = lambda _root, info, _resolve=resolve, **args: _resolve(info, **args)
    return schema


def execute(schema: GraphQLSchema, body: Any) -> dict[str, Any]:
    """Run a ``{"query", "variables", "operationName"}`` body; the GraphQL answer (``data`` and/or ``errors``)."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
        return {"errors": [{"message": "the body must be a JSON object with a non-empty \"query\" string",
                            "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}]}
    variables = body.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return {"errors": [{"message": "\"variables\" must be a JSON object",
                            "extensions": {"code": "BAD_USER_INPUT"}}]}
    result = _run(schema, body["query"], variables, body.get("operationName"))
    answer: dict[str, Any] = {}
    if result.errors:
        answer["errors"] = [_formatted(e, result.data is None) for e in result.errors]
    if result.data is not None or not result.errors:
        answer["data"] = result.data
    return answer


@lru_cache(maxsize=256)
def _prepared(schema: GraphQLSchema, query: str) -> tuple[DocumentNode | None, tuple[GraphQLError, ...]]:
    """The query parsed and validated against the schema, once per query text (a client sends the same few
    queries again and again; parsing and validating cost more than executing): the document, or the syntax or
    validation errors."""
    try:
        document = parse(query)
    except GraphQLError as error:
        return None, (error,)
    return document, tuple(validate(schema, document))


def _run(schema: GraphQLSchema, query: str, variables: dict[str, Any] | None,
         operation_name: str | None) -> ExecutionResult:
    """What ``graphql_sync`` does (schema check, parse, validate, execute), with parse and validate cached."""
    schema_errors = validate_schema(schema)  # graphql-core keeps the result on the schema
    if schema_errors:
        return ExecutionResult(data=None, errors=list(schema_errors))
    document, errors = _prepared(schema, query)
    if document is None or errors:
        return ExecutionResult(data=None, errors=list(errors))
    return execute_sync(schema, document, variable_values=variables, operation_name=operation_name)


def _formatted(error: GraphQLError, before_execution: bool) -> dict[str, Any]:
    shown = dict(error.formatted)
    invalid_query = before_execution and not error.path and not error.message.startswith("Variable ")
    code = "GRAPHQL_VALIDATION_FAILED" if invalid_query else "BAD_USER_INPUT"
    if error.original_error is not None and not isinstance(error.original_error, GraphQLError):
        code = "INTERNAL_SERVER_ERROR"
    shown["extensions"] = {**(shown.get("extensions") or {}), "code": code}
    return shown
