"""The catch hook: any GET or POST to `/hooks/catch/{link}`, stored as it came (query, form or JSON).

Zapier's "Catch Hook", for senders with no webhook dialect of their own. Oxiva calls the URL it was given
with its own query string appended, e.g. `…/?id=11&sticket_id=810&url=<that URL>` for a new ticket
(seeds/oxiva-zapier.txt), so a catch link's token goes in the path: `hooks add catch` prints
`{base}/hooks/catch/{link}/{token}/` (the `token` query parameter and the `X-Passerelle-Token` header
work too).

- Payload: `calls.call_envelope`, e.g. `{"method": "GET", "query": {"id": "11", "sticket_id": "810",
  "url": "https://…/hooks/catch/oxiva/***/"}}` (the token masked wherever the sender echoes it).
- Event id: the SHA-256 of the payload's canonical JSON: the same call sent twice is stored once.
- Event type: `catch_hook`. Entity key: `call:{event id}`, one per call: calls of a catch link are not
  applied in order, and one that fails holds no other back.
"""

from __future__ import annotations

from typing import Any, ClassVar

from passerelle.gateway.sources.base import Source
from passerelle.gateway.sources.calls import FORM, Call, call_envelope
from passerelle.store.inbox import Delivery

EVENT_TYPE = "catch_hook"


class CatchSource(Source):
    name: ClassVar[str] = "catch"
    summary: ClassVar[str] = "Catch any call (query string, form or JSON)"
    description: ClassVar[str] = (
        "Catch hook: a GET or POST with a query string, a form body (application/x-www-form-urlencoded) or "
        "a JSON body, stored as `{method, query, form | json}`. The link token goes in the path "
        "(`/hooks/catch/{link}/{token}/`, so that the sender may append its own `?…`), the `token` query "
        "parameter or the `X-Passerelle-Token` header. Answers 200 `{accepted, duplicates}` once stored; "
        "the same call sent twice is stored once.")
    example: ClassVar[Any] = {"id": 11, "sticket_id": 810}
    media_types: ClassVar[tuple[str, ...]] = (FORM, "application/json")
    methods: ClassVar[tuple[str, ...]] = ("GET", "POST")
    token_in_path: ClassVar[bool] = True

    def deliveries(self, call: Call) -> list[Delivery]:
        envelope = call_envelope(call)
        event_id = self.event_id(envelope)
        return [Delivery(self.name, call.link, event_id, EVENT_TYPE, f"call:{event_id}", envelope)]
