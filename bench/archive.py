"""Benchmark of the iAdvize → Zendesk archival: conversations archived per second, use of Zendesk's rate limit,
and no lost or duplicated ticket under faults.

    .venv/bin/python bench/archive.py [--conversations 2000] [--limited 450] [--faulty 500] [--per-minute 700]

The sandbox runs in its own process (iAdvize and Zendesk emulators); this process saves the site's install
Block (`PREFECT_HOME` in a temporary folder: Prefect's embedded server) pointing at it, with a temporary SQLite
store, and runs the real flow ``archive_conversations`` in a loop (as the deployment's trigger would) until the
site's inbox is empty. Events go **straight into the inbox** with ``store_deliveries`` (what the gateway writes
once a signature is verified; the gateway has its own benches), all at once before the drain starts.

1. free: ``--conversations`` closed conversations (a third with a visitor e-mail a Zendesk user has, 10 %
   escalated too), rate limit off: conversations per second, first event received → last event done
   (``first_call_s``: first event received → first vendor call answered, the flow's start-up).
2. limited: ``--limited`` others with Zendesk's account limit on (``--per-minute``, 700 = Suite Enterprise, over
   ``--window`` seconds, 60 = Zendesk's minute): 2xx Zendesk calls per minute ÷ the limit, over whole windows.
3. faults: ``--faulty`` others with Zendesk answering random 429s (``--rate-429``), 5 % timeouts (504 after
   ``--timeout-s``) and lost answers (``--lost``: applied, then 504): tickets per ``external_id`` at the end.

Writes ``bench/results/archive.json``; the last line printed is the headline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _archive_data as data  # noqa: E402
from _common import RESULTS, SandboxProcess, log, machine  # noqa: E402

TARGET_PER_S, TARGET_LIMIT_USE = 100.0, 0.90


def _route(method: str, path: str) -> str:
    rest = path.split("/api/v2", 1)[-1] if "/api/v2" in path else path.split("/iadvize", 1)[-1]
    return f"{method} " + "/".join("{id}" if p.removesuffix(".json").isdigit() else p for p in rest.split("/"))


def calls(sandbox: SandboxProcess, vendor: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    response = sandbox.http.get(f"/_sandbox/{vendor}/requests")
    response.raise_for_status()
    records = response.json()["requests"]
    return {"total": len(records), "by_status": dict(sorted(Counter(str(r["status"]) for r in records).items())),
            "by_route": dict(Counter(_route(r["method"], r["path"]) for r in records).most_common())}, records


def limit_use(records: list[dict[str, Any]], per_window: int, window: float) -> dict[str, Any]:
    """2xx answers per minute over the whole windows from the first 2xx answer (the last, partial window, where
    the work ran out, is left out), and their share of the limit."""
    ok = sorted(r["at"] for r in records if 200 <= r["status"] < 300)
    if len(ok) < 2:
        return {"share": 0.0, "windows": 0}
    whole = int((ok[-1] - ok[0]) // window)
    span = whole * window if whole else ok[-1] - ok[0]
    used = sum(1 for t in ok if t < ok[0] + span) if whole else len(ok)
    per_minute = used / span * 60
    return {"windows": whole, "seconds": round(span, 1), "answered_2xx": used,
            "per_minute_2xx": round(per_minute, 1), "limit_per_minute": round(per_window * 60 / window, 1),
            "share": round(per_minute / (per_window * 60 / window), 3),
            "answered_429": sum(1 for r in records if r["status"] == 429)}


def inbox_rows(ids: set[str]) -> list[Any]:
    from sqlmodel import select

    from passerelle.store.engine import session_scope
    from passerelle.store.inbox import InboxEvent

    with session_scope() as s:
        rows = list(s.exec(select(InboxEvent).where(InboxEvent.source == "iadvize", InboxEvent.link == data.SITE)))
        return [r for r in rows if r.event_id in ids]


def cpu(sandbox: SandboxProcess) -> dict[str, float]:
    """CPU seconds (user + system) of this process (the drain) and of its children but the sandbox (Prefect's
    embedded server)."""
    import psutil

    me = psutil.Process()
    kids = 0.0
    skip = sandbox.proc.pid if sandbox.proc else None
    for kid in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            kids += 0.0 if kid.pid == skip else sum(kid.cpu_times()[:2])
    return {"drain": sum(me.cpu_times()[:2]), "prefect_server": kids}


async def drain_all(timeout: float, profile: Path | None) -> list[dict[str, Any]]:
    """Run the flow until the site's inbox has nothing pending (failed events wait for their backoff)."""
    from flows.conversation_archive import archive_conversations
    from passerelle.store import inbox

    runs: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        while True:
            runs.append(await archive_conversations(site=data.SITE, max_seconds=min(600, timeout)))
            counts = inbox.stats("iadvize", data.SITE)
            if counts.get(inbox.PENDING, 0) + counts.get(inbox.PROCESSING, 0) == 0:
                break
            if time.monotonic() > deadline:
                log(f"WARNING: inbox not empty after {timeout:g} s: {counts}")
                break
    finally:
        if profiler is not None:
            import pstats

            profiler.disable()
            profiler.dump_stats(profile)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    return runs


