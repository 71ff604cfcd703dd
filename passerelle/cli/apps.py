"""`passerelle apps list|show APP|suspend APP|resume APP`: the apps a zap may use, with their triggers and actions (the
zap registry, passerelle/zaps/registry.py; docs/zaps.md "Apps and the registry"), and the per-app suspend switch
(passerelle/zaps/suspend.py: the events of a suspended app's zaps are held, nothing lost, until it is resumed).

Descriptions, samples and field names come from app modules (connectors may be third-party): printed with
`untrusted` (text, never markup; control characters made visible)."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.text import Text

from passerelle.cli.safe_text import untrusted, visible

app = typer.Typer(help="The apps zaps can use: their triggers and actions; suspend or resume an app's zaps.",
                  no_args_is_help=True)
console = Console()


def _load():
    from passerelle.zaps import registry

    registry.load_apps()
    return registry


def _suspended() -> set[str]:
    from passerelle.zaps.suspend import suspended_apps

    try:
        return suspended_apps()
    except Exception:  # noqa: BLE001 - a listing of the registry does not need the store
        return set()


@app.command("list")
def list_apps() -> None:
    """Every app, one line each: its triggers and its actions (and SUSPENDED when it is)."""
    registry = _load()
    suspended = _suspended()
    for name, (triggers, actions) in registry.apps().items():
        line = Text(visible(name), style="bold")
        line.append(f"  triggers: {visible(', '.join(t.ref for t in triggers)) or '-'}")
        line.append(f"  actions: {visible(', '.join(a.ref for a in actions)) or '-'}")
        if name in suspended:
            line.append("  SUSPENDED", style="yellow")
        console.print(line)


def _known(name: str):
    registry = _load()
    apps = registry.apps()
    if name not in apps:
        known = ", ".join(apps) or "none"
        raise typer.BadParameter(f"unknown app {visible(name)!r}; known apps: {known}", param_hint="APP")
    return apps[name]


@app.command("suspend")
def suspend_app(name: str = typer.Argument(..., metavar="APP", help="the app, e.g. oxiva")) -> None:
    """Hold the events of the zaps whose trigger is this app's (they are still received and stored) until
    `apps resume APP`."""
    from passerelle.zaps.suspend import set_suspended

    _known(name)
    done = set_suspended(name, True)
    console.print(untrusted(f"{name} suspended: its zaps' events are received and held, none is run, until "
                            f"`passerelle apps resume {name}`" if done.changed else f"{name} was already suspended"))


@app.command("resume")
def resume_app(name: str = typer.Argument(..., metavar="APP", help="the app, e.g. oxiva")) -> None:
    """Run this app's zaps again; the events held meanwhile go back to the inbox, in the order they came."""
    from passerelle.zaps.suspend import set_suspended

    _known(name)
    done = set_suspended(name, False)
    head = f"{name} resumed" if done.changed else f"{name} was not suspended"
    console.print(untrusted(f"{head}: {done.released} held event{'s' if done.released != 1 else ''} back in the "
                            "inbox; the next drain runs them"))


@app.command("show")
def show_app(name: str = typer.Argument(..., metavar="APP", help="the app, e.g. http")) -> None:
    """An app's triggers (kind, dedupe key, sample) and actions (input and output fields, idempotent or not)."""
    registry = _load()
    triggers, actions = _known(name)
    if name in _suspended():
        console.print(Text(f"suspended: its zaps' events are held until `passerelle apps resume {visible(name)}`",
                           style="yellow"))
    for spec in triggers:
        console.print(Text("trigger ", style="bold").append(visible(spec.ref)).append(f"  ({spec.kind})"))
        console.print(untrusted(f"  {spec.title}: {spec.description}"))
        console.print(untrusted(f"  dedupe key: {spec.dedupe_key or '-'}"
                                f"{'  connection: ' + spec.connection if spec.connection else ''}"))
        console.print(untrusted("  sample: " + json.dumps(spec.sample, ensure_ascii=False, default=str)))
    for spec in actions:
        console.print(Text("action ", style="bold").append(visible(spec.ref)))
        console.print(untrusted(f"  {spec.title}: {spec.description}"))
        console.print(untrusted(f"  idempotent: {_idempotence(spec)}"
                                f"{'  connection: ' + spec.connection if spec.connection else ''}"))
        console.print(Text("  input:"))
        _print_fields(registry, spec.input_model)
        console.print(Text("  output:"))
        _print_fields(registry, spec.output_model)


def _idempotence(spec) -> str:
    if spec.idempotent_when is not None:
        doc = (spec.idempotent_when.__doc__ or "").strip().split("\n")[0]
        return f"depends on the inputs ({doc})" if doc else "depends on the inputs"
    return "yes (retried safely)" if spec.idempotent else "no (never re-sent after an ambiguous failure)"


def _print_fields(registry, model) -> None:
    for field_name, field in model.model_fields.items():
        need = "required" if field.is_required() else "optional"
        if not field.is_required() and isinstance(field.default, str | int | float | bool):
            need += f", default {field.default!r}"
        text = f"    {field_name}  {registry.type_label(field.annotation)}  {need}"
        if field.description:
            text += f"  — {field.description}"
        console.print(untrusted(text))
