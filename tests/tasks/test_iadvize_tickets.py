"""The pure rules of a conversation's ticket (tasks/iadvize_zendesk/tickets.py): which iAdvize fields a form
gets, the escalation's own values, the notes and the external id."""

from __future__ import annotations

from tasks.iadvize_zendesk.tickets import FormFields, escalation_note, external_id, merge_fields

FIELDS = [{"id": 1, "title": "Subject"}, {"id": 7, "title": "iAdvize Agent"}, {"id": 8, "title": "iAdvize Country"},
          {"id": 9, "title": "iAdvize Campaign"}, {"id": 10, "title": "iadvize agent"}]
FORMS = [{"id": 100, "default": True, "ticket_field_ids": [1]}, {"id": 200, "ticket_field_ids": [1, 7, 9, 10]}]


def test_only_the_fields_the_form_shows_with_a_value_are_sent():
    forms = FormFields.read(FORMS, FIELDS)
    assert forms.values(200, "Ana Roy", "France", "Spring sale") == [{"id": 7, "value": "Ana Roy"},
                                                                    {"id": 9, "value": "Spring sale"}]
    assert forms.values(200, "Ana Roy", "France", None) == [{"id": 7, "value": "Ana Roy"}]  # no campaign known
    assert forms.values(None, "Ana Roy", "France", "Spring sale") == []  # the default form shows none


def test_titles_must_match_exactly():
    forms = FormFields.read(FORMS, [{"id": 10, "title": "iadvize agent"}])
    assert forms.values(200, "Ana Roy", None, None) == []


def test_an_account_without_forms_fills_every_iadvize_field():
    assert FormFields.read(None, FIELDS).values(None, "Ana Roy", "France", None) == [
        {"id": 7, "value": "Ana Roy"}, {"id": 8, "value": "France"}]


def test_the_agents_own_values_win():
    assert merge_fields([{"id": 7, "value": "Ana Roy"}], [{"id": 7, "value": "A. Roy"}, {"id": 11, "value": 2}]) \
        == [{"id": 7, "value": "A. Roy"}, {"id": 11, "value": 2}]


def test_the_escalation_note_holds_the_label_the_note_the_url_and_the_id():
    note = escalation_note("Synthèse en une ligne", "Refund", "https://x/conv/1", "c-1", "Ana Roy")
    assert note.splitlines()[:2] == ["Synthèse en une ligne:", "Refund"]
    assert "Conversation in iAdvize: https://x/conv/1" in note and "Conversation id: c-1" in note
    assert escalation_note("", "", "u", "c", None).startswith("Agent's note:\n(empty)")
    assert external_id("c-1") == "iadvize-conversation-c-1"
