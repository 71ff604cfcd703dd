"""Benchmark of the Amilia → Cyberimpact initial sync against a "floor": the same HTTP calls made by a bare
httpx script. Not a test: it measures, prints a table and writes ``bench/results/initial_sync.json``.

    .venv/bin/python bench/initial_sync.py --persons 20000 [--months 24] [--seed 7] [--repeat 1]

The parent process starts the sandbox in its own process, generates the organisation once, and for each run
resets and reloads the sandbox, then runs one child process:

- ``--child sync``: saves the credentials Blocks (which starts Prefect's embedded server), then times
  ``asyncio.run(amilia_initial_sync(...))``; reports wall time, its own peak RSS and the flow's summary.
- ``--child floor``: bare httpx (no Prefect, no retries, no pandas), same concurrency as the connectors,
  the same reads and the same writes; the write payloads were computed beforehand by the parent with the
  project's pure functions, so only the HTTP part (and the JSON parsing of every page) is timed.

See bench/README.md for what is measured and how the floor is built.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULTS,
    ROOT,
    SandboxProcess,
    call_counts,
    child_env,
    compare_outcomes,
    cyberimpact_outcome,
    log,
    machine,
    run_child,
)

LINK = "bench"
CONCURRENCY = 8          # the connectors' default max_concurrency (AmiliaClient, CyberimpactClient)
AMILIA_PER_PAGE = 1000   # connectors.amilia.client.MAX_PER_PAGE, the AmiliaClient default
CYBER_LIMIT = 10_000     # connectors.cyberimpact.client.MAX_LIMIT, the CyberimpactClient default
CHUNK_SIZE = 1000        # tasks.amilia_cyberimpact.sync.load_contacts default chunk_size
FLOOR_POLL_S = 0.05      # the floor re-polls a queued batch after this delay (the sync: 0.2 s, x1.5 each)
TARGET_RATIO = 1.5
TARGET_RSS_MB = 400.0


def _peak_rss_mb() -> float:
    """This process's own peak RSS, in MB.

    Linux: ``VmHWM`` of /proc/self/status. Not ``ru_maxrss``: the kernel keeps it across ``execve``, so a
    child spawned by this (large) parent would report at least the parent's RSS at spawn time.
    Elsewhere: ``ru_maxrss`` (kilobytes; bytes on macOS).
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def _ru_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / (1024 if sys.platform == "darwin" else 1)


