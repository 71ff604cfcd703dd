"""The request-bin emulator over a real socket: every call recorded, PUT an idempotent upsert, PATCH a merge, POST
an append, GET/DELETE by path, secrets not kept, reset empties it."""

from __future__ import annotations

import httpx


def test_the_request_bin_records_calls_and_keeps_documents(sandbox):
    base = f"{sandbox.url}/requestbin/crm"
    with httpx.Client(timeout=10) as http:
        first = http.put(f"{base}/contacts/a", json={"email": "a@example.org", "name": "A"},
                         headers={"Authorization": "Bearer s3cr3t"})
        again = http.put(f"{base}/contacts/a", json={"email": "a@example.org", "name": "A"})
        assert (first.status_code, again.status_code) == (201, 200)
        assert http.patch(f"{base}/contacts/a", json={"tags": ["new"]}).json() == {
            "path": "/contacts/a", "email": "a@example.org", "name": "A", "tags": ["new"]}
        assert [http.post(f"{base}/notes", json={"n": n}).json()["id"] for n in range(2)] == [1, 2]
        assert http.get(f"{base}/contacts/a").json()["tags"] == ["new"]
        assert http.get(f"{base}/contacts/b").status_code == 404
        assert http.put(f"{base}/contacts/b", json=[1]).status_code == 422
        assert http.delete(f"{base}/contacts/a").status_code == 204
        assert http.delete(f"{base}/contacts/a").status_code == 404

        calls = http.get(f"{sandbox.url}/_sandbox/requestbin/bins/crm/calls").json()
        assert calls["total"] == 10
        assert [c["method"] for c in calls["calls"][:3]] == ["PUT", "PUT", "PATCH"]
        assert "authorization" not in calls["calls"][0]["headers"]
        assert http.get(f"{sandbox.url}/_sandbox/requestbin/state").json()["documents"] == {"crm": {}}
        http.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
        assert http.get(f"{sandbox.url}/_sandbox/requestbin/bins/crm/calls").json()["total"] == 0
