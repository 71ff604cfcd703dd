"""Checks of deploy/ (tests/deploy): each takes parsed documents and returns the problems found, one line each, so
the tests can run them on the real files and on broken copies.

- `schema_problems`: a Kubernetes object against the Kubernetes OpenAPI schemas (kubernetes-validate, strict:
  unknown fields are errors), offline.
- `command_problems`: a container's command is a real command of the project or of Prefect, options included.
- `probe_problems`, `env_problems`, `reference_problems`: probes on `/healthz` at the container's port, env names
  that the settings classes read, ConfigMap/Secret keys that exist.
- `work_pool_problems`: the Prefect `kubernetes` base job template (job_configuration + variables).
"""

from __future__ import annotations

import copy
import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
WORK_POOL = DEPLOY / "prefect" / "kubernetes-work-pool.json"
POOL_ENTRY = DEPLOY / "prefect" / "work-pool.yaml"
# The oldest Kubernetes minor still supported by the big managed offers when this was written; the schemas ship in
# kubernetes-validate, nothing is downloaded.
KUBERNETES_VERSION = "1.31"
HEALTH_PATH = "/healthz"
# prefect-kubernetes' settings (prefect_kubernetes/settings.py, 0.8.0; not installed here: only the worker's image
# has it): the worker's Secret reference for the auth string and the observer's namespaces.
PREFECT_KUBERNETES_SETTINGS = {
    "PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME",
    "PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_KEY",
    "PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES",
}
# What prefect-kubernetes' worker requires in every job manifest (its `_get_base_job_manifest`): it refuses a
# template without them. `parallelism`/`completions` sit in the pod spec there, where Kubernetes ignores them.
PREFECT_REQUIRED_POD_SPEC = {"parallelism": 1, "completions": 1, "restartPolicy": "Never"}
PREFECT_CONTAINER = "prefect-job"


def documents(root: Path = DEPLOY) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file relative to root, document) for every YAML and JSON document under root."""
    for path in sorted(root.rglob("*")):
        if path.suffix in {".yaml", ".yml"}:
            for doc in yaml.safe_load_all(path.read_text()):
                if doc is not None:
                    yield path.relative_to(root).as_posix(), doc
        elif path.suffix == ".json":
            yield path.relative_to(root).as_posix(), json.loads(path.read_text())


def kubernetes_objects(root: Path = DEPLOY) -> list[tuple[str, dict[str, Any]]]:
    """The Kubernetes objects (apiVersion + kind), Kustomizations aside: kustomize's, not the API server's."""
    return [(f, d) for f, d in documents(root)
            if "apiVersion" in d and "kind" in d and d["kind"] != "Kustomization"]


def schema_problems(obj: dict[str, Any]) -> list[str]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path) or "(top)"
        return [f"{obj['kind']}/{obj.get('metadata', {}).get('name')}: {where}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [exc.message]
    return []


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj.get("kind") in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        return obj["spec"]["template"]["spec"]
    return None


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(obj) or {}
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


# -- commands ------------------------------------------------------------------------------------------------------

def _passerelle_problems(args: list[str]) -> list[str]:
    """Walks the typer app (typer ships its own click, `typer._click`) to the command, then parses its options."""
    import typer
    from typer._click.exceptions import ClickException

    from passerelle.cli.main import app

    command = typer.main.get_command(app)
    ctx = typer.Context(command, info_name="passerelle")
    rest = list(args)
    while hasattr(command, "commands"):  # a group
        if not rest or rest[0].startswith("-"):
            return [f"`passerelle {' '.join(args)}`: no command after the group {ctx.info_name}"]
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            return [f"`passerelle {' '.join(args)}`: {rest[0]!r} is not a command of `{ctx.info_name}`"]
        command, ctx = sub, typer.Context(sub, info_name=rest.pop(0), parent=ctx)
    try:
        command.make_context(ctx.info_name, rest, parent=ctx.parent)  # parses and checks, runs nothing
    except ClickException as exc:
        return [f"`passerelle {' '.join(args)}`: {exc.format_message()}"]
    return []


def _module_problems(args: list[str]) -> list[str]:
    import importlib.util

    if len(args) < 2 or args[0] != "-m":
        return [f"`python {' '.join(args)}`: only `python -m <module>` is checked"]
    if importlib.util.find_spec(args[1]) is None:
        return [f"`python -m {args[1]}`: no such module in the project"]
    if args[1] == "passerelle.store.migrations":
        from alembic.config import CommandLine

        try:
            options = CommandLine(prog="python -m passerelle.store.migrations").parser.parse_args(args[2:])
        except SystemExit:  # argparse: an unknown command or a missing argument (printed on stderr)
            return [f"`python {' '.join(args)}`: not an Alembic command line"]
        if not hasattr(options, "cmd"):
            return [f"`python {' '.join(args)}`: no Alembic command"]
    return []


def _prefect_problems(args: list[str]) -> list[str]:
    from cyclopts.exceptions import CycloptsError

    if args[:2] != ["worker", "start"]:
        return [f"`prefect {' '.join(args)}`: only `prefect worker start` is checked"]
    from prefect.cli.worker import worker_app

    try:
        worker_app.parse_args(args[1:], exit_on_error=False, print_error=False)
    except CycloptsError as exc:
        return [f"`prefect {' '.join(args)}`: {exc}"]
    return []


def command_problems(container: dict[str, Any]) -> list[str]:
    """A container's command + args is `passerelle …`, `python -m …` or `prefect worker start …`, and parses."""
    argv = [*container.get("command", []), *container.get("args", [])]
    if not argv:
        return [f"container {container['name']}: no command (the image's default is not checked)"]
    program, args = argv[0], argv[1:]
    checks = {"passerelle": _passerelle_problems, "python": _module_problems, "prefect": _prefect_problems}
    if program not in checks:
        return [f"container {container['name']}: {shlex.join(argv)} is not a command of the project"]
    return checks[program](args)


