"""The sandbox ASGI app: every vendor emulator under its prefix, plus the control API under `/_sandbox`.

    /amilia/api/V3/...        Amilia API v3 emulator
    /cyberimpact/...          Cyberimpact REST API emulator
    /_sandbox/...             control API (reset, state, requests, faults) — see docs/sandbox.md
"""

from __future__ import annotations

from typing import Any

from fastapi import Body, FastAPI, HTTPException, Request

from sandbox.core import Faults, Vendor, VendorRuntime, apply_faults, lost_answer


def default_vendors() -> list[Vendor]:
    """Every emulator of the sandbox: each package ``sandbox/<pkg>/`` whose ``app.py`` has ``build_<pkg>()``
    (a new emulator needs no edit here), in name order; its vendor name is the package's with ``-`` for ``_``
    (sandbox.server.vendor_names)."""
    import importlib
    import pkgutil

    import sandbox

    vendors = []
    for info in sorted(pkgutil.iter_modules(sandbox.__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        try:
            module = importlib.import_module(f"sandbox.{info.name}.app")
        except ModuleNotFoundError as exc:
            if exc.name == f"sandbox.{info.name}.app":
                continue  # a helper package, not an emulator
            raise
        build = getattr(module, f"build_{info.name}", None)
        if build is not None:
            vendors.append(build())
    return vendors


class VendorMiddleware:
    """The request log and the fault switches around every vendor route, as plain ASGI: Starlette's
    ``@app.middleware("http")`` (BaseHTTPMiddleware) cost each call a task and a response stream copy, which
    capped an emulator near 600 calls/s on the benches' machine."""

    def __init__(self, app: Any, runtimes: dict[str, VendorRuntime]) -> None:
        self.app, self.runtimes = app, runtimes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        parts = scope["path"].split("/", 2) if scope["type"] == "http" else []
        runtime = self.runtimes.get(parts[1]) if len(parts) > 1 else None
        if runtime is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        fault = await apply_faults(runtime, request)
        if fault is not None:
            runtime.record(request, fault.status_code)
            await fault(scope, receive, send)
            return
        status, lost = 500, False

        async def answer(message: dict) -> None:
            nonlocal status, lost
            if message["type"] == "http.response.start":
                status = message["status"]
                lost = status < 400 and runtime.lose_answer(request.method)
            if not lost:
                await send(message)

        await self.app(scope, receive, answer)
        if lost:  # applied by the emulator; the caller never learns it
            status = 504
            await lost_answer()(scope, receive, send)
        runtime.record(request, status)


def create_app(vendors: list[Vendor] | None = None) -> FastAPI:
    vendors = vendors if vendors is not None else default_vendors()
    app = FastAPI(title="Passerelle sandbox", version="1",
                  description="Local emulators of the vendor APIs Passerelle talks to.")
    registry: dict[str, Vendor] = {v.name: v for v in vendors}
    runtimes: dict[str, VendorRuntime] = {v.name: VendorRuntime() for v in vendors}
    app.state.vendors = registry
    app.state.runtimes = runtimes

    for vendor in vendors:
        app.include_router(vendor.router, prefix=f"/{vendor.name}")
        if vendor.control is not None:
            app.include_router(vendor.control, prefix=f"/_sandbox/{vendor.name}", tags=["control"])

    app.add_middleware(VendorMiddleware, runtimes=runtimes)

    def vendor_or_404(name: str) -> Vendor:
        if name not in registry:
            raise HTTPException(404, f"unknown vendor {name!r}; known: {sorted(registry)}")
        return registry[name]

    @app.post("/_sandbox/reset", tags=["control"], summary="Empty every vendor's state, log and faults")
    def reset() -> dict[str, Any]:
        for name, vendor in registry.items():
            vendor.state.reset()
            runtimes[name] = runtimes[name].__class__()
        return {"reset": sorted(registry)}

    @app.put("/_sandbox/{vendor}/state", tags=["control"], summary="Replace a vendor's state with a document")
    def put_state(vendor: str, document: dict[str, Any] = Body(...)) -> dict[str, Any]:
        v = vendor_or_404(vendor)
        try:
            v.state.load(document)
        except (KeyError, TypeError, ValueError) as exc:
            raise HTTPException(422, f"invalid {vendor} state document: {exc}") from exc
        return {"loaded": vendor}

    @app.get("/_sandbox/{vendor}/state", tags=["control"], summary="Dump a vendor's state as a document")
    def get_state(vendor: str) -> dict[str, Any]:
        return vendor_or_404(vendor).state.dump()

    @app.get("/_sandbox/{vendor}/requests", tags=["control"], summary="Calls the vendor emulator answered")
    def get_requests(vendor: str, since: int = 0) -> dict[str, Any]:
        vendor_or_404(vendor)
        rt = runtimes[vendor]
        with rt.lock:
            records = [r.as_dict() for r in rt.requests[since:]]
            total = len(rt.requests)
        return {"total": total, "requests": records}

    @app.delete("/_sandbox/{vendor}/requests", tags=["control"], summary="Clear a vendor's request log")
    def clear_requests(vendor: str) -> dict[str, Any]:
        vendor_or_404(vendor)
        rt = runtimes[vendor]
        with rt.lock:
            rt.requests.clear()
        return {"cleared": vendor}

    @app.put("/_sandbox/faults", tags=["control"], summary="Set fault switches per vendor")
    def put_faults(faults: dict[str, Faults] = Body(...)) -> dict[str, Any]:
        for name in faults:
            vendor_or_404(name)
        for name, f in faults.items():
            runtimes[name].set_faults(f)
        return {name: runtimes[name].faults.model_dump() for name in registry}

    @app.get("/_sandbox/faults", tags=["control"], summary="Current fault switches per vendor")
    def get_faults() -> dict[str, Any]:
        return {name: runtimes[name].faults.model_dump() for name in registry}

    @app.get("/_sandbox/healthz", tags=["control"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
