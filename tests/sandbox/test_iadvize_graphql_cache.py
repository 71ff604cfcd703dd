"""The iAdvize emulator parses and validates a query text once (sandbox/iadvize/schema.py): the answers stay
those of graphql-core's full path, for good queries with other variables, for invalid ones and per state."""

from __future__ import annotations

import uuid

from graphql import graphql_sync

from sandbox.iadvize import schema as module
from sandbox.iadvize.schema import execute
from sandbox.iadvize.state import IadvizeState

QUERY = "query P($first: Int) { projects(first: $first) { edges { node { id name } } pageInfo { hasNextPage } } }"


def state_with(*names: str) -> IadvizeState:
    state = IadvizeState()
    state.load({"projects": [{"id": 100 + i, "name": n, "country": "FR"} for i, n in enumerate(names)]})
    return state


def reference(state: IadvizeState, body: dict) -> dict:
    """graphql-core's own answer (no cache), formatted as the emulator formats it."""
    result = graphql_sync(state.schema, body["query"], variable_values=body.get("variables"))
    answer: dict = {}
    if result.errors:
        answer["errors"] = [module._formatted(e, result.data is None) for e in result.errors]
    if result.data is not None or not result.errors:
        answer["data"] = result.data
    return answer


def test_a_query_is_parsed_once_and_runs_with_each_calls_variables(monkeypatch):
    parsed = []
    real_parse = module.parse
    monkeypatch.setattr(module, "parse", lambda text: parsed.append(text) or real_parse(text))
    module._prepared.cache_clear()
    state = state_with("Boutique", "Outlet", "Atelier")
    for first in (1, 2, 3, 1):
        body = {"query": QUERY, "variables": {"first": first}}
        answer = execute(state.schema, body)
        assert answer == reference(state, body)
        assert len(answer["data"]["projects"]["edges"]) == first
    assert parsed == [QUERY]


def test_invalid_queries_and_bad_variables_answer_the_same_errors_every_time():
    state = state_with("Boutique")
    bodies = [{"query": "{ projects { edges { node { idx } } } }"},                 # unknown field
              {"query": "{ projects { "},                                          # syntax error
              {"query": "query C($id: UUID!) { conversation(id: $id) { id } }", "variables": {"id": "nope"}},
              {"query": "query C($id: UUID!) { conversation(id: $id) { id } }", "variables": {}}]
    for body in bodies * 2:
        answer = execute(state.schema, body)
        assert answer == reference(state, body) and answer["errors"], body
    codes = [execute(state.schema, b)["errors"][0]["extensions"]["code"] for b in bodies]
    assert codes == ["GRAPHQL_VALIDATION_FAILED", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT", "BAD_USER_INPUT"]


def test_each_state_answers_from_its_own_data():
    first, second = state_with("Boutique"), state_with("Outlet")
    body = {"query": QUERY, "variables": {"first": 10}}
    names = [[e["node"]["name"] for e in execute(s.schema, body)["data"]["projects"]["edges"]] for s in (first, second)]
    assert names == [["Boutique"], ["Outlet"]]
    missing = {"query": "query C($id: UUID!) { conversation(id: $id) { id } }", "variables": {"id": str(uuid.uuid4())}}
    assert execute(first.schema, missing) == {"data": {"conversation": None}}
