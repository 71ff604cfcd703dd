"""The per-app suspend switch (passerelle/zaps/suspend.py; the Oxiva seed's "Suspendre l'utilisation de Zapier"):
kept in the store's effect ledger (`suspend:<app>`), shared by every process; resuming puts the events held for the
app's zaps back in the inbox, nothing lost; `passerelle apps suspend|resume APP`."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from passerelle.cli.main import app
from passerelle.settings import reset_settings_cache
from passerelle.store.effects import effect_details
from passerelle.store.inbox import Delivery, claim_batch, list_events, mark_done, store_deliveries
from passerelle.zaps import runs
from passerelle.zaps.suspend import holds, is_suspended, release_held, set_suspended, suspended_apps

cli = CliRunner()
TICKETS = {"id": "oxiva-tickets", "name": "Oxiva tickets", "enabled": True,
           "trigger": {"app": "oxiva", "event": "new_ticket", "connection": "my-dossier",
                       "options": {"hook": "oxiva-new-ticket"}},
           "steps": [{"id": "up", "type": "format", "kind": "text", "transform": "upper",
                      "input": "{{ trigger.sticket_sujet }}"}]}
PING = {"id": "ping", "name": "Ping", "enabled": True, "trigger": {"app": "catch", "event": "hook"},
        "steps": [{"id": "up", "type": "format", "kind": "text", "transform": "upper", "input": "{{ trigger.x }}"}]}


@pytest.fixture(autouse=True)
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PASSERELLE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PASSERELLE_DATABASE_URL", raising=False)
    monkeypatch.delenv("PASSERELLE_ZAPS_FOLDER", raising=False)
    monkeypatch.chdir(tmp_path)
    reset_settings_cache()
    (tmp_path / "zaps").mkdir()
    for zap in (TICKETS, PING):
        (tmp_path / "zaps" / f"{zap['id']}.yaml").write_text(yaml.safe_dump(zap, allow_unicode=True))
    yield tmp_path / "zaps"
    reset_settings_cache()


def held_events(zap_id: str, link: str, n: int, source: str = "catch") -> list[int]:
    """`n` inbox events of `link`, each with a `held` run of `zap_id` and settled in the inbox (done), as the runner
    leaves an event whose zap is held."""
    deliveries = [Delivery(source, link, f"{zap_id}-{i}", "catch_hook", f"call:{zap_id}-{i}", {"query": {"i": str(i)}})
                  for i in range(n)]
    store_deliveries(deliveries)
    ids = sorted(e.id for e in list_events(source=source, link=link, limit=1000) if e.event_id.startswith(zap_id))
    runs.open_runs([{"zap_id": zap_id, "inbox_id": i, "source": source, "link": link, "status": "held"} for i in ids],
                   [])
    mark_done(ids)
    return ids


def statuses(link: str) -> list[str]:
    return [e.status for e in sorted(list_events(source="catch", link=link, limit=1000), key=lambda e: e.id)]


def test_the_switch_is_a_ledger_row_per_app_set_and_cleared() -> None:
    assert suspended_apps() == set() and not is_suspended("oxiva")
    first = set_suspended("oxiva", True)
    assert (first.suspended, first.changed) == (True, True)
    assert set_suspended("oxiva", True).changed is False  # already suspended: kept as it was
    set_suspended("okast", True)
    assert suspended_apps() == {"oxiva", "okast"} and is_suspended("oxiva")
    assert set(effect_details("suspend:")) == {"suspend:oxiva", "suspend:okast"}
    assert holds("oxiva", suspended_apps()) and not holds("catch", suspended_apps())
    resumed = set_suspended("oxiva", False, zap_ids=[])
    assert (resumed.suspended, resumed.changed, resumed.released) == (False, True, 0)
    assert suspended_apps() == {"okast"}
    assert set_suspended("oxiva", False, zap_ids=[]).changed is False


@pytest.mark.parametrize("name", ["Oxiva", "", "ox iva", "suspend:x", "../x"])
def test_a_bad_app_name_is_refused_naming_it(name: str) -> None:
    with pytest.raises(ValueError, match="app: .* is not an app name"):
        set_suspended(name, True)
    assert suspended_apps() == set()


def test_resuming_puts_the_held_events_of_the_apps_zaps_back_in_the_inbox_and_no_other() -> None:
    set_suspended("oxiva", True)
    mine = held_events("oxiva-tickets", "oxiva-new-ticket", 3)
    held_events("ping", "ping", 2)  # another app's zap, held (disabled): not this switch's
    assert statuses("oxiva-new-ticket") == ["done"] * 3

    resumed = set_suspended("oxiva", False)  # the zaps of the folder whose trigger is oxiva's
    assert (resumed.changed, resumed.released) == (True, 3)
    assert statuses("oxiva-new-ticket") == ["pending"] * 3 and statuses("ping") == ["done"] * 2
    again = [e for e in list_events(source="catch", link="oxiva-new-ticket") if e.id in mine]
    assert all(e.attempts == 0 and e.claimed_by is None and e.done_at is None for e in again)


def test_release_leaves_an_event_that_is_pending_or_being_drained_as_it_is() -> None:
    held_events("oxiva-tickets", "oxiva-new-ticket", 2)
    assert release_held(["oxiva-tickets"]) == 2
    assert release_held(["oxiva-tickets"]) == 0  # already pending: not counted twice
    claimed = claim_batch("catch", "oxiva-new-ticket", "w1")
    assert len(claimed) == 2 and statuses("oxiva-new-ticket") == ["processing"] * 2
    assert release_held(["oxiva-tickets"]) == 0 and statuses("oxiva-new-ticket") == ["processing"] * 2
    assert release_held([]) == 0


def test_the_cli_suspends_lists_and_resumes_an_app() -> None:
    result = cli.invoke(app, ["apps", "suspend", "oxiva"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "oxiva suspended: its zaps' events are received and held" in result.output
    assert "already suspended" in cli.invoke(app, ["apps", "suspend", "oxiva"]).output
    listing = cli.invoke(app, ["apps", "list"], env={"COLUMNS": "250"}).output
    [line] = [ln for ln in listing.splitlines() if ln.startswith("oxiva ")]
    assert line.endswith("SUSPENDED") and "oxiva.new_ticket" in line
    assert "SUSPENDED" not in "".join(ln for ln in listing.splitlines() if not ln.startswith("oxiva "))
    assert "suspended: its zaps' events are held" in cli.invoke(app, ["apps", "show", "oxiva"]).output

    held_events("oxiva-tickets", "oxiva-new-ticket", 2)
    result = cli.invoke(app, ["apps", "resume", "oxiva"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "oxiva resumed: 2 held events back in the inbox; the next drain runs them" in result.output
    assert suspended_apps() == set() and statuses("oxiva-new-ticket") == ["pending", "pending"]
    assert "oxiva was not suspended: 0 held events back" in cli.invoke(app, ["apps", "resume", "oxiva"]).output


def test_the_cli_refuses_an_unknown_app_listing_the_known_ones() -> None:
    result = cli.invoke(app, ["apps", "suspend", "oxyva"], env={"COLUMNS": "250"})
    assert result.exit_code == 2 and "unknown app 'oxyva'" in result.output and "oxiva" in result.output
    assert suspended_apps() == set()
