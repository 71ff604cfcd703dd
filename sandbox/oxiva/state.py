"""Oxiva emulator state: dossiers (each with its API tokens, its API switch, its Zapier panel) and their sociétés,
commercial activities and tickets (docs/connector-oxiva.md, "The emulator").

State document (`PUT /_sandbox/oxiva/state`; `{}` gives the default below):

    {"version": "2.0",
     "dossiers": [{"dossier": "demo", "tokens": ["sandbox-oxiva-token"], "api_active": true,
                   "zapier": {"active": true, "suspended": false,
                              "urls": {"client": null, "ticket": null, "activity": null}},
                   "societes": [{"id": "11", "raison_sociale": "…", …,
                                 "activites": [{"ccom_id": "2", "ccom_type": "task", …}],
                                 "tickets": [{"sticket_id": "810", "sticket_sujet": "…", …}]}]}],
     "calls": []}

Ids are digits, written as text (the seed's Zapier filters compare them with `===` to the hook's text parameters);
`ccom_id` and `sticket_id` are unique within a dossier. `calls` is what the emulator sent to Zapier-panel URLs.
"""

from __future__ import annotations

import copy
import re
import threading
from typing import Any

ID = re.compile(r"[0-9]{1,18}")
KINDS = ("client", "ticket", "activity")  # the seed's panel: one webhook URL per kind of record
DEFAULT_TOKEN = "sandbox-oxiva-token"
DEFAULT_DOSSIER = "demo"


