"""Only real changes are written to Cyberimpact (pure diff, no Prefect, no HTTP)."""

from __future__ import annotations

from tasks.amilia_cyberimpact.diff import REASON_UNSUBSCRIBED
from tasks.amilia_cyberimpact.mapping import CLIENTS_GROUP
from tests.support.cyberimpact_diff import FIELD_IDS, GROUPS, as_member, diff, planned


def test_new_contact_is_created_with_consent_and_groups():
    changes = diff([planned("lea@example.org")], [])
    assert [m["email"] for m in changes.creates] == ["lea@example.org"]
    assert changes.creates[0]["consentDate"] == "2026-10-01"
    assert changes.creates[0]["customFields"]["Amilia.PersonId"] == "501"
    assert changes.group_adds == {CLIENTS_GROUP: ["lea@example.org"], GROUPS["2"]: ["lea@example.org"]}


def test_second_run_changes_nothing():
    """A second run of the sync changes nothing: what Cyberimpact holds equals the plan."""
    row = planned("lea@example.org")
    changes = diff([row], [as_member(row)])
    assert (changes.creates, changes.updates, changes.group_adds, changes.unchanged) == ([], [], {}, 1)


def test_changed_field_sends_only_that_field():
    row = planned("lea@example.org")
    existing = as_member(row, lastname="Tremblay")
    existing["customFields"][FIELD_IDS["Amilia.Address.City"]] = "Laval"
    changes = diff([row], [existing])
    assert changes.updates == [{"lastname": "Roy", "customFields": {"Amilia.Address.City": "Montréal"},
                                "email": "lea@example.org"}]


def test_empty_amilia_value_keeps_cyberimpact_value():
    row = planned("lea@example.org", postalCode=None)
    changes = diff([row], [as_member(planned("lea@example.org"))])
    assert changes.updates == [] and changes.unchanged == 1


def test_unsubscribed_contact_stays_unsubscribed():
    """Contacts unsubscribed in Cyberimpact stay unsubscribed: never written, reported as skipped."""
    row = planned("gone@example.org")
    changes = diff([row], [as_member(row, status="unsubscribed", groups=())])
    assert changes.creates == changes.updates == [] and changes.group_adds == {}
    assert changes.skipped == [{"email": "gone@example.org", "person_id": 501, "reason": REASON_UNSUBSCRIBED}]
    assert diff([row], [], unsubscribed={"gone@example.org"}).creates == []


def test_consent_refreshed_by_a_newer_registration_only():
    """"Le consentement est mis à jour chaque fois qu'une personne s'inscrit à une nouvelle activité"."""
    old = as_member(planned("lea@example.org", consent_date="2025-01-01", consent_proof="SUB-1"))
    changes = diff([planned("lea@example.org")], [old])
    assert changes.updates == [{"consentDate": "2026-10-01", "consentProof": "SUB-9", "email": "lea@example.org"}]
    newer = as_member(planned("lea@example.org", consent_date="2026-11-01", consent_proof="SUB-12"))
    assert diff([planned("lea@example.org")], [newer]).updates == []


def test_express_consent_is_never_downgraded():
    existing = as_member(planned("lea@example.org", consent_date="2020-01-01"), consentType="express",
                         relationType="express-consent")
    assert diff([planned("lea@example.org")], [existing]).updates == []


def test_missing_group_membership_is_added_back():
    row = planned("lea@example.org")
    changes = diff([row], [as_member(row, groups=("1",))])
    assert changes.group_adds == {GROUPS["2"]: ["lea@example.org"]} and changes.updates == []
