"""Reading vendors' published API descriptions in contract tests: OpenAPI 3 (Twilio), Swagger 2 (Mailchimp) and
Google discovery documents (Sheets), turned into what a request is checked against: the operation of a path,
its declared query parameters, and a *strict* JSON Schema of its body.

Strict: an object listing its properties accepts no others (the specs never say `additionalProperties: false`,
so a misspelt field would otherwise pass) and read-only properties are removed (never sent in requests).
Patching a known gap of a spec is the test module's job, each patch pinned by a test showing the gap.

The specs live in ../shared/specs relative to the project root (or PASSERELLE_SPECS_DIR, or the workspace's
/work/shared/specs for a clone elsewhere on this machine); where none is found the contract tests skip, saying
so (:func:`needs`).
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml


def _specs_folder() -> Path:
    """Where the vendors' specs are: PASSERELLE_SPECS_DIR, else ../shared/specs beside the project root, else the
    workspace's /work/shared/specs (a clean clone elsewhere on this machine, as CI makes, still finds them)."""
    candidates = [Path(os.environ["PASSERELLE_SPECS_DIR"])] if os.environ.get("PASSERELLE_SPECS_DIR") else []
    candidates += [Path(__file__).resolve().parents[3] / "shared" / "specs", Path("/work/shared/specs")]
    return next((c for c in candidates if c.is_dir()), candidates[0])


SPECS = _specs_folder()
_DROP = ("example", "examples", "nullable")


def needs(path: Path) -> pytest.MarkDecorator:
    """Skip a module whose spec file is absent (a clone outside the workspace has no ../shared)."""
    return pytest.mark.skipif(not path.exists(), reason=f"{path} is not here (the specs live in ../shared/specs "
                              "beside the project root; this clone has none)")


@functools.cache
def load(path: Path) -> dict[str, Any]:
    """A spec file, YAML or JSON, parsed once per run (treat the result as read-only)."""
    with path.open(encoding="utf-8") as handle:
        return json.load(handle) if path.suffix == ".json" else yaml.safe_load(handle)


def match_template(templates: Iterable[str], path: str) -> str | None:
    """The path template a concrete path is an instance of; a literal template wins over one with parameters,
    then the one with the fewest parameters. Parameters match one segment (``[^/]+``)."""
    for template in sorted(templates, key=lambda t: (t != path, t.count("{"))):
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            return template
    return None


def resolve(node: Any, root: dict[str, Any], stack: tuple[str, ...] = ()) -> Any:
    """Inline local ``$ref``s (``#/components/...``, ``#/definitions/...``; a cycle becomes ``{}``), drop examples
    and vendor extensions, and turn OpenAPI's ``nullable`` into JSON Schema."""
    if isinstance(node, list):
        return [resolve(item, root, stack) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in stack:
            return {}
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        return resolve(target, root, (*stack, ref))
    out = {k: resolve(v, root, stack) for k, v in node.items() if k not in _DROP and not k.startswith("x-")}
    if node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def strict(schema: Any, *, request: bool = True) -> Any:
    """No property the schema does not list (unless it says what others may be); for a request (the default),
    no read-only property either. ``request=False`` checks an answer: read-only properties are kept."""
    if isinstance(schema, list):
        return [strict(s, request=request) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v, request=request) for k, v in schema.items()}
    if isinstance(out.get("properties"), dict):
        if request:
            out["properties"] = {k: v for k, v in out["properties"].items()
                                 if not (isinstance(v, dict) and v.get("readOnly"))}
        out.setdefault("additionalProperties", False)
    return out


# -- Google discovery documents ------------------------------------------------------------------------------

def discovery_methods(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every method of a discovery document by ``(HTTP method, "/" + path template)``."""
    found: dict[tuple[str, str], dict[str, Any]] = {}

    def walk(resource: dict[str, Any]) -> None:
        for method in resource.get("methods", {}).values():
            found[(method["httpMethod"], "/" + method["path"])] = method
        for child in resource.get("resources", {}).values():
            walk(child)

    walk(doc)
    return found


def discovery_schema(doc: dict[str, Any], node: Any, stack: tuple[str, ...] = ()) -> Any:
    """A discovery schema as JSON Schema: ``{"$ref": "ValueRange"}`` inlined from ``schemas``, ``type: any`` as
    ``{}``, integers' ``format`` (int32, int64) dropped, descriptions dropped."""
    if isinstance(node, list):
        return [discovery_schema(doc, n, stack) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"]
        return {} if name in stack else discovery_schema(doc, doc["schemas"][name], (*stack, name))
    if node.get("type") == "any":
        return {}
    skip = {"id", "description", "enumDescriptions", "format", "annotations", "deprecated", "enumDeprecated"}
    return {k: discovery_schema(doc, v, stack) for k, v in node.items() if k not in skip}