class OxivaError(Exception):
    """Answered `{"error": code, "message": message}` with `status` (our choice of shape: Oxiva publishes none)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    @property
    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message}


def default_document() -> dict[str, Any]:
    return {"version": "2.0", "dossiers": [{
        "dossier": DEFAULT_DOSSIER, "tokens": [DEFAULT_TOKEN], "api_active": True,
        "zapier": {"active": True, "suspended": False, "urls": dict.fromkeys(KINDS)},
        "societes": [
            {"id": "11", "raison_sociale": "Boulangerie Martin", "code_client": "C000011",
             "adresse": "12 rue des Lilas", "code_postal": "69003", "ville": "Lyon", "pays": "France",
             "telephone": "04 72 00 00 11", "email": "contact@boulangerie-martin.fr",
             "date_creation": "2023-05-17 11:40:02.000",
             "activites": [
                 {"ccom_id": "1", "ccom_type": "call", "ccom_action": "done", "ccom_statut": "done",
                  "ccom_note": "<p>Premier contact</p>", "ccom_sujet": "Appel découverte",
                  "ccom_date_creation": "2023-05-16 09:12:00.000"},
                 {"ccom_id": "2", "ccom_type": "task", "ccom_action": "todo", "ccom_statut": "inprogress",
                  "ccom_note": "<p>Test appli</p>", "ccom_sujet": "Test",
                  "ccom_date_creation": "2023-05-17 11:45:26.000"}],
             "tickets": [
                 {"sticket_id": "809", "sticket_sujet": "Accès au portail", "sticket_statut": "ferme",
                  "sticket_priorite": "basse", "sticket_description": "Mot de passe du portail perdu.",
                  "sticket_date_creation": "2023-05-10 08:30:00.000"},
                 {"sticket_id": "810", "sticket_sujet": "Imprimante en panne", "sticket_statut": "ouvert",
                  "sticket_priorite": "normale", "sticket_description": "L'imprimante du comptoir n'imprime plus.",
                  "sticket_date_creation": "2023-05-17 11:52:10.000"}]},
            {"id": "12", "raison_sociale": "Garage des Monts", "code_client": "C000012", "adresse": "3 route de Gap",
             "code_postal": "38000", "ville": "Grenoble", "pays": "France", "telephone": "04 76 00 00 12",
             "email": "atelier@garage-des-monts.fr", "date_creation": "2023-06-02 15:20:41.000",
             "activites": [], "tickets": []}]}],
        "calls": []}


def _id(value: Any, where: str) -> str:
    if type(value) is int and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not ID.fullmatch(value):
        raise ValueError(f"{where}: an id is digits (e.g. \"11\"); got {value!r:.40}")
    return str(int(value))


def _records(items: Any, key: str, where: str, seen: set[str]) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        raise ValueError(f"{where}: a list of objects")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"{where}[{i}]: an object")
        rid = _id(item.get(key), f"{where}[{i}].{key}")
        if rid in seen:
            raise ValueError(f"{where}[{i}].{key}: {rid} is used twice in the dossier")
        seen.add(rid)
        out.append({**item, key: rid})
    return out


def zapier_panel(value: Any, where: str) -> dict[str, Any]:
    value = value if value is not None else {}
    if not isinstance(value, dict) or set(value) - {"active", "suspended", "urls"}:
        raise ValueError(f"{where}: an object {{active, suspended, urls}}")
    urls = value.get("urls") or {}
    if not isinstance(urls, dict) or set(urls) - set(KINDS):
        raise ValueError(f"{where}.urls: an object with the keys {', '.join(KINDS)}")
    for kind, url in urls.items():
        if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            raise ValueError(f"{where}.urls.{kind}: an http(s) URL or null")
    return {"active": bool(value.get("active", True)), "suspended": bool(value.get("suspended", False)),
            "urls": {k: urls.get(k) for k in KINDS}}


def parse_document(document: dict[str, Any]) -> dict[str, Any]:
    """The normalised state, or ValueError naming the bad entry."""
    if not isinstance(document, dict):
        raise ValueError("the document must be an object")
    unknown = set(document) - {"version", "dossiers", "calls"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}; allowed: version, dossiers, calls")
    base = default_document()
    doc = {**base, **document}
    dossiers: dict[str, dict[str, Any]] = {}
    if not isinstance(doc["dossiers"], list):
        raise ValueError("dossiers: a list")
    for i, d in enumerate(doc["dossiers"]):
        where = f"dossiers[{i}]"
        if not isinstance(d, dict) or not isinstance(d.get("dossier"), str) or not d["dossier"].strip():
            raise ValueError(f"{where}.dossier: a name")
        name = d["dossier"]
        if name in dossiers:
            raise ValueError(f"{where}.dossier: {name!r} is used twice")
        tokens = d.get("tokens", [])
        if not isinstance(tokens, list) or not all(isinstance(t, str) and t for t in tokens):
            raise ValueError(f"{where}.tokens: a list of non-empty strings")
        societes, seen_ids, seen_ccom, seen_tickets = [], set(), set(), set()
        for j, s in enumerate(_records(d.get("societes", []), "id", f"{where}.societes", seen_ids)):
            here = f"{where}.societes[{j}]"
            societes.append({**s, "activites": _records(s.get("activites", []), "ccom_id", f"{here}.activites",
                                                        seen_ccom),
                             "tickets": _records(s.get("tickets", []), "sticket_id", f"{here}.tickets", seen_tickets)})
        dossiers[name] = {"dossier": name, "tokens": list(tokens), "api_active": bool(d.get("api_active", True)),
                          "zapier": zapier_panel(d.get("zapier"), f"{where}.zapier"), "societes": societes}
    if not isinstance(doc["calls"], list):
        raise ValueError("calls: a list")
    return {"version": str(doc["version"]), "dossiers": dossiers, "calls": list(doc["calls"])}


class OxivaState:
    """The emulated Oxiva: every dossier of the document, behind one lock (routes hold it around each call and
    never await while holding it)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        self.load({})

    def load(self, document: dict[str, Any]) -> None:
        fresh = parse_document(document)
        with self.lock:
            self.version: str = fresh["version"]
            self.dossiers: dict[str, dict[str, Any]] = fresh["dossiers"]
            self.calls: list[dict[str, Any]] = fresh["calls"]

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy({"version": self.version, "dossiers": list(self.dossiers.values()),
                                  "calls": self.calls})

    # -- the API ----------------------------------------------------------------------------------------------

    def authenticate(self, dossier: str | None, token: str | None) -> dict[str, Any]:
        """The dossier the parameters open, or Oxiva's refusal (never saying which of the two is wrong)."""
        if not dossier or not token:
            raise OxivaError(401, "missing_credentials", "Les paramètres dossier et token sont obligatoires")
        found = self.dossiers.get(dossier)
        if found is None or token not in found["tokens"]:
            raise OxivaError(401, "invalid_credentials", "Dossier ou token invalide")
        if not found["api_active"]:
            raise OxivaError(403, "api_disabled", "L'API Oxiva n'est pas activée pour ce dossier")
        return found

    @staticmethod
    def societe(dossier: dict[str, Any], societe_id: str | None) -> dict[str, Any]:
        if societe_id is None or not societe_id.strip():
            raise OxivaError(400, "missing_parameter", "Le paramètre id est obligatoire")
        if not ID.fullmatch(societe_id.strip()):
            raise OxivaError(400, "invalid_parameter", "Le paramètre id doit être un identifiant numérique")
        wanted = str(int(societe_id.strip()))
        for found in dossier["societes"]:
            if found["id"] == wanted:
                return found
        raise OxivaError(404, "not_found", f"Aucune société avec l'id {wanted}")

    @staticmethod
    def render(societe: dict[str, Any], activites: bool, tickets: bool) -> dict[str, Any]:
        out = {k: v for k, v in societe.items() if k not in ("activites", "tickets")}
        if activites:
            out["activites"] = copy.deepcopy(societe["activites"])
        if tickets:
            out["tickets"] = copy.deepcopy(societe["tickets"])
        return out

    # -- records created in the emulated Oxiva (control routes) -------------------------------------------------

    def dossier(self, name: str) -> dict[str, Any]:
        found = self.dossiers.get(name)
        if found is None:
            raise KeyError(f"dossier: no dossier {name!r} in the state (known: {', '.join(self.dossiers) or 'none'})")
        return found

    @staticmethod
    def _next(values: list[str]) -> str:
        return str(max((int(v) for v in values), default=0) + 1)

    def create(self, dossier_name: str, kind: str, fields: dict[str, Any], societe_id: str | None = None
               ) -> tuple[dict[str, Any], dict[str, str]]:
        """Add a client, activity or ticket; returns it and the parameters Oxiva appends to the hook's URL."""
        dossier = self.dossier(dossier_name)
        if kind == "client":
            record = {k: v for k, v in fields.items() if k not in ("id", "activites", "tickets")}
            record.update(id=self._next([s["id"] for s in dossier["societes"]]), activites=[], tickets=[])
            dossier["societes"].append(record)
            return self.render(record, False, False), {"id": record["id"]}
        societe = self.societe(dossier, societe_id)
        key, list_name = ("ccom_id", "activites") if kind == "activity" else ("sticket_id", "tickets")
        every = [item[key] for s in dossier["societes"] for item in s[list_name]]
        record = {**{k: v for k, v in fields.items() if k != key}, key: self._next(every)}
        societe[list_name].append(record)
        return dict(record), {"id": societe["id"], key: record[key]}
