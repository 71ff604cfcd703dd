"""The production-like stack (issue 14): `passerelle up --production-like` — the Prefect server and the store on
PostgreSQL (databases of their own, dropped by `passerelle down --drop` at the end), two process workers, two
gateway replicas behind HAProxy, Prefect's basic auth — under a burst of Amilia webhooks sent through the load
balancer, one replica SIGKILLed mid-burst.

What is asserted is what docs/deployment.md and docs/webhooks.md promise: every delivery acknowledged is applied
exactly once, in per-entity order (a registration created then cancelled leaves its person out of the activity's
group), by drains the two workers run, started by the gateway's event and by the schedule; a run created over the
REST API and a scheduled run complete; the Prefect server's log holds no traceback.

Skipped, with the reason, only where PostgreSQL or HAProxy is missing; with PASSERELLE_REQUIRE_POSTGRES=1 (CI) it
fails instead. The tests run in file order on one stack.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.engine import make_url

from passerelle.cli import loadbalancer, prefect_env
from tests.stack.support import ProductionStack as Stack
from tests.stack.support import running_stack
from tests.support.store_backends import POSTGRES_URL, postgres_reachable

WORKERS = {"passerelle-worker-1", "passerelle-worker-2"}


def requirements_or_skip() -> None:
    missing = []
    problem = postgres_reachable()
    if problem:
        missing.append(f"PostgreSQL is not reachable at {POSTGRES_URL} ({problem}; set PASSERELLE_TEST_POSTGRES_URL)")
    if loadbalancer.haproxy_path() is None:
        missing.append("HAProxy is not installed (`make haproxy`, or apt-get install haproxy)")
    if missing and os.environ.get("PASSERELLE_REQUIRE_POSTGRES"):
        pytest.fail(f"the production-like stack is required here (PASSERELLE_REQUIRE_POSTGRES): {'; '.join(missing)}")
    if missing:
        pytest.skip("; ".join(missing))


def _databases_exist(names: list[str]) -> list[str]:
    import psycopg

    server = make_url(POSTGRES_URL)
    with psycopg.connect(host=server.host, port=server.port, user=server.username, password=server.password,
                         dbname="postgres", autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s)", (names,)).fetchall()
    return [row[0] for row in rows]


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    requirements_or_skip()
    suffix = secrets.token_hex(4)
    server = make_url(POSTGRES_URL)
    names = [f"passerelle_prefect_t{suffix}", f"passerelle_store_t{suffix}"]
    prefect_db, store_db = (server.set(drivername="postgresql", database=n).render_as_string(hide_password=False)
                            for n in names)
    flags = ("--production-like", "--prefect-database-url", prefect_db, "--store-database-url", store_db)
    home = tmp_path_factory.mktemp("production-like")
    with running_stack(home, *flags, persons=300, replicas=2, down_flags=("--drop",),
                       drop_env=("PASSERELLE_DATABASE_URL", "PREFECT_API_DATABASE_CONNECTION_URL",
                                 "PREFECT_API_AUTH_STRING", "PREFECT_SERVER_API_AUTH_STRING")) as up:
        assert sorted(_databases_exist(names)) == sorted(names), "up did not create both databases"
        settings = prefect_env.read_stack_env(home)
        user, _, password = settings["PREFECT_API_AUTH_STRING"].partition(":")
        yield Stack(home, settings["PREFECT_API_URL"], (user, password), f"http://127.0.0.1:{up.ports['sandbox']}",
                    up.hook_url, settings["PASSERELLE_DATABASE_URL"], prefect_db)
    assert not _databases_exist(names), "passerelle down --drop left its databases"


def test_everything_runs_the_production_way(stack: Stack):
    """Prefect on PostgreSQL behind basic auth, two workers on the pool, the store on PostgreSQL, HAProxy with
    both replicas healthy and the receiver URL on its port."""
    assert httpx.post(f"{stack.api}/deployments/filter", json={}, timeout=30).status_code == 401
    workers = stack.call("POST", "/work_pools/passerelle/workers/filter", json={}).json()
    assert {w["name"] for w in workers} >= WORKERS, workers
    assert make_url(stack.store_url).get_backend_name() == "postgresql"
    import psycopg

    prefect_db = make_url(stack.prefect_db)
    with psycopg.connect(host=prefect_db.host, port=prefect_db.port, user=prefect_db.username,
                         dbname=prefect_db.database, connect_timeout=5) as conn:  # Prefect's own tables are there
        deployments = conn.execute("SELECT name FROM deployment").fetchall()
    assert {"amilia-initial-sync", "amilia-webhooks"} <= {row[0] for row in deployments}
    stats = stack.stats()
    assert {name: s["status"] for name, s in stats.items()} == {"gateway-1": "UP", "gateway-2": "UP"}
    front = stack.hook_url.split("/hooks/")[0]
    assert httpx.get(f"{front}/healthz", timeout=10).json()["status"] == "ok"


def test_flow_run_created_over_the_rest_api_completes(stack: Stack):
    created = stack.call("POST", f"/deployments/{stack.deployment_id('amilia-initial-sync')}/create_flow_run",
                         json={"parameters": {"link": "default"}})
    assert created.status_code == 201, created.text
    run = stack.wait_run(created.json()["id"], timeout=300)
    assert run["state"]["type"] == "COMPLETED", run["state"]
    members = httpx.get(f"{stack.sandbox}/_sandbox/cyberimpact/state", timeout=30).json()["members"]
    assert len(members) > 50


@pytest.fixture(scope="module")
def burst(stack: Stack) -> Burst:
    return plan_burst(stack.sandbox)


def test_a_burst_across_both_replicas_one_killed_is_applied_exactly_once_in_order(stack: Stack, burst: Burst):
    from passerelle.store.effects import done_keys
    from passerelle.store.inbox import list_events, stats

    httpx.delete(f"{stack.sandbox}/_sandbox/cyberimpact/requests", timeout=10).raise_for_status()
    before = {name: int(s["stot"]) for name, s in stack.stats().items()}
    sent = send_burst(stack.hook_url, burst, kill_at=0.35, kill=lambda: os.killpg(stack.pid("gateway-1"), 9),
                      stats=stack.stats)
    assert not sent.unacked, f"{len(sent.unacked)} deliveries never acknowledged, e.g. {sent.unacked[:3]}"
    at_kill, after = sent.stats_at_kill, stack.stats()
    served = {name: int(at_kill[name]["stot"]) - before[name] for name in before}
    assert served["gateway-1"] > 0 and served["gateway-2"] > 0, f"one replica got nothing before the kill: {served}"
    assert int(after["gateway-2"]["stot"]) > int(at_kill["gateway-2"]["stot"]), "nothing went on after the kill"
    assert sent.acked_after_kill > 0.4 * burst.size, sent.acked_after_kill
    deadline = time.monotonic() + 15  # the health check (every second, two failures) takes the dead replica out
    while not stack.stats()["gateway-1"]["status"].startswith("DOWN") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert stack.stats()["gateway-1"]["status"].startswith("DOWN"), stack.stats()["gateway-1"]["status"]

    deadline, counts = time.monotonic() + 300, {}
    while time.monotonic() < deadline:
        counts = stats(source="amilia", link="default", url=stack.store_url)
        if counts["pending"] == counts["processing"] == 0:
            break
        time.sleep(1)
    assert counts["pending"] == counts["processing"] == 0, f"the drains did not finish within 300 s: {counts}"
    rows = {r.event_id: r for r in list_events(source="amilia", link="default", limit=100_000, url=stack.store_url)}
    ours = [rows.get(event_id) for event_id in burst.event_ids]
    assert None not in ours, f"{ours.count(None)} acknowledged deliveries are not in the inbox"
    assert {(r.status, r.attempts) for r in ours} == {("done", 1)}, {(r.status, r.attempts, r.last_error) for r in ours
                                                                    if (r.status, r.attempts) != ("done", 1)}
    keys = {f"inbox-{r.id}:applied" for r in ours}
    assert done_keys(sorted(keys), url=stack.store_url) == keys
    for chain in burst.chains:  # each entity's deliveries entered the inbox in the order they were sent
        ids = [rows[event_id].id for event_id in chain.event_ids]
        assert ids == sorted(ids), chain.entity

    cyberimpact = httpx.get(f"{stack.sandbox}/_sandbox/cyberimpact/state", timeout=30).json()
    field = next(f["id"] for f in cyberimpact["customFields"] if f["name"] == "Amilia.Telephone")
    titles = {g["id"]: g["title"] for g in cyberimpact["groups"]}
    members = {m["email"]: m for m in cyberimpact["members"]}
    for email, phone in burst.phones.items():
        assert members[email]["customFields"].get(str(field)) == phone, email
    for email, title in burst.joined.items():
        assert title in {titles[g] for g in members[email]["groups"]}, f"{email} is not in {title}"
    # and were applied in that order: a registration created then cancelled leaves its person out of the group,
    # which a Delete applied before its Create would not (the Create would put them back)
    for email, title in burst.left.items():
        assert title not in {titles[g] for g in members[email]["groups"]}, f"{email} is still in {title}"
    log = httpx.get(f"{stack.sandbox}/_sandbox/cyberimpact/requests", timeout=30).json()["requests"]
    deletes = [r["path"] for r in log if r["method"] == "DELETE"]
    assert len(deletes) == len(set(deletes)), "a removal was sent twice"

    claimed = sorted({r.claimed_by for r in ours})
    drains = stack.call("POST", "/flow_runs/filter", json={"flow_runs": {"id": {"any_": claimed}}}).json()
    assert {d["deployment_id"] for d in drains} == {stack.deployment_id("amilia-webhooks")}
    assert len(drains) == len(claimed), "events applied by something other than an amilia-webhooks run"
    assert {stack.wait_run(run, timeout=120)["state"]["type"] for run in claimed} == {"COMPLETED"}
    ran_by = stack.ran_by(claimed)
    assert set(ran_by) == set(claimed) and set(ran_by.values()) <= WORKERS, ran_by


def test_drains_ran_on_both_workers_from_the_trigger_and_from_the_schedule(stack: Stack):
    """The `amilia-webhooks` deployment's runs: started by the gateway's event (automation) and by the
    one-minute schedule, completed, and run by both workers (a process worker takes a few seconds to start one)."""
    deadline, seen = time.monotonic() + 240, {}
    while time.monotonic() < deadline:
        runs = stack.flow_runs("amilia-webhooks", "COMPLETED")
        seen = {"scheduled": any(r.get("auto_scheduled") for r in runs),
                "triggered": any((r.get("created_by") or {}).get("type") == "AUTOMATION" for r in runs),
                "workers": sorted(set(stack.ran_by([r["id"] for r in runs]).values()))}
        if seen["scheduled"] and seen["triggered"] and set(seen["workers"]) == WORKERS:
            return
        time.sleep(3)
    raise AssertionError(f"after 4 minutes, completed amilia-webhooks runs: {seen}")


def test_logs_hold_no_traceback(stack: Stack):
    """Last: everything above ran on this stack. PostgreSQL has no "database is locked" to forgive."""
    for name in ("prefect-server", "worker-1", "worker-2", "gateway-2", "loadbalancer"):
        log = stack.log(name)
        assert "Traceback" not in log, f"{name}.log:\n{log[max(0, log.find('Traceback') - 500):][:4000]}"


# -- the burst: Amilia's deliveries, rendered by the emulator's API, sent in order per entity --------------------
@dataclass
class Chain:
    entity: str
    bodies: list[bytes] = field(default_factory=list)

    @property
    def event_ids(self) -> list[str]:  # the gateway's dedupe key of an Amilia delivery: the body's SHA-256
        return [hashlib.sha256(body).hexdigest() for body in self.bodies]


@dataclass
class Burst:
    chains: list[Chain]
    phones: dict[str, str]  # e-mail → the telephone of its last Person.Update
    joined: dict[str, str]  # e-mail → the activity group a new registration gives
    left: dict[str, str]  # e-mail → the activity group of a registration created, then cancelled

    @property
    def size(self) -> int:
        return sum(len(c.bodies) for c in self.chains)

    @property
    def event_ids(self) -> list[str]:
        return [event_id for chain in self.chains for event_id in chain.event_ids]


def plan_burst(sandbox: str, owners: int = 100, pairs: int = 25, joins: int = 25) -> Burst:
    """Per account owner (own e-mail): three telephone changes; for `pairs` of them a new registration, cancelled
    afterwards, in an activity other accounts keep taking (so the cancellation removes them from its group, the
    seed's rule, rather than an activity cancelled for all); for `joins` others a registration in an activity
    nobody takes. The emulator's state ends with every change; each payload is what the API answered at its time."""
    amilia = httpx.get(f"{sandbox}/_sandbox/amilia/state", timeout=30).json()
    persons = {p["Id"]: p for p in amilia["persons"]}
    accounts = {a["Id"]: a for a in amilia["accounts"]}
    shared = Counter((p["Email"] or "").lower() for p in amilia["persons"])
    unsubscribed = {m["email"] for m in httpx.get(f"{sandbox}/_sandbox/cyberimpact/state", timeout=30).json()[
        "members"] if m["status"] != "active"}  # never written to (the seed)
    chosen = [persons[a["OwnerPersonId"]] for a in amilia["accounts"] if not a["IsArchived"]]
    chosen = [p for p in chosen if p["Email"] and not p["IsChild"] and not p["IsArchived"]
              and shared[p["Email"].lower()] == 1 and p["Email"].lower() not in unsubscribed][:owners]
    recent = f"{int(amilia['today'][:4]) - 1}{amilia['today'][4:]}"
    live: dict[int, set[int]] = {}  # activity → accounts with a live registration in it
    for r in amilia["registrations"]:
        if not (r["IsCancelled"] or r["DateCreated"] < recent or persons[r["PersonId"]]["IsArchived"]
                or accounts[r["AccountId"]]["IsArchived"]):
            live.setdefault(r["ActivityId"], set()).add(r["AccountId"])
    taken = {r["ActivityId"] for r in amilia["registrations"]}
    free = [a for a in amilia["activities"] if a["Id"] not in taken and (a.get("EndDate") or "") >= amilia["today"]]
    activities, used = [], set()
    for person in chosen[:pairs]:
        activity = next(a for a, held in live.items() if a not in used and person["AccountId"] not in held)
        used.add(activity)
        activities.append(activity)
    activities += [a["Id"] for a in free[:joins]]
    assert len(chosen) >= pairs + joins and len(activities) == pairs + joins, (len(chosen), len(activities))
    first = max(r["Id"] for r in amilia["registrations"]) + 1
    new = {}
    for i, (person, activity) in enumerate(zip(chosen, activities, strict=False)):
        new[person["Id"]] = {"Id": first + i, "RegistrationId": f"SUB-{first + i}", "ActivityId": activity,
                             "PersonId": person["Id"], "AccountId": person["AccountId"], "IsCancelled": False,
                             "DateCreated": f"{amilia['today']}T10:00:00", "DropInDate": None}
    amilia["registrations"] += list(new.values())
    rendered = []
    for version in (1, 2, 3):
        for i, person in enumerate(chosen):
            person["Telephone"] = f"514-55{version}-{i:04d}"
        if version == 3:
            for person in chosen[:pairs]:
                new[person["Id"]]["IsCancelled"] = True
        httpx.put(f"{sandbox}/_sandbox/amilia/state", json=amilia, timeout=60).raise_for_status()
        rendered.append(_api(sandbox, amilia))
    org, burst = amilia["organization"]["Id"], Burst([], {}, {}, {})
    for i, person in enumerate(chosen):
        chain, reg = Chain(f"person:{person['Id']}"), new.get(person["Id"])
        for version, (persons_now, registrations_now) in enumerate(rendered):
            chain.bodies.append(_body(org, "Person", "Update", persons_now[person["Id"]]))
            if reg and version == 0:
                chain.bodies.append(_body(org, "Registration", "Create", registrations_now[reg["Id"]]))
            if reg and version == 2 and i < pairs:
                chain.bodies.append(_body(org, "Registration", "Delete", registrations_now[reg["Id"]]))
        email = person["Email"].lower()
        burst.chains.append(chain)
        burst.phones[email] = person["Telephone"]
        if reg:
            levels = [(rendered[0][1][reg["Id"]].get(k) or {}).get("Name") for k in
                      ("Program", "Category", "SubCategory", "Activity")]
            (burst.left if i < pairs else burst.joined)[email] = " \\ ".join(level for level in levels if level)
    return burst


def _api(sandbox: str, amilia: dict) -> tuple[dict[int, dict], dict[int, dict]]:
    """Persons and registrations as Amilia's API answers them now."""
    base = f"{sandbox}/amilia/api/V3"
    user = amilia["credentials"][0]
    token = httpx.get(f"{base}/authenticate", auth=(user["username"], user["password"]), timeout=30).json()["Token"]
    found = []
    for path, params in (("persons", {}), ("registrations", {"showEnded": "true"})):
        items, page = {}, 1
        while page:
            body = httpx.get(f"{base}/en/org/{amilia['organization']['Id']}/{path}", timeout=60,
                             params={**params, "page": page, "perPage": 1000},
                             headers={"Authorization": f"Bearer {token}"}).json()
            items.update({item["Id"]: item for item in body["Items"]})
            page = page + 1 if body["Paging"]["Next"] else 0
        found.append(items)
    return found[0], found[1]


def _body(org: int, context: str, action: str, payload: dict) -> bytes:
    if action == "Delete":
        payload = {**payload, "IsCancelled": True}
    envelope = {"OrganizationId": org, "Context": context, "Action": action, "Name": "Passerelle",
                "EventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "Payload": payload}
    return json.dumps(envelope, ensure_ascii=False).encode()


@dataclass
class Sent:
    unacked: list[str] = field(default_factory=list)
    refused: Counter = field(default_factory=Counter)  # answers other than 2xx, and transport errors, by kind
    stats_at_kill: dict = field(default_factory=dict)
    acked_after_kill: int = 0


def send_burst(url: str, burst: Burst, kill_at: float, kill: Callable[[], None],
               stats: Callable[[], dict], concurrency: int = 16) -> Sent:
    """Send every chain, `concurrency` entities at a time, each delivery after the previous one of its entity was
    acknowledged, retrying a refused one every 0.5 s as Amilia does; `kill()` once `kill_at` of the burst is
    acknowledged (the load balancer's per-replica counts just before are kept)."""
    sent, acked, threshold = Sent(), [0], int(kill_at * burst.size)

    async def run() -> None:
        slots = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as client:

            async def deliver(body: bytes) -> bool:
                for _ in range(120):
                    try:
                        answer = await client.post(url, content=body, headers={"Content-Type": "application/json"})
                        if answer.is_success:
                            return True
                        sent.refused[str(answer.status_code)] += 1
                    except httpx.TransportError as exc:
                        sent.refused[type(exc).__name__] += 1
                    await asyncio.sleep(0.5)
                return False

            async def chain(c: Chain) -> None:
                async with slots:
                    for body, event_id in zip(c.bodies, c.event_ids, strict=True):
                        if not await deliver(body):
                            sent.unacked.append(event_id)
                            return
                        acked[0] += 1
                        if sent.stats_at_kill:
                            sent.acked_after_kill += 1
                        elif acked[0] >= threshold:
                            sent.stats_at_kill = stats()
                            kill()

            await asyncio.gather(*(chain(c) for c in burst.chains))

    asyncio.run(run())
    return sent
