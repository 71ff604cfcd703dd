"""The polling trigger's dedupe: new items by id across polls, across a restart (another process), seeding,
test runs, composite keys, the at-least-once order, and the answers it cannot dedupe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from passerelle.zaps.polling import (
    PollError,
    extract_items,
    forget,
    item_key,
    mark_seen,
    new_items,
    seen_count,
    unseen,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def page(*ids, **extra) -> list[dict]:
    return [{"id": i, "name": f"contact {i}", **extra} for i in ids]


def test_only_items_never_seen_pass_poll_after_poll(store):
    assert [i["id"] for i in new_items("zap-a", page(3, 2, 1), url=store)] == [3, 2, 1]
    assert new_items("zap-a", page(3, 2, 1), url=store) == []
    assert [i["id"] for i in new_items("zap-a", page(5, 4, 3, 2), url=store)] == [5, 4]
    assert [i["id"] for i in new_items("zap-b", page(5), url=store)] == [5]  # kept per zap
    assert seen_count("zap-a", url=store) == 5


def test_a_repeat_within_one_page_passes_once_and_ids_compare_as_text(store):
    assert [i["name"] for i in new_items("zap-a", [{"id": 7, "name": "a"}, {"id": 7, "name": "b"}], url=store)] \
        == ["a"]
    assert new_items("zap-a", [{"id": "7", "name": "c"}], url=store) == []


def test_what_was_seen_survives_a_restart(store):
    new_items("zap-a", page(1, 2), url=store)
    script = ("import json, sys; from passerelle.zaps.polling import new_items; "
              "print(json.dumps([i['id'] for i in new_items('zap-a', "
              "[{'id': n} for n in (4, 3, 2, 1)], url=sys.argv[1])]))")
    env = {**os.environ, "PREFECT_HOME": str(Path(store.removeprefix("sqlite:///")).parent / "prefect")}
    done = subprocess.run([sys.executable, "-c", script, store], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[4, 3]"
    assert new_items("zap-a", page(4, 3, 2, 1), url=store) == []


def test_seeding_marks_what_is_there_without_firing(store):
    assert new_items("zap-a", page(2, 1), seed=True, url=store) == []
    assert [i["id"] for i in new_items("zap-a", page(3, 2, 1), url=store)] == [3]


def test_a_test_run_writes_no_trigger_state(store):
    assert [i["id"] for i in new_items("zap-a", page(2, 1), test=True, url=store)] == [2, 1]
    assert seen_count("zap-a", url=store) == 0
    assert [i["id"] for i in new_items("zap-a", page(2, 1), url=store)] == [2, 1]


def test_a_composite_key_fires_again_when_the_item_changes(store):
    key = ("id", "updated_at")
    first = [{"id": 1, "updated_at": "2026-11-27T09:00:00Z"}]
    assert new_items("zap-a", first, dedupe_key=key, url=store) == first
    assert new_items("zap-a", first, dedupe_key=key, url=store) == []
    changed = [{"id": 1, "updated_at": "2026-11-27T10:00:00Z"}]
    assert new_items("zap-a", changed, dedupe_key=key, url=store) == changed
    assert item_key(changed[0], key) == '["1", "2026-11-27T10:00:00Z"]'


def test_unseen_reads_and_mark_seen_records_for_the_at_least_once_order(store):
    fresh = unseen("zap-a", page(2, 1), url=store)
    assert [i["id"] for i in fresh] == [2, 1]
    assert [i["id"] for i in unseen("zap-a", page(2, 1), url=store)] == [2, 1]  # nothing recorded yet
    assert mark_seen("zap-a", fresh, url=store) == 2
    assert mark_seen("zap-a", fresh, url=store) == 0
    assert unseen("zap-a", page(3, 2, 1), url=store) == page(3)


def test_forget_lets_a_zap_start_over(store):
    new_items("zap-a", page(1, 2), url=store)
    new_items("zap-b", page(1), url=store)
    assert forget("zap-a", url=store) == 2
    assert [i["id"] for i in new_items("zap-a", page(1), url=store)] == [1]
    assert new_items("zap-b", page(1), url=store) == []


def test_an_item_without_its_dedupe_key_is_refused_by_index_and_field(store):
    with pytest.raises(PollError, match=r"item 1: has no 'id'; set dedupe_key to a field every item has \(this "
                                        r"one has email, name\)"):
        new_items("zap-a", [{"id": 1}, {"name": "x", "email": "a@example.org"}], url=store)
    with pytest.raises(PollError, match="item 0: is str, not an object"):
        new_items("zap-a", ["1"], url=store)
    assert seen_count("zap-a", url=store) == 0  # a refused page records nothing


def test_extract_items_finds_the_list_or_names_the_path_to_fix():
    assert extract_items([{"id": 1}]) == [{"id": 1}]
    assert extract_items({"data": {"items": [{"id": 2}]}}, "data.items") == [{"id": 2}]
    with pytest.raises(PollError, match="items_path: the answer has no 'results' \\(it has data, meta\\)"):
        extract_items({"data": [], "meta": {}}, "results")
    with pytest.raises(PollError, match="not a list; set items_path"):
        extract_items({"data": []})
