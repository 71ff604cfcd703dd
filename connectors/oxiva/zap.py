"""Oxiva's three triggers (kind catch_hook), hydrated from the API exactly as the seed's Zapier actions do
(../shared/seeds/oxiva-zapier.txt, "Fonctionnement de l'intégration"):

- ``oxiva.new_client`` ("Nouveau client"): the call gives the société's ``id``; ``GET societe/?id=<id>`` → the client.
- ``oxiva.new_activity`` ("Nouvelle activité commerciale"): ``id`` and ``ccom_id``; ``GET societe/?id=<id>&activites=Y``
  and only the activity whose ``ccom_id`` is the given one is kept (the seed's
  ``results.activites.filter(activity => activity.ccom_id === bundle.inputData.ccom_id)``).
- ``oxiva.new_ticket`` ("Nouveau ticket"): ``id`` and ``sticket_id``; ``GET societe/?id=<id>&tickets=Y``, keeping the
  ticket whose ``sticket_id`` is the given one.

Oxiva calls one catch hook per event (its Zapier panel asks one webhook URL per kind of record): create each with
``passerelle hooks add catch --link oxiva-new-ticket`` and point the zap's trigger at it (``options: {hook: …}``).
The steps see the hydrated record as ``trigger``; an activity or ticket also carries its ``societe`` (the client
without its lists). A call without the id, or naming a record Oxiva does not have, fails the run with an error
naming the query parameter.

Example (a zap's trigger):
    trigger: {app: oxiva, event: new_ticket, connection: my-dossier, options: {hook: oxiva-new-ticket}}
"""

from __future__ import annotations

from typing import Any

from connectors._http import NotFoundError
from connectors.oxiva.models import HookCallError, hook_param
from passerelle.zaps.registry import trigger

CLIENT_CALL = "…/hooks/catch/<hook>/<token>/?id=11"
ACTIVITY_CALL = "…/hooks/catch/<hook>/<token>/?id=11&ccom_id=2"
TICKET_CALL = "…/hooks/catch/<hook>/<token>/?id=11&sticket_id=810"
LISTS = ("activites", "tickets")

SOCIETE = {"id": "11", "raison_sociale": "Boulangerie Martin", "code_client": "C000011", "adresse": "12 rue des Lilas",
           "code_postal": "69003", "ville": "Lyon", "pays": "France", "telephone": "04 72 00 00 11",
           "email": "contact@boulangerie-martin.fr", "date_creation": "2023-05-17 11:40:02.000"}
ACTIVITY = {"ccom_id": "2", "ccom_type": "task", "ccom_action": "todo", "ccom_statut": "inprogress",
            "ccom_note": "<p>Test appli</p>", "ccom_sujet": "Test", "ccom_date_creation": "2023-05-17 11:45:26.000"}
TICKET = {"sticket_id": "810", "sticket_sujet": "Imprimante en panne", "sticket_statut": "ouvert",
          "sticket_priorite": "normale", "sticket_description": "L'imprimante du comptoir n'imprime plus.",
          "sticket_date_creation": "2023-05-17 11:52:10.000"}


def _needs(connection: Any) -> Any:
    if connection is None or not callable(getattr(connection, "client", None)):
        raise HookCallError("trigger.connection", "trigger.connection: an Oxiva trigger reads the record from Oxiva's "
                            "API; name the Oxiva connection (its dossier and token) the zap uses, e.g. "
                            "`passerelle connect oxiva --name my-dossier`")
    return connection


async def _societe(connection: Any, societe_id: str, **lists: bool) -> dict[str, Any]:
    async with _needs(connection).client() as oxiva:
        try:
            return await oxiva.societe(societe_id, **lists)
        except NotFoundError as exc:
            raise HookCallError("id", f"query parameter 'id': Oxiva has no société {societe_id} in dossier "
                                f"{oxiva.dossier!r} ({exc})") from None


