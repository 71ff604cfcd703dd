"""The GraphQL documents the iAdvize connector sends, in one place (the contract: docs/connector-iadvize.md).

Each :class:`GraphQLQuery` carries its operation name, sent as ``operationName`` and named in every error the
connector raises for it. Field names marked [V] in docs/connector-iadvize.md are the vendor's published ones
(``closedConversations``, ``interval``, ``projectIds``, ``conversation(id:)``, ``closedAt``, ``channel``,
``project { id }``, ``visitor { email }``, ``targetingRule``, ``ConversationPushedSystemAttachment.toUser``,
Relay ``edges { node }`` / ``pageInfo { hasNextPage endCursor }``); the others are written down there.

The interval is written inline (``interval: {from: $from, to: $to}``) so the documents depend on the
``DateTime`` scalar only, not on the name of the schema's interval input type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GraphQLQuery:
    """A named GraphQL operation."""

    name: str
    document: str

    def body(self, variables: dict[str, Any]) -> dict[str, Any]:
        """The JSON body of ``POST /graphql``."""
        return {"query": self.document, "variables": variables, "operationName": self.name}


_USER_FIELDS = """
fragment UserFields on User {
  __typename
  id
  firstName
  lastName
}
"""

CLOSED_CONVERSATIONS = GraphQLQuery("ClosedConversations", """
query ClosedConversations($from: DateTime!, $to: DateTime!, $projectIds: [Int!], $first: Int, $after: String) {
  closedConversations(interval: {from: $from, to: $to}, projectIds: $projectIds, first: $first, after: $after) {
    edges {
      node {
        id
        createdAt
        closedAt
        channel
        project { id }
        visitor { id }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
""".strip())
"""Closed conversations whose ``closedAt`` is in ``[from, to)``, oldest first, one Relay page per call."""

PROJECTS = GraphQLQuery("Projects", """
query Projects($first: Int, $after: String) {
  projects(first: $first, after: $after) {
    edges { node { id name country } }
    pageInfo { hasNextPage endCursor }
  }
}
""".strip())
"""The projects (sites) the credentials see, one Relay page per call (``country`` fills "iAdvize Country")."""

CONVERSATION = GraphQLQuery("Conversation", """
query Conversation($id: UUID!, $messagesFirst: Int, $messagesAfter: String) {
  conversation(id: $id) {
    id
    createdAt
    closedAt
    channel
    project { id name country }
    visitor { id firstName lastName email country }
    engagementCampaign { id name }
    targetingRule { id name }
    messages(first: $messagesFirst, after: $messagesAfter) {
      edges {
        node {
          __typename
          id
          createdAt
          text
          ... on UserMessage { author { ...UserFields } }
          ... on SystemMessage {
            attachments {
              __typename
              ... on ConversationPushedSystemAttachment { toUser { ...UserFields } }
            }
          }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
""".strip() + "\n" + _USER_FIELDS.strip())
"""One conversation with its transcript (messages oldest first, a Relay page of them per call)."""