class GcTimer:
    """Time spent in the cyclic garbage collector, per generation (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1

    def __enter__(self) -> GcTimer:
        import gc

        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        import gc

        gc.callbacks.remove(self)

    def as_dict(self) -> dict[str, Any]:
        return {"total_s": round(sum(self.seconds), 3), "gen2_s": round(self.seconds[2], 3),
                "collections": self.collections}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# =========================================================================================== sync child
def child_sync(spec: dict[str, Any], out: Path, profile: Path | None) -> None:
    """Run the real flow once, the clock around ``asyncio.run(amilia_initial_sync(...))`` only."""
    import threading

    import httpx
    import psutil

    setup_started = time.perf_counter()
    from connectors.amilia.credentials import AmiliaCredentials
    from connectors.cyberimpact.credentials import CyberimpactCredentials

    flow_module = importlib.import_module(spec.get("flow_module") or "flows.amilia_sync")
    AmiliaCredentials(username=spec["amilia_username"], password=spec["amilia_password"],
                      organization=spec["amilia_organization"], base_url=spec["amilia_url"]
                      ).save(LINK, overwrite=True)
    CyberimpactCredentials(api_token=spec["cyberimpact_token"], base_url=spec["cyberimpact_url"]
                           ).save(LINK, overwrite=True)
    setup_s = time.perf_counter() - setup_started
    print(f"    sync child: Prefect embedded server up and Blocks saved in {setup_s:.1f} s", flush=True)

    # A sampler thread records this process's RSS (and that of Prefect's embedded server, a subprocess
    # of this one: informative, the headline RSS is this process's own) every 50 ms.
    me = psutil.Process()
    helpers = {p.pid: p for p in me.children(recursive=True)}
    helper_cpu_before = {pid: sum(p.cpu_times()[:2]) for pid, p in helpers.items()}
    timeline: list[tuple[float, float, float]] = []  # (perf_counter, own RSS MB, helpers RSS MB)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            total = 0.0
            for p in helpers.values():
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            timeline.append((time.perf_counter(), me.memory_info().rss / 2**20, total / 2**20))
            stop.wait(0.05)

    # Stage marks: the flow reports its stages through passerelle.progress, which writes them to the store
    # with `update_progress`; wrap the name that module calls (this process only; no product file is changed).
    import passerelle.progress as progress_module

    marks: list[tuple[str, float]] = []
    report_progress = progress_module.update_progress

    def marked_progress(run_id: int, stage: str, done: int, total: int) -> None:
        marks.append((stage, time.perf_counter()))
        report_progress(run_id, stage, done, total)

    progress_module.update_progress = marked_progress

    with httpx.Client(base_url=spec["sandbox_url"], timeout=60) as control:
        for vendor in ("amilia", "cyberimpact"):
            control.delete(f"/_sandbox/{vendor}/requests").raise_for_status()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rss_before = _peak_rss_mb()
    cpu_before = _cpu_s()
    as_of = date.fromisoformat(spec["as_of"])
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    with GcTimer() as gc_timer:
        summary = asyncio.run(flow_module.amilia_initial_sync(link=LINK, months=spec["months"], as_of=as_of))
    finished = time.perf_counter()
    wall = finished - started
    if profiler is not None:
        import pstats

        profiler.disable()
        profiler.dump_stats(str(profile))
        print(f"    sync child: cProfile stats in {profile}; top 25 by cumulative time:", flush=True)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    cpu = _cpu_s() - cpu_before
    stop.set()
    sampler.join()
    helper_cpu = 0.0
    for pid, p in helpers.items():
        with contextlib.suppress(psutil.Error):
            helper_cpu += sum(p.cpu_times()[:2]) - helper_cpu_before[pid]

    # Sections between stage marks: wall time and the highest RSS sampled in each.
    bounds = [("flow start → first stage", started), *marks, ("end", finished)]
    sections = []
    for (name, t0), (_, t1) in zip(bounds, bounds[1:], strict=False):
        rss = [r for t, r, _ in timeline if t0 <= t <= t1]
        sections.append({"section": name, "s": round(t1 - t0, 3),
                         "max_rss_mb": round(max(rss), 1) if rss else None})
    sections[-1]["section"] += " → flow returned"
    result = {
        "wall_s": wall, "peak_rss_mb": _peak_rss_mb(), "rss_before_clock_mb": rss_before, "cpu_s": cpu,
        "ru_maxrss_mb": _ru_maxrss_mb(), "sections": sections, "gc": gc_timer.as_dict(),
        "setup_s": setup_s, "summary_counts": summary["counts"], "skipped": summary["skipped"],
        "failures_sample": summary["failures"][:5],
        "prefect_server": {"processes": len(helpers), "cpu_s": round(helper_cpu, 2),
                           "peak_rss_mb": round(max((h for _, _, h in timeline), default=0.0), 1)},
        "modules": {"pandas": "pandas" in sys.modules, "prefect": "prefect" in sys.modules},
    }
    out.write_text(json.dumps(result, indent=1, default=str))


# ========================================================================================== floor child
def child_floor(spec: dict[str, Any], out: Path) -> None:
    """The same calls as the sync with bare httpx; the payloads come precomputed in ``spec["plan"]``."""
    import httpx

    plan = json.loads(Path(spec["plan"]).read_text())
    rss_before = _peak_rss_mb()
    cpu_before = _cpu_s()
    started = time.perf_counter()
    with GcTimer() as gc_timer:
        counts = asyncio.run(_floor(spec, plan, httpx))
    wall = time.perf_counter() - started
    result = {
        "wall_s": wall, "peak_rss_mb": _peak_rss_mb(), "rss_before_clock_mb": rss_before,
        "ru_maxrss_mb": _ru_maxrss_mb(), "cpu_s": _cpu_s() - cpu_before, "read_counts": counts["read"],
        "gc": gc_timer.as_dict(),
        "phases_s": counts["phases"],
        "batch_failures": counts["failures"],
        "modules": {"pandas": "pandas" in sys.modules, "prefect": "prefect" in sys.modules},
    }
    out.write_text(json.dumps(result, indent=1))


async def _floor(spec: dict[str, Any], plan: dict[str, Any], httpx: Any) -> dict[str, Any]:
    import base64

    phases: dict[str, float] = {}
    t0 = time.perf_counter()

    def client(base: str, headers: dict[str, str]) -> Any:
        return httpx.AsyncClient(base_url=base, headers={"Accept": "application/json", **headers},
                                 timeout=120, limits=httpx.Limits(max_connections=CONCURRENCY,
                                                                  max_keepalive_connections=CONCURRENCY))

    amilia_slots, cyber_slots = asyncio.Semaphore(CONCURRENCY), asyncio.Semaphore(CONCURRENCY)
    basic = base64.b64encode(f"{spec['amilia_username']}:{spec['amilia_password']}".encode()).decode()
    async with client(spec["amilia_url"], {}) as amilia, \
            client(spec["cyberimpact_url"], {"Authorization": f"Bearer {spec['cyberimpact_token']}"}) as cyber:

        async def call(http: Any, slots: asyncio.Semaphore, method: str, path: str, **kw: Any) -> Any:
            async with slots:
                response = await http.request(method, path, **kw)
            response.raise_for_status()
            return response.json()

        # ---- Amilia reads ------------------------------------------------------------------------
        token = (await call(amilia, amilia_slots, "GET", "/authenticate",
                            headers={"Authorization": f"Basic {basic}"}))["Token"]
        amilia.headers["Authorization"] = f"Bearer {token}"
        org = f"/en/org/{spec['amilia_organization']}"

        async def amilia_list(path: str, params: dict[str, Any]) -> list[dict]:
            query = {"perPage": AMILIA_PER_PAGE, **params}
            first = await call(amilia, amilia_slots, "GET", org + path, params={**query, "page": 1})
            items = list(first["Items"])
            pages = -(-int(first["Paging"]["TotalCount"]) // AMILIA_PER_PAGE)
            rest = await asyncio.gather(*(call(amilia, amilia_slots, "GET", org + path,
                                               params={**query, "page": n}) for n in range(2, pages + 1)))
            for body in rest:
                items.extend(body["Items"])
            return items

        async def read_amilia() -> dict[str, list[dict]]:
            persons, accounts, registrations, memberships = await asyncio.gather(
                amilia_list("/persons", {}), amilia_list("/accounts", {"showArchived": "true"}),
                amilia_list("/registrations", {"from": spec["since"], "to": spec["until"], "showEnded": "true"}),
                amilia_list("/memberships", {"showHidden": "false", "showActiveonly": "true"}))
            holders = await asyncio.gather(*(amilia_list(f"/memberships/{m['Id']}/persons", {"status": "Active"})
                                             for m in memberships))
            phases["amilia_reads"] = time.perf_counter() - t0
            return {"persons": persons, "accounts": accounts, "registrations": registrations,
                    "memberships": memberships, "membership_persons": [r for rows in holders for r in rows]}

        # ---- Cyberimpact reads -------------------------------------------------------------------
        async def cyber_list(path: str, key: str, params: dict[str, Any]) -> list[dict]:
            query = {"limit": CYBER_LIMIT, **params}
            first = await call(cyber, cyber_slots, "GET", path, params={**query, "page": 1})
            items = list(first[key])
            pages = max(1, -(-int(first["totalCount"]) // CYBER_LIMIT))
            rest = await asyncio.gather(*(call(cyber, cyber_slots, "GET", path, params={**query, "page": n})
                                          for n in range(2, pages + 1)))
            for body in rest:
                items.extend(body[key])
            return items

        async def read_cyber() -> dict[str, Any]:
            account, fields, groups, members, unsubscribed = await asyncio.gather(
                call(cyber, cyber_slots, "GET", "/account"), cyber_list("/customfields", "customFields", {}),
                cyber_list("/groups", "groups", {}), cyber_list("/members", "members", {"status": "all"}),
                cyber_list("/members/unsubscribed", "members", {}))
            phases["cyberimpact_reads"] = time.perf_counter() - t0
            return {"account": account, "customFields": fields, "groups": groups, "members": members,
                    "unsubscribed": unsubscribed}

        read_a, read_c = await asyncio.gather(read_amilia(), read_cyber())
        t1 = time.perf_counter()

        # ---- writes: custom fields, then groups (all concurrent, within the concurrency limit) -------
        field_ids = {f["name"]: str(f["id"]) for f in read_c["customFields"]}
        created = await asyncio.gather(*(call(cyber, cyber_slots, "POST", "/customfields",
                                              json={"name": name, "type": kind})
                                         for name, kind in plan["missing_fields"]))
        field_ids.update({f["name"]: str(f["id"]) for f in created})
        group_ids = {g["title"]: str(g["id"]) for g in read_c["groups"]}
        archived_id = field_ids[plan["archived_field"]]
        bodies = [{"title": t, "isPublic": False} for t in plan["static_groups"] if t not in group_ids]
        for title, criteria in plan["dynamic_groups"].items():
            if title in group_ids:
                continue
            if criteria is None:  # the archived group: its criteria name the field id created above
                criteria = {"match": "all", "rules": [{"field": "customField", "customFieldId": archived_id,
                                                       "operator": "equals", "value": "True"}]}
            bodies.append({"title": title, "isPublic": False, "isDynamic": True, "criteria": criteria})
        created = await asyncio.gather(*(call(cyber, cyber_slots, "POST", "/groups", json=b) for b in bodies))
        group_ids.update({g["title"]: str(g["id"]) for g in created})
        phases["fields_and_groups"] = time.perf_counter() - t1
        t2 = time.perf_counter()

        # ---- writes: addMembers batches, submitted concurrently, then polled until completed ---------
        failures = 0

        async def run_batch(body: dict[str, Any]) -> None:
            nonlocal failures
            batch_id = (await call(cyber, cyber_slots, "POST", "/batches", json=body))["id"]
            while True:
                batch = await call(cyber, cyber_slots, "GET", f"/batches/{batch_id}",
                                   params={"showErrorDetails": "true"})
                if batch["status"] == "completed":
                    failures += int(batch["result"]["failures"])
                    return
                await asyncio.sleep(FLOOR_POLL_S)

        def batch_body(members: list[dict], titles: list[str]) -> dict[str, Any]:
            return {"batchType": "addMembers", "relationType": plan["relation_type"],
                    "groups": [int(group_ids[t]) for t in titles], "members": members}

        def with_field_ids(member: dict[str, Any]) -> dict[str, Any]:
            return {**member, "customFields": {field_ids[k]: v for k, v in member["customFields"].items()}}

        upserts = [with_field_ids(m) for m in plan["upserts"]]
        await asyncio.gather(*(run_batch(batch_body(upserts[i:i + CHUNK_SIZE], [plan["clients_group"]]))
                               for i in range(0, len(upserts), CHUNK_SIZE)))
        phases["upsert_batches"] = time.perf_counter() - t2
        t3 = time.perf_counter()
        await asyncio.gather(*(run_batch(batch_body([{"email": e} for e in emails[i:i + CHUNK_SIZE]], [title]))
                               for title, emails in plan["group_adds"] for i in range(0, len(emails), CHUNK_SIZE)))
        phases["group_batches"] = time.perf_counter() - t3

    read = {k: len(v) for k, v in read_a.items()}
    read.update({f"cyberimpact_{k}": len(v) for k, v in read_c.items() if isinstance(v, list)})
    return {"read": read, "phases": {k: round(v, 3) for k, v in phases.items()}, "failures": failures}


# =================================================================================== plan (for the floor)
def amilia_answers(document: dict[str, Any], since: date, until: date) -> dict[str, list[dict]]:
    """What the Amilia emulator answers to the sync's four listings, rendered from the document as the
    emulator does it (same filters; see sandbox/amilia/app.py)."""
    from sandbox.amilia import render
    from sandbox.amilia.state import AmiliaData

    data = AmiliaData.build(document["amilia"])
    today = data.clock().isoformat()
    since_s, until_s = since.isoformat(), until.isoformat()
    memberships = [m for m in data.memberships_sorted if m["IsVisible"] and not m["IsArchived"]]
    holders = []
    for m in memberships:
        for mp in data.holders_by_membership.get(m["Id"], []):
            if render.membership_status(mp, today) == "Active":
                row = render.membership_person(data, mp, today)
                holders.append({**row, "MembershipName": row.get("MembershipName") or m["Name"]})
    return {
        "persons": [render.person(data, p) for p in data.persons_sorted],
        "accounts": [render.account(data, a) for a in data.accounts_sorted],
        "registrations": [render.registration(data, r) for r in data.registrations_sorted
                          if since_s <= r["DateCreated"][:10] <= until_s],
        "memberships": [render.membership(data, m) for m in memberships],
        "membership_persons": holders,
    }


def build_plan(document: dict[str, Any], cyber_state: dict[str, Any], months: int, as_of: date) -> dict[str, Any]:
    """The writes of the sync, computed with the project's pure functions (the flow's own code path)."""
    from tasks.amilia_cyberimpact.diff import diff_contacts
    from tasks.amilia_cyberimpact.mapping import (
        ARCHIVED_FIELD,
        ARCHIVED_GROUP,
        CLIENTS_GROUP,
        CUSTOM_FIELDS,
        RELATION_TYPE,
    )
    from tasks.amilia_cyberimpact.sync import to_batch_member, wanted_groups
    from tasks.amilia_cyberimpact.transforms import (
        accounts_frame,
        enrolments_frame,
        persons_frame,
        plan_contacts,
        window_start,
    )

    since = window_start(as_of, months)
    answers = amilia_answers(document, since, as_of)
    plan = plan_contacts(persons_frame(answers["persons"]), accounts_frame(answers["accounts"]),
                         enrolments_frame(answers["registrations"], answers["membership_persons"],
                                          since=since, until=as_of))
    field_names = {str(f["id"]): f["name"] for f in cyber_state["customFields"]}
    group_titles = {str(g["id"]): g["title"] for g in cyber_state["groups"]}
    unsubscribed = {m["email"].lower() for m in cyber_state["members"] if m.get("status") == "unsubscribed"}
    changes = diff_contacts(plan.contacts, plan.memberships, cyber_state["members"], unsubscribed,
                            field_names, group_titles)
    existing_fields = set(field_names.values())
    static, dynamic = wanted_groups(plan)
    dynamic_out: dict[str, Any] = dict(dynamic)
    dynamic_out[ARCHIVED_GROUP] = None  # criteria need the Amilia.IsArchived field id: filled in by the floor
    identity = {cf.name: cf.name for cf in CUSTOM_FIELDS}  # custom fields by name; the floor maps them to ids
    upserts = [to_batch_member(m, identity) for m in (*changes.creates, *changes.updates)]
    upserted = {m["email"] for m in upserts}
    group_adds = [(title, [e for e in emails if not (title == CLIENTS_GROUP and e in upserted)])
                  for title, emails in changes.group_adds.items()]
    return {
        "window": [since.isoformat(), as_of.isoformat()],
        "missing_fields": [(cf.name, cf.type) for cf in CUSTOM_FIELDS if cf.name not in existing_fields],
        "archived_field": ARCHIVED_FIELD, "clients_group": CLIENTS_GROUP, "relation_type": RELATION_TYPE,
        "static_groups": static, "dynamic_groups": dynamic_out,
        "upserts": upserts, "group_adds": [(t, e) for t, e in group_adds if e],
        "expected_reads": {k: len(v) for k, v in answers.items()},
        "expected": {"contacts planned": len(plan.contacts), "contacts created": len(changes.creates),
                     "contacts updated": len(changes.updates),
                     "group memberships added": changes.group_memberships_added},
    }


# ============================================================================================== parent
def _run_sync(sandbox: SandboxProcess, document: dict, spec: dict, work: Path, index: int,
              profile: bool) -> dict[str, Any]:
    log(f"sync run {index}: reset + load the sandbox")
    sandbox.reset()
    sandbox.load(document)
    run_dir = work / f"sync-{index}"
    (run_dir / "prefect").mkdir(parents=True)
    spec_path, out_path = run_dir / "spec.json", run_dir / "result.json"
    spec_path.write_text(json.dumps(spec))
    env = child_env(PREFECT_HOME=str(run_dir / "prefect"), PASSERELLE_HOME=str(run_dir / "passerelle"),
                    PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="WARNING",
                    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180")
    env.pop("PASSERELLE_DATABASE_URL", None)
    args = [str(Path(__file__)), "--child", "sync", "--spec", str(spec_path), "--out", str(out_path)]
    if profile:
        args += ["--profile-out", str(RESULTS / "initial_sync_sync.prof")]
    log(f"sync run {index}: child started (Prefect's embedded server starts first, off the clock)")
    cpu_before = sandbox.cpu_seconds()
    result = run_child(args, env, out_path, timeout=600, label="sync")
    result["sandbox_cpu_s"] = round(sandbox.cpu_seconds() - cpu_before, 2)
    result["calls"] = call_counts(sandbox)
    result["outcome"] = cyberimpact_outcome(sandbox.state("cyberimpact"))
    counts = result["summary_counts"]
    log(f"sync run {index}: {result['wall_s']:.2f} s, peak RSS {result['peak_rss_mb']:.0f} MB, "
        f"{counts['contacts created']} contacts created, {counts['failures']} failures")
    if counts["failures"] or counts["contacts created"] <= 0:
        raise SystemExit(f"FAILED: the sync run had {counts['failures']} failures and created "
                         f"{counts['contacts created']} contacts (expected 0 and > 0): {result['failures_sample']}")
    return result


def _run_floor(sandbox: SandboxProcess, document: dict, spec: dict, work: Path, index: int,
               plan_path: Path) -> dict[str, Any]:
    log(f"floor run {index}: reset + load the sandbox")
    sandbox.reset()
    sandbox.load(document)
    sandbox.clear_requests()
    run_dir = work / f"floor-{index}"
    run_dir.mkdir(parents=True)
    spec_path, out_path = run_dir / "spec.json", run_dir / "result.json"
    spec_path.write_text(json.dumps({**spec, "plan": str(plan_path)}))
    args = [str(Path(__file__)), "--child", "floor", "--spec", str(spec_path), "--out", str(out_path)]
    log(f"floor run {index}: child started")
    cpu_before = sandbox.cpu_seconds()
    result = run_child(args, child_env(), out_path, timeout=600, label="floor")
    result["sandbox_cpu_s"] = round(sandbox.cpu_seconds() - cpu_before, 2)
    result["calls"] = call_counts(sandbox)
    result["outcome"] = cyberimpact_outcome(sandbox.state("cyberimpact"))
    if result["modules"]["pandas"] or result["modules"]["prefect"]:
        raise SystemExit(f"FAILED: the floor child imported pandas or Prefect: {result['modules']}")
    log(f"floor run {index}: {result['wall_s']:.2f} s, peak RSS {result['peak_rss_mb']:.0f} MB, "
        f"phases {result['phases_s']}")
    return result


def _figures(run: dict[str, Any]) -> dict[str, Any]:
    calls = run["calls"]
    total = calls["amilia"]["total"] + calls["cyberimpact"]["total"]
    return {"wall_s": round(run["wall_s"], 3), "peak_rss_mb": round(run["peak_rss_mb"], 1),
            "rss_before_clock_mb": round(run["rss_before_clock_mb"], 1),
            "cpu_s": round(run["cpu_s"], 2), "gc_s": run["gc"]["total_s"], "sandbox_cpu_s": run["sandbox_cpu_s"],
            "amilia_calls": calls["amilia"]["total"], "cyberimpact_calls": calls["cyberimpact"]["total"],
            "calls_per_s": round(total / run["wall_s"], 1)}


def _after(run: dict[str, Any]) -> dict[str, Any]:
    """What the run left in Cyberimpact, as counts."""
    o = run["outcome"]
    return {"members": len(o["emails"]), "groups": len(o["group_titles"]), "dynamic_groups": len(o["dynamic_groups"]),
            "static_memberships": sum(o["memberships_per_group"].values()), "custom_fields": len(o["custom_fields"]),
            "custom_values": o["custom_values"], "with_consent": o["with_consent"]}


def _table(sync: dict[str, Any], floor: dict[str, Any]) -> str:
    rows = [("run", "wall s", "peak RSS MB", "CPU s", "GC s", "sandbox CPU s", "Amilia calls (r/w)",
             "Cyberimpact calls (r/w)", "calls/s")]
    for name, run in (("sync", sync), ("floor", floor)):
        f, c = _figures(run), run["calls"]
        rows.append((name, f"{f['wall_s']:.2f}", f"{f['peak_rss_mb']:.0f}", f"{f['cpu_s']:.1f}", f"{f['gc_s']:.1f}",
                     f"{f['sandbox_cpu_s']:.1f}",
                     f"{c['amilia']['total']} ({c['amilia']['reads']}/{c['amilia']['writes']})",
                     f"{c['cyberimpact']['total']} ({c['cyberimpact']['reads']}/{c['cyberimpact']['writes']})",
                     f"{f['calls_per_s']:.0f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each kind; the best wall time counts")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the flow in the sync child (slower); stats in bench/results/")
    parser.add_argument("--output", type=Path, default=RESULTS / "initial_sync.json")
    parser.add_argument("--flow-module", default="flows.amilia_sync",
                        help="module holding the amilia_initial_sync flow, to measure a variant of it "
                             "(e.g. a patched copy on PYTHONPATH)")
    parser.add_argument("--child", choices=["sync", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        spec = json.loads(args.spec.read_text())
        if args.child == "sync":
            child_sync(spec, args.out, args.profile_out)
        else:
            child_floor(spec, args.out)
        return
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    bench(args)


def bench(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="passerelle-bench-") as tmp:
        work = Path(tmp)
        # The parent imports the project's transforms (Prefect, pandas): keep Prefect off the user's home.
        os.environ.setdefault("PREFECT_HOME", str(work / "parent-prefect"))
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        sandbox = SandboxProcess(work / "sandbox.log")
        try:
            log(f"starting the sandbox on port {sandbox.port} (separate process)")
            sandbox.start()
            log(f"generating the organisation: {args.persons} persons, {args.months} months, seed {args.seed}")
            from sandbox.seed import generate

            t = time.perf_counter()
            document = generate(persons=args.persons, months=args.months, seed=args.seed)
            amilia = document["amilia"]
            log(f"generated in {time.perf_counter() - t:.1f} s: {len(amilia['persons'])} persons, "
                f"{len(amilia['accounts'])} accounts, {len(amilia['registrations'])} registrations, "
                f"{len(amilia['membershipPersons'])} membership holders")
            as_of = date.fromisoformat(amilia["today"]) if amilia.get("today") else date.today()
            credentials = amilia["credentials"][0]
            spec = {"sandbox_url": sandbox.url, "amilia_url": sandbox.amilia_url,
                    "cyberimpact_url": sandbox.cyberimpact_url, "amilia_username": credentials["username"],
                    "amilia_password": credentials["password"],
                    "amilia_organization": str(amilia["organization"]["Id"]),
                    "cyberimpact_token": document["cyberimpact"]["tokens"][0], "months": args.months,
                    "as_of": as_of.isoformat(), "flow_module": args.flow_module}

            log("computing the floor's payloads with the project's pure functions (off the clock)")
            t = time.perf_counter()
            sandbox.reset()
            sandbox.load(document)
            plan = build_plan(document, sandbox.state("cyberimpact"), args.months, as_of)
            spec.update(since=plan["window"][0], until=plan["window"][1])
            plan_path = work / "floor-plan.json"
            plan_path.write_text(json.dumps(plan))
            log(f"planned in {time.perf_counter() - t:.1f} s: {len(plan['upserts'])} upserts, "
                f"{len(plan['static_groups'])} static + {len(plan['dynamic_groups'])} dynamic groups, "
                f"{sum(len(e) for _, e in plan['group_adds'])} group adds in {len(plan['group_adds'])} groups")

            syncs, floors = [], []
            for i in range(1, args.repeat + 1):
                syncs.append(_run_sync(sandbox, document, spec, work, i, args.profile))
                floors.append(_run_floor(sandbox, document, spec, work, i, plan_path))
        finally:
            log("stopping the sandbox")
            sandbox.stop()

    sync = min(syncs, key=lambda r: r["wall_s"])
    floor = min(floors, key=lambda r: r["wall_s"])
    warnings = []
    for run in floors:
        for problem in compare_outcomes(sync["outcome"], run["outcome"]):
            warnings.append(f"WARNING: the floor left Cyberimpact in another state than the sync: {problem}")
        if any(run["read_counts"][k] != v for k, v in plan["expected_reads"].items()):
            warnings.append(f"WARNING: the floor read {run['read_counts']}, the plan expected "
                            f"{plan['expected_reads']}")
        if run["batch_failures"] != sync["summary_counts"]["failures"]:
            warnings.append(f"WARNING: floor batches reported {run['batch_failures']} failures")
    for run in syncs:
        expected = plan["expected"]
        got = {k: run["summary_counts"][k] for k in expected}
        if got != expected:
            warnings.append(f"WARNING: the sync's summary {got} differs from the floor's plan {expected}")
    peak_rss = max(r["peak_rss_mb"] for r in syncs)
    ratio = sync["wall_s"] / floor["wall_s"]
    report = {
        "benchmark": "initial_sync", "flow_module": args.flow_module, "persons": args.persons,
        "months": args.months, "seed": args.seed,
        "repeat": args.repeat, "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "organisation": {"persons": len(amilia["persons"]), "accounts": len(amilia["accounts"]),
                         "registrations": len(amilia["registrations"]),
                         "membership_holders": len(amilia["membershipPersons"])},
        "sync": {**_figures(sync), "peak_rss_mb_max_of_runs": round(peak_rss, 1),
                 "setup_s": round(sync["setup_s"], 1), "prefect_server": sync["prefect_server"],
                 "sections": sync["sections"], "gc": sync["gc"], "cyberimpact_after": _after(sync),
                 "summary_counts": sync["summary_counts"], "calls": sync["calls"],
                 "runs": [_figures(r) for r in syncs]},
        "floor": {**_figures(floor), "phases_s": floor["phases_s"], "gc": floor["gc"],
                  "cyberimpact_after": _after(floor), "calls": floor["calls"],
                  "runs": [_figures(r) for r in floors]},
        "ratio": round(ratio, 2),
        "targets": {"ratio_max": TARGET_RATIO, "peak_rss_mb_max": TARGET_RSS_MB,
                    "ratio_met": ratio <= TARGET_RATIO, "rss_met": peak_rss <= TARGET_RSS_MB},
        "warnings": warnings,
        "bench_wall_s": round(time.perf_counter() - started, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")

    print()
    print(_table(sync, floor))
    print()
    counts = sync["summary_counts"]
    print(f"sync summary: {counts['contacts created']} created, {counts['contacts updated']} updated, "
          f"{counts['contacts skipped']} skipped, {counts['group memberships added']} group memberships, "
          f"{counts['groups created']} groups, {counts['custom fields created']} fields, "
          f"{counts['failures']} failures")
    print("sync sections (between the flow's progress stages): " + "; ".join(
        f"{x['section']} {x['s']:.2f} s, ≤{x['max_rss_mb']:.0f} MB" if x["max_rss_mb"] else
        f"{x['section']} {x['s']:.2f} s" for x in sync["sections"]))
    print("floor phases: " + "; ".join(f"{k} {v:.2f} s" for k, v in floor["phases_s"].items()))
    print(f"sync: Prefect server subprocess used {sync['prefect_server']['cpu_s']} s CPU, peak "
          f"{sync['prefect_server']['peak_rss_mb']} MB RSS (not counted above); embedded server start + "
          f"Blocks: {sync['setup_s']:.1f} s (off the clock)")
    for warning in warnings:
        print(warning)
    print(f"results written to {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}"
          f" (bench took {report['bench_wall_s']:.0f} s)")
    ok_ratio = "met" if ratio <= TARGET_RATIO else "MISSED"
    ok_rss = "met" if peak_rss <= TARGET_RSS_MB else "MISSED"
    print(f"targets: ratio {ok_ratio}, RSS {ok_rss}")
    print(f"initial_sync: {ratio:.2f}x floor ({sync['wall_s']:.2f} s vs {floor['wall_s']:.2f} s), "
          f"peak RSS {peak_rss:.0f} MB vs target ≤{TARGET_RATIO:g}x, ≤{TARGET_RSS_MB:.0f} MB")


if __name__ == "__main__":
    main()