async def phase(sandbox: SandboxProcess, conversations: data.ConversationSet, args: argparse.Namespace, *,
                rate_limit: dict[str, Any] | None = None, faults: dict[str, Any] | None = None,
                profile: bool = False) -> dict[str, Any]:
    from passerelle.store.inbox import store_deliveries

    label = conversations.label
    http = sandbox.http
    http.put("/_sandbox/zendesk/state", json=data.zendesk_state([conversations])).raise_for_status()
    http.put("/_sandbox/zendesk/rate-limit", json=rate_limit or {"per_minute": None}).raise_for_status()
    http.put("/_sandbox/faults", json={"zendesk": faults or {}}).raise_for_status()
    for vendor in ("zendesk", "iadvize"):
        http.delete(f"/_sandbox/{vendor}/requests").raise_for_status()
    log(f"{label}: {len(conversations.ids)} conversations ({len(conversations.escalated)} escalated, "
        f"{conversations.with_user} with a Zendesk user), {len(conversations.deliveries)} events"
        + (f", rate limit {rate_limit}" if rate_limit else "") + (f", faults {faults}" if faults else ""))
    before, sandbox_before, started = cpu(sandbox), sandbox.cpu_seconds(), time.perf_counter()
    for i in range(0, len(conversations.deliveries), 500):
        store_deliveries(conversations.deliveries[i:i + 500])
    stored = time.perf_counter()
    runs = await drain_all(args.timeout, RESULTS / f"archive_{label}.prof" if profile else None)
    wall = time.perf_counter() - started
    after = cpu(sandbox)
    zendesk, records = calls(sandbox, "zendesk")
    iadvize, iadvize_records = calls(sandbox, "iadvize")
    http.put("/_sandbox/faults", json={"zendesk": {}}).raise_for_status()
    http.put("/_sandbox/zendesk/rate-limit", json={"per_minute": None}).raise_for_status()
    rows = inbox_rows({d.event_id for d in conversations.deliveries})
    done = [r for r in rows if r.done_at]
    span = (max(r.done_at for r in done) - min(r.received_at for r in rows)).total_seconds() if done else wall
    first_call = min((r["at"] for r in records + iadvize_records), default=None)
    received = min(r.received_at for r in rows).replace(tzinfo=UTC).timestamp() if rows else None
    tickets = http.get("/_sandbox/zendesk/state").json()["tickets"]
    check = data.check_tickets(tickets, conversations)
    summed = Counter()
    for run in runs:
        summed.update({k: v for k, v in run.items() if isinstance(v, int) and not isinstance(v, bool)})
    fig = {"conversations": len(conversations.ids), "events": len(rows), "done": len(done),
           "dead": sum(r.status == "dead" for r in rows), "attempts": sum(r.attempts for r in rows),
           "flow_runs": len(runs), "store_s": round(stored - started, 2), "span_s": round(span, 2),
           "first_call_s": round(first_call - received, 2) if first_call and received else None,
           "wall_s": round(wall, 2), "conversations_per_s": round(len(conversations.ids) / span, 1),
           "tickets": check, "tickets_total": len(tickets),
           "runs": {k: summed[k] for k in ("applied", "failed", "dead", "batches", "claimed") if k in summed},
           "counts": _counts(runs), "skipped": _skipped(runs),
           "calls": {"zendesk": zendesk, "iadvize": iadvize,
                     "zendesk_per_conversation": round(zendesk["total"] / len(conversations.ids), 2),
                     "zendesk_per_s": round(zendesk["total"] / span, 1)},
           "cpu_s": {"drain": round(after["drain"] - before["drain"], 1),
                     "prefect_server": round(after["prefect_server"] - before["prefect_server"], 1),
                     "sandbox": round(sandbox.cpu_seconds() - sandbox_before, 1)}}
    if rate_limit:
        fig["limit_use"] = limit_use(records, rate_limit["per_minute"], rate_limit.get("window_seconds", 60))
    log(f"{label}: " + json.dumps({k: v for k, v in fig.items() if k not in ("calls",)}, default=str))
    log(f"{label}: Zendesk calls {json.dumps(zendesk)}; iAdvize calls {iadvize['total']}")
    return fig


