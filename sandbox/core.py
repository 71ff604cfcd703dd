"""Shared machinery of the sandbox: vendor state protocol, request log and fault injection.

Each emulated vendor is a :class:`Vendor`: a name (the URL prefix it is mounted under), a state object
that can be reset, loaded from and dumped to a JSON document, and a FastAPI router serving the vendor's
real API paths. The core wraps every vendor route with the request log and the fault switches.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field


class JSONAnswer(JSONResponse):
    """`JSONResponse` encoded by orjson: an emulator's large pages cost it several times less CPU, which the
    benches' machine shares with the client under test."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class VendorState(Protocol):
    """What the control API needs from a vendor's in-memory state."""

    def reset(self) -> None: ...

    def load(self, document: dict[str, Any]) -> None: ...

    def dump(self) -> dict[str, Any]: ...


@dataclass
class Vendor:
    name: str
    state: VendorState
    router: APIRouter
    control: APIRouter | None = None  # vendor-specific control routes, mounted under /_sandbox/{name}


class Faults(BaseModel):
    """Fault switches for one vendor. Rates are probabilities in [0, 1]."""

    error_rate: float = Field(0.0, ge=0, le=1, description="share of calls answered 500/502/503")
    rate_429: float = Field(0.0, ge=0, le=1, description="share of calls answered 429 with Retry-After")
    retry_after: float = Field(1.0, ge=0, description="seconds sent in Retry-After with a 429")
    latency_ms: float = Field(0.0, ge=0, description="latency added to every call")
    timeout_rate: float = Field(0.0, ge=0, le=1, description="share of calls that hang for timeout_s")
    timeout_s: float = Field(30.0, ge=0, description="how long a 'timed out' call hangs before answering")
    lost_answer_rate: float = Field(0.0, ge=0, le=1, description="share of calls the emulator applies but whose "
                                    "answer is lost: a proxy answers 504 after the vendor did the work")
    lost_answer_methods: list[str] = Field(["POST", "PATCH", "PUT", "DELETE"],
                                           description="the methods a lost answer can hit (writes by default)")
    seed: int | None = Field(None, description="random seed, for reproducible fault sequences")


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    status: int
    at: float

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "query": self.query, "status": self.status,
                "at": self.at}


@dataclass
class VendorRuntime:
    """Per-vendor request log and faults, shared by the middleware and the control API."""

    faults: Faults = field(default_factory=Faults)
    rng: random.Random = field(default_factory=random.Random)
    requests: list[RequestRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_faults(self, faults: Faults) -> None:
        with self.lock:
            self.faults = faults
            self.rng = random.Random(faults.seed)

    def draw(self) -> tuple[str | None, Faults]:
        """Decide which fault (if any) hits the next call."""
        with self.lock:
            f = self.faults
            if f.timeout_rate and self.rng.random() < f.timeout_rate:
                return "timeout", f
            if f.rate_429 and self.rng.random() < f.rate_429:
                return "429", f
            if f.error_rate and self.rng.random() < f.error_rate:
                return "5xx", f
            return None, f

    def lose_answer(self, method: str) -> bool:
        """Whether this call, once applied, loses its answer (the `lost_answer_rate` fault)."""
        f = self.faults  # replaced whole by set_faults: read without the lock when the fault is off
        if not f.lost_answer_rate or method not in f.lost_answer_methods:
            return False
        with self.lock:
            return self.rng.random() < f.lost_answer_rate

    def record(self, request: Request, status: int) -> None:
        with self.lock:
            self.requests.append(RequestRecord(request.method, request.url.path, request.url.query, status,
                                               time.time()))


async def apply_faults(runtime: VendorRuntime, request: Request) -> Response | None:
    """Return a fault answer for this call, or None to let the vendor route answer."""
    fault, f = runtime.draw()
    if f.latency_ms:
        await asyncio.sleep(f.latency_ms / 1000)
    if fault == "timeout":
        await asyncio.sleep(f.timeout_s)
        return JSONResponse({"message": "gateway timeout (sandbox fault)"}, status_code=504)
    if fault == "429":
        return JSONResponse({"message": "Too Many Requests"}, status_code=429,
                            headers={"Retry-After": f"{f.retry_after:g}"})
    if fault == "5xx":
        status = runtime.rng.choice([500, 502, 503])
        return JSONResponse({"message": "internal error (sandbox fault)"}, status_code=status)
    return None


def lost_answer() -> Response:
    """What a caller gets when the emulator applied its call but the answer was lost on the way back."""
    return JSONResponse({"message": "gateway timeout after the call was applied (sandbox fault)"}, status_code=504)