def option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv[:-1] else None


# -- probes, env, references ---------------------------------------------------------------------------------------

def probe_problems(container: dict[str, Any], probes: tuple[str, ...] = ("readinessProbe", "livenessProbe"),
                   path: str = HEALTH_PATH) -> list[str]:
    """Each probe is an HTTP GET of `path` on a declared container port, the port the command listens on."""
    problems = []
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    listening = option([*container.get("command", []), *container.get("args", [])], "--port")
    for kind in probes:
        get = container.get(kind, {}).get("httpGet")
        if get is None:
            problems.append(f"container {container['name']}: no {kind} httpGet")
            continue
        if get.get("path") != path:
            problems.append(f"container {container['name']}: {kind} asks {get.get('path')!r}, not {path}")
        port = ports.get(get["port"]) if isinstance(get["port"], str) else get["port"]
        if port not in ports.values():
            problems.append(f"container {container['name']}: {kind} port {get['port']!r} is not a container port")
        elif listening is not None and str(port) != listening:
            problems.append(f"container {container['name']}: {kind} probes port {port}, the command listens on "
                            f"{listening}")
    return problems


def passerelle_settings() -> set[str]:
    """The PASSERELLE_* names the settings classes read, and those prefect.yaml reads (`{{ $NAME }}`)."""
    import re

    from passerelle.gateway.settings import GatewaySettings
    from passerelle.settings import Settings

    names = set()
    for cls in (Settings, GatewaySettings):
        prefix = cls.model_config["env_prefix"]
        names.update(f"{prefix}{field}".upper() for field in cls.model_fields)
    names.update(re.findall(r"\{\{\s*\$(PASSERELLE_\w+)\s*\}\}", (ROOT / "prefect.yaml").read_text()))
    return names


def prefect_settings() -> set[str]:
    from prefect.settings import Settings
    from prefect.settings.legacy import _get_valid_setting_names

    return set(_get_valid_setting_names(Settings)) | PREFECT_KUBERNETES_SETTINGS


