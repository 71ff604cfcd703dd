"""Figures of bench/amilia_events.py: lag and throughput of a phase's inbox rows, and who used the CPU (the drain,
Prefect's server, the sandbox, the generator) against the machine's cores."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from _common import process_cpu_seconds, tree_cpu_seconds


def gc_clock() -> Callable[[], float]:
    """Seconds the drain process spends in Python's garbage collector from now on (a returned function)."""
    import gc

    spent, started = [0.0], [0.0]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.process_time()
        else:
            spent[0] += time.process_time() - started[0]

    gc.callbacks.append(callback)
    return lambda: spent[0]


def cpu_of(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of a process and of its children (Prefect's embedded server)."""
    own = process_cpu_seconds(pid)
    return {"drain": own, "prefect_server": tree_cpu_seconds(pid) - own}


def machine_busy() -> float:
    """CPU seconds every process of the machine has used (the bench's and anyone else's), all cores together."""
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def cpu_share(cpu: dict[str, float], events: int) -> dict[str, float]:
    """Each process's share of the machine (its CPU seconds over the cores' capacity during the phase), and
    what Passerelle itself (the drain and its Prefect server) and the emulators cost per event."""
    capacity = (os.cpu_count() or 1) * cpu["wall"]
    sandbox = cpu["sandbox"] + cpu["sandbox_state_loads"]
    passerelle = cpu["drain"] + cpu["prefect_server"]
    ours = sandbox + passerelle + cpu["generator"]
    return {"sandbox_of_machine": round(sandbox / capacity, 3),
            "sandbox_api_of_machine": round(cpu["sandbox"] / capacity, 3),
            "passerelle_of_machine": round(passerelle / capacity, 3),
            "generator_of_machine": round(cpu["generator"] / capacity, 3),
            "others_of_machine": round(max(0.0, cpu["machine"] - ours) / capacity, 3),
            "idle_of_machine": round(max(0.0, 1 - cpu["machine"] / capacity), 3),
            "passerelle_ms_per_event": round(1000 * passerelle / events, 3),
            "drain_ms_per_event": round(1000 * cpu["drain"] / events, 3),
            "sandbox_api_ms_per_event": round(1000 * cpu["sandbox"] / events, 3)}


def figures(rows: list[Any]) -> dict[str, Any]:
    lags = sorted((r.done_at - r.received_at).total_seconds() for r in rows if r.done_at)
    span = (max(r.done_at for r in rows) - min(r.received_at for r in rows)).total_seconds()
    done = sorted(r.done_at for r in rows if r.done_at)
    output = (done[-1] - done[0]).total_seconds() if len(done) > 1 else 0.0
    pick = lambda q: round(lags[min(len(lags) - 1, int(q * len(lags)))], 3)  # noqa: E731
    return {"events": len(rows), "done": len(lags), "dead": sum(r.status == "dead" for r in rows),
            "span_s": round(span, 3), "events_per_s": round(len(rows) / span, 1),
            "sustained_events_per_s": round(len(done) / output, 1) if output else None, "lag_p50_s": pick(0.50),
            "lag_p90_s": pick(0.90), "lag_p99_s": pick(0.99), "lag_max_s": round(lags[-1], 3)}


def cpu_line(name: str, fig: dict[str, Any]) -> str:
    """One phase's CPU, printed: the sandbox's share of the machine, and Passerelle's own cost per event."""
    share, cpu = fig["cpu_share"], fig["cpu_s"]
    return (f"CPU, {name} ({cpu['wall']:g} s on {os.cpu_count()} cores): sandbox {share['sandbox_of_machine']:.0%} "
            f"of the machine ({share['sandbox_api_of_machine']:.0%} answering the drain, the rest loading the "
            f"bench's Amilia states), Passerelle {share['passerelle_of_machine']:.0%} (drain {cpu['drain']:g} s, "
            f"Prefect server {cpu['prefect_server']:g} s), generator {share['generator_of_machine']:.0%}, "
            f"other processes {share['others_of_machine']:.0%}, idle {share['idle_of_machine']:.0%}; "
            f"Passerelle {share['passerelle_ms_per_event']:g} ms of CPU per event (drain "
            f"{share['drain_ms_per_event']:g}), emulators {share['sandbox_api_ms_per_event']:g} ms")