def _counts(runs: list[dict[str, Any]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for run in runs:
        for key in ("tickets_created", "tickets_found", "notes_added", "archives_escalated", "requesters_found"):
            total[key] += int((run.get("counts") or {}).get(key, 0) or run.get(key, 0) or 0)
    return dict(total)


def _skipped(runs: list[dict[str, Any]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for run in runs:
        total.update(run.get("skipped") or {})
    return dict(total)


async def run_phases(sandbox: SandboxProcess, sets: list[data.ConversationSet], args: argparse.Namespace
                     ) -> dict[str, Any]:
    import httpx

    from tasks.iadvize_zendesk.install import IadvizeZendeskInstall, install_block_name

    token = httpx.post(f"{sandbox.vendor_url('iadvize')}/oauth2/token", data={
        "grant_type": "password", "username": "demo@passerelle.dev", "password": "demo-password"}).json()
    block = IadvizeZendeskInstall(
        site=data.SITE, zendesk_domain="https://acme.zendesk.com", zendesk_email=data.ADMIN_EMAIL,
        zendesk_api_key=data.ZENDESK_TOKEN, iadvize_rest_api_key="unused-rest-key",
        iadvize_graphql_token=token["access_token"], zendesk_base_url=sandbox.vendor_url("zendesk"),
        iadvize_base_url=sandbox.vendor_url("iadvize"), site_country=data.COUNTRY, auto_archive=True,
        archive_form_id=data.ARCHIVE_FORM, escalation=True, escalation_form_id=data.ESCALATION_FORM,
        escalation_note_label="Synthèse de la demande client en une ligne")
    log("saving the install Block (Prefect's embedded server starts)")
    await block.save(install_block_name(data.SITE), overwrite=True)
    free, limited, faulty = sets
    per_window = max(1, round(args.per_minute * args.window / 60))
    out: dict[str, Any] = {"free": await phase(sandbox, free, args, profile=args.profile)}
    if limited.ids:
        out["limited"] = await phase(sandbox, limited, args,
                                     rate_limit={"per_minute": per_window, "window_seconds": args.window})
    if faulty.ids:
        out["faults"] = await phase(sandbox, faulty, args, faults={
            "rate_429": args.rate_429, "retry_after": 1, "timeout_rate": args.timeouts, "timeout_s": args.timeout_s,
            "lost_answer_rate": args.lost, "seed": args.seed})
    return out


def bench(args: argparse.Namespace) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    sets = [data.generate(label, n, rng) for label, n in (("free", args.conversations), ("limited", args.limited),
                                                          ("faults", args.faulty))]
    with tempfile.TemporaryDirectory(prefix="passerelle-bench-archive-") as tmp:
        work = Path(tmp)
        os.environ.update(PASSERELLE_HOME=str(work / "passerelle"), PREFECT_HOME=str(work / "prefect"),
                          PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="WARNING",
                          PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180")
        os.environ.pop("PASSERELLE_DATABASE_URL", None)
        with SandboxProcess(work / "sandbox.log") as sandbox:
            sandbox.http.put("/_sandbox/iadvize/state", json=data.iadvize_state(sets)).raise_for_status()
            phases = asyncio.run(run_phases(sandbox, sets, args))
    result = {"machine": machine(), "seed": args.seed, "delivery": "store_deliveries (inbox), all events at once",
              "rate_limit": {"per_minute": args.per_minute, "window_seconds": args.window},
              "faults": {"rate_429": args.rate_429, "timeout_rate": args.timeouts, "timeout_s": args.timeout_s,
                         "lost_answer_rate": args.lost},
              "phases": phases, "target": {"conversations_per_s": TARGET_PER_S, "limit_use": TARGET_LIMIT_USE,
                                           "tickets_per_conversation": 1}}
    args.output.write_text(json.dumps(result, indent=1, default=str))
    print(headline(phases, args))


def headline(phases: dict[str, Any], args: argparse.Namespace) -> str:
    free = phases["free"]
    parts = [f"{free['conversations_per_s']} conversations/s rate limit off"]
    targets = [f"≥{TARGET_PER_S:g}/s"]
    if "limited" in phases:
        use = phases["limited"]["limit_use"]
        parts.append(f"{use['share']:.0%} of {args.per_minute}/min used ({use['per_minute_2xx']}/min 2xx, "
                     f"{phases['limited']['conversations_per_s']} conversations/s)")
        targets.append(f"≥{TARGET_LIMIT_USE:.0%}")
    if "faults" in phases:
        f = phases["faults"]
        t = f["tickets"]
        parts.append(f"faults {f['conversations_per_s']} conversations/s, {t['exactly_one']}/{t['conversations']} "
                     f"with exactly one ticket ({t['missing']} missing, {t['duplicated']} duplicated)")
        targets.append("all exactly 1")
    every = [p["tickets"] for p in phases.values()]
    if any(t["exactly_one"] != t["conversations"] for t in every):
        parts.append("FAILED: a conversation has no ticket or several")
    return f"archive: {'; '.join(parts)} vs target {', '.join(targets)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=2000, help="phase 1 (rate limit off)")
    parser.add_argument("--limited", type=int, default=450, help="phase 2 (rate limit on); 0 skips it")
    parser.add_argument("--faulty", type=int, default=500, help="phase 3 (429s, timeouts, lost answers); 0 skips")
    parser.add_argument("--per-minute", type=int, default=700, help="Zendesk's limit (700: Suite Enterprise)")
    parser.add_argument("--window", type=float, default=60.0,
                        help="seconds of the limit's window; the budget per window is per-minute × window / 60")
    parser.add_argument("--rate-429", type=float, default=0.10, help="phase 3: share of calls answered 429")
    parser.add_argument("--timeouts", type=float, default=0.05, help="phase 3: share of calls that time out")
    parser.add_argument("--timeout-s", type=float, default=3.0, help="phase 3: how long a timed-out call hangs")
    parser.add_argument("--lost", type=float, default=0.02, help="phase 3: share of writes whose answer is lost")
    parser.add_argument("--timeout", type=float, default=900, help="give up a phase after this many seconds")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile the drain of phase 1 (stats printed)")
    parser.add_argument("--output", type=Path, default=RESULTS / "archive.json")
    bench(parser.parse_args())


if __name__ == "__main__":
    main()
