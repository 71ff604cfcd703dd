"""The zap actions as plain reusable Prefect tasks (one module per app, e.g. `tasks.actions.http`).

Each module registers its actions with the zap registry (passerelle/zaps/registry.py) and exposes a Prefect
task usable from any flow: `from tasks.actions.http import http_request`. `load_apps()` imports every module
of this package.
"""