def env_problems(names: list[str]) -> list[str]:
    """PASSERELLE_* and PREFECT_* names must be settings that something reads (pydantic-settings ignores others)."""
    known_passerelle, known_prefect = passerelle_settings(), prefect_settings()
    problems = []
    for name in names:
        if name.startswith("PASSERELLE_") and name not in known_passerelle:
            problems.append(f"{name} is read by nothing: not a field of passerelle/settings.py or "
                            "passerelle/gateway/settings.py")
        elif name.startswith("PREFECT_") and name not in known_prefect:
            problems.append(f"{name} is not a Prefect setting")
    return problems


def env_names(container: dict[str, Any], configmaps: dict[str, dict[str, str]]) -> list[str]:
    names = [e["name"] for e in container.get("env", [])]
    for source in container.get("envFrom", []):
        names.extend(configmaps.get(source.get("configMapRef", {}).get("name"), {}))
    return names


def reference_problems(container: dict[str, Any], configmaps: dict[str, dict[str, str]],
                       secrets: dict[str, dict[str, str]]) -> list[str]:
    """Every configMapKeyRef / secretKeyRef / envFrom names a ConfigMap or Secret of deploy/ and a key it has."""
    problems = []
    for entry in container.get("env", []):
        source = entry.get("valueFrom", {})
        for kind, known in (("configMapKeyRef", configmaps), ("secretKeyRef", secrets)):
            ref = source.get(kind)
            if ref and ref["key"] not in known.get(ref["name"], {}):
                problems.append(f"container {container['name']}: {entry['name']} reads {kind} "
                                f"{ref['name']}/{ref['key']}, which deploy/ does not define")
    for source in container.get("envFrom", []):
        for kind, known in (("configMapRef", configmaps), ("secretRef", secrets)):
            if kind in source and source[kind]["name"] not in known:
                problems.append(f"container {container['name']}: envFrom {kind} {source[kind]['name']} is not "
                                "in deploy/")
    return problems


def data_of(objects: list[tuple[str, dict[str, Any]]], kind: str) -> dict[str, dict[str, str]]:
    return {o["metadata"]["name"]: {**o.get("data", {}), **o.get("stringData", {})}
            for _, o in objects if o["kind"] == kind}


# -- the work pool's base job template -----------------------------------------------------------------------------

def variable_defaults(template: dict[str, Any]) -> dict[str, Any]:
    return {k: v["default"] for k, v in template["variables"]["properties"].items() if "default" in v}


def rendered_job(template: dict[str, Any], values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Job a worker would submit with the variables' defaults (and `values`), as Prefect renders it."""
    from prefect.utilities.templating import apply_values

    job = apply_values(copy.deepcopy(template["job_configuration"]["job_manifest"]),
                       {**variable_defaults(template), **(values or {})})
    job["metadata"]["generateName"] = "passerelle-run-"  # the worker slugifies the run's name into it
    return job


def work_pool_problems(template: dict[str, Any]) -> list[str]:
    import jsonschema
    from prefect.server.schemas.actions import validate_base_job_template

    try:  # what the Prefect server checks when the pool is created: the shape, placeholders declared
        validate_base_job_template(template)
    except ValueError as exc:
        return [f"work pool template: {exc}"]
    problems = []
    variables = template["variables"]
    try:
        jsonschema.Draft7Validator.check_schema(variables)
        jsonschema.validate(variable_defaults(template), variables)
    except (jsonschema.SchemaError, jsonschema.ValidationError) as exc:
        problems.append(f"work pool variables: {exc.message}")
    manifest = template["job_configuration"].get("job_manifest", {})
    spec = manifest.get("spec", {}).get("template", {}).get("spec", {})
    for key, value in PREFECT_REQUIRED_POD_SPEC.items():
        if spec.get(key) != value:
            problems.append(f"work pool job_manifest: spec.template.spec.{key} must be {value!r} "
                            "(prefect-kubernetes refuses the template otherwise)")
    first = (spec.get("containers") or [{}])[0]
    if first.get("name") != PREFECT_CONTAINER:
        problems.append(f"work pool job_manifest: the first container must be named {PREFECT_CONTAINER!r}")
    if problems:
        return problems
    job = rendered_job(template)
    for key in ("parallelism", "completions"):  # Prefect's, not Kubernetes' (see PREFECT_REQUIRED_POD_SPEC)
        job["spec"]["template"]["spec"].pop(key)
    return schema_problems(job)