def _kept(societe: dict[str, Any], list_name: str, key: str, wanted: str, what: str) -> dict[str, Any]:
    """The item of ``societe[list_name]`` whose ``key`` is ``wanted`` (compared as text, as the hook's parameters
    are), with the client as ``societe``; HookCallError naming ``key`` when there is none."""
    items = societe.get(list_name)
    items = items if isinstance(items, list) else []
    for item in items:
        if isinstance(item, dict) and str(item.get(key, "")).strip() == wanted:
            return {**item, "societe": {k: v for k, v in societe.items() if k not in LISTS}}
    known = [str(i.get(key)) for i in items if isinstance(i, dict) and i.get(key) is not None]
    shown = ", ".join(known[:10]) + (" …" if len(known) > 10 else "") if known else "none"
    raise HookCallError(key, f"query parameter '{key}': société {societe.get('id', '?')} has no {what} with "
                        f"{key} {wanted} (Oxiva answered {len(known)}: {shown})")


async def hydrate_client(payload: dict[str, Any], connection: Any, options: dict[str, Any]) -> dict[str, Any]:
    """"Nouveau client": the société the call's ``id`` names (``GET societe/?id=<id>``)."""
    societe_id = hook_param(payload, "id", example=CLIENT_CALL)
    return await _societe(connection, societe_id)


async def hydrate_activity(payload: dict[str, Any], connection: Any, options: dict[str, Any]) -> dict[str, Any]:
    """"Nouvelle activité commerciale": the activity ``ccom_id`` of société ``id`` (``…&activites=Y``, filtered).
    The seed's own user guide writes the parameter ``cocom_id``: read too."""
    societe_id = hook_param(payload, "id", example=ACTIVITY_CALL)
    wanted = hook_param(payload, "ccom_id", aliases=("cocom_id",), example=ACTIVITY_CALL)
    societe = await _societe(connection, societe_id, activites=True)
    return _kept(societe, "activites", "ccom_id", wanted, "commercial activity")


async def hydrate_ticket(payload: dict[str, Any], connection: Any, options: dict[str, Any]) -> dict[str, Any]:
    """"Nouveau ticket": the ticket ``sticket_id`` of société ``id`` (``…&tickets=Y``, filtered)."""
    societe_id = hook_param(payload, "id", example=TICKET_CALL)
    wanted = hook_param(payload, "sticket_id", example=TICKET_CALL)
    societe = await _societe(connection, societe_id, tickets=True)
    return _kept(societe, "tickets", "sticket_id", wanted, "ticket")


_SHORT = dict(SOCIETE)

trigger("oxiva", "new_client", title="New client (Nouveau client)", kind="catch_hook", connection="oxiva",
        hydrate=hydrate_client, sample=dict(SOCIETE), dedupe_key="id",
        description="Oxiva calls the zap's catch hook with ?id=<société> when a client is created; the trigger reads "
        "the client with GET societe/?id=<id> (Oxiva's API v2.0, the connection's dossier and token).")
trigger("oxiva", "new_activity", title="New commercial activity (Nouvelle activité commerciale)", kind="catch_hook",
        connection="oxiva", hydrate=hydrate_activity, sample={**ACTIVITY, "societe": _SHORT}, dedupe_key="ccom_id",
        description="Oxiva calls the zap's catch hook with ?id=<société>&ccom_id=<activité>; the trigger reads GET "
        "societe/?id=<id>&activites=Y and keeps the activity whose ccom_id is the given one.")
trigger("oxiva", "new_ticket", title="New ticket (Nouveau ticket)", kind="catch_hook", connection="oxiva",
        hydrate=hydrate_ticket, sample={**TICKET, "societe": _SHORT}, dedupe_key="sticket_id",
        description="Oxiva calls the zap's catch hook with ?id=<société>&sticket_id=<ticket>; the trigger reads GET "
        "societe/?id=<id>&tickets=Y and keeps the ticket whose sticket_id is the given one.")
