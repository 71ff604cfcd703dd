"""iAdvize → Zendesk (seed: the iAdvize Zendesk app): the install per site (`install.py`), the archival and
escalation of conversations as a handler of the generic drain (`handler.py`, rules in `tickets.py`), the
backfill and safety net (`backfill.py`). docs/iadvize-zendesk.md."""
