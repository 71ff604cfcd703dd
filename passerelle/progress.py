"""A flow run as Prefect shows it and accepts it: its name, artifact keys, progress, and strict parameters.

- **Run names** say what a run is about: ``amilia-initial-sync/<link>/<YYYY-MM-DD>[/dry-run]`` (see
  :func:`run_name`), built from the run's own parameters by a ``flow_run_name`` callable.
- **Artifact keys** (lowercase letters, digits and dashes, Prefect's rule) keep dry runs apart from real
  runs: ``amilia-sync-<link>`` and ``amilia-sync-<link>-dry-run`` (see :func:`artifact_key`).
- **Progress**: :class:`RunProgress` keeps one Prefect progress artifact per run (the percent, the stage in
  its description) and the store's sync-run row (``stage``, ``progress_done``) in step, so the UI and
  ``passerelle`` show the same thing. Reporting never fails a run: a Prefect API hiccup is logged.

Strict parameter names (refused at run creation) are `passerelle deploy`'s: passerelle/cli/deploy.py.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact

from passerelle.store import update_progress

logger = logging.getLogger("passerelle.progress")


def artifact_key(*parts: str, dry_run: bool = False) -> str:
    """A Prefect artifact key from its parts; a dry run's key ends with ``-dry-run``.

    Example:
        >>> artifact_key("amilia-sync", "My_Club", dry_run=True)
        'amilia-sync-my-club-dry-run'
    """
    text = "-".join((*parts, "dry-run") if dry_run else parts).lower()
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]+", "-", text)).strip("-") or "run"


def run_name(flow: str, link: str, day: date | str | None = None, *, dry_run: bool = False) -> str:
    """``<flow>/<link>[/<YYYY-MM-DD>][/dry-run]``.

    Example:
        >>> run_name("amilia-reconcile", "default", date(2026, 11, 23), dry_run=True)
        'amilia-reconcile/default/2026-11-23/dry-run'
    """
    parts = [flow, link]
    if day is not None:
        parts.append(day.isoformat() if isinstance(day, date) else str(day)[:10])
    if dry_run:
        parts.append("dry-run")
    return "/".join(parts)


def window_run_name(flow: str) -> str:
    """The name of the current run of a flow whose parameters are ``link``, ``dry_run`` and ``as_of``
    (the window's last day, default today); called by Prefect as the flow's ``flow_run_name``."""
    from prefect.runtime import flow_run

    params: dict[str, Any] = flow_run.parameters or {}
    day = params.get("as_of") or datetime.now(UTC).date()
    return run_name(flow, str(params.get("link", "default")), day, dry_run=bool(params.get("dry_run")))


class RunProgress:
    """One run's progress: a Prefect progress artifact (percent; the stage in its description), and the store's
    sync-run row when the run has one.

    Example:
        progress = RunProgress("amilia-sync-default-progress", "Initial sync of link 'default'", run_id=7)
        await progress.update("reading Amilia and Cyberimpact", 0, 4)
        ...
        await progress.update("done", 4, 4)
    """

    def __init__(self, key: str, title: str, *, run_id: int | None = None) -> None:
        self.key, self.title, self.run_id = key, title, run_id
        self.artifact_id: UUID | None = None
        self.percent = 0.0
        self.stage = "starting"

    def describe(self, stage: str, percent: float, detail: str = "") -> str:
        return f"**{self.title}** — {stage}: {percent:.0f} %" + (f" ({detail})" if detail else "")

    async def update(self, stage: str, done: float, total: float, detail: str = "") -> None:
        """Move to `stage`, `done` of `total` (stages, events…) complete."""
        self.stage = stage
        self.percent = 100.0 if total <= 0 else max(0.0, min(100.0, 100.0 * done / total))
        if self.run_id is not None:
            update_progress(self.run_id, stage, int(done), int(total))
        await self.show(self.describe(stage, self.percent, detail))

    async def show(self, description: str) -> None:
        """Write the current percent with this description to the progress artifact (created on first use)."""
        try:
            if self.artifact_id is None:
                self.artifact_id = await acreate_progress_artifact(self.percent, key=self.key,
                                                                   description=description)
            else:
                await aupdate_progress_artifact(self.artifact_id, self.percent, description=description)
        except Exception as exc:  # noqa: BLE001 - progress is a courtesy; the run goes on without it
            logger.warning("could not update the progress artifact %s: %s: %s", self.key,
                           type(exc).__name__, exc)


def busy(message: str, **data: Any) -> Any:
    """The Completed state of a run that found another run of its link working: the reason, logged and as its
    message; `data` (with ``busy: true`` and the message as its note) as its result."""
    from prefect import get_run_logger
    from prefect.states import Completed

    get_run_logger().info(message)
    return Completed(message=message, data={**data, "busy": True, "notes": [message]})
