"""Databricks-shaped errors and the knobs shared by the sandbox's own routes.

Every error our routes raise is an :class:`ApiError`, answered as Databricks answers:
``{"error_code": ..., "message": ...}`` with the matching HTTP status, which databricks-sdk maps
to its typed exceptions (``NotFound``, ``ResourceConflict``, ``InvalidParameterValue``, ...).

Knobs (a JSON object on ``POST /_sandbox/config``, or :meth:`Faults.configure` in process):

* ``deploy_seconds`` (float, default 1.0): how long a serving endpoint's config update stays
  IN_PROGRESS before it settles;
* ``deploy_reads`` (int or null, default null): when set, an update settles on the Nth read of
  its endpoint instead, whatever the time (deterministic tests);
* ``latency_seconds`` (float, default 0): added to every request on our routes;
* ``error_rate_429`` / ``error_rate_503`` (0..1, default 0): share of requests on our routes
  answered 429 TOO_MANY_REQUESTS / 503 TEMPORARILY_UNAVAILABLE (with ``Retry-After: 1``), drawn
  from a random generator seeded with ``seed``;
* ``seed`` (int, default 0): reseeds that generator whenever it is given;
* ``fail_next`` (list of 429/503/403): the next requests on our routes get these statuses, in
  order, before the random rates apply (403 PERMISSION_DENIED is an error no client retries, e.g.
  a revoked token).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

# HTTP status -> Databricks error code for injected faults.
INJECTED_CODES = {
    429: ("TOO_MANY_REQUESTS", "Too many requests. Please wait a moment and try again."),
    503: ("TEMPORARILY_UNAVAILABLE", "The service is temporarily unavailable. Please try again later."),
    403: ("PERMISSION_DENIED", "Invalid access token."),
}


class ApiError(Exception):
    """An error answered as Databricks does: an HTTP status plus ``error_code`` and ``message``."""

    def __init__(self, status: int, error_code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = headers or {}


def not_found(message: str) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def already_exists(message: str) -> ApiError:
    return ApiError(409, "RESOURCE_ALREADY_EXISTS", message)


def conflict(message: str) -> ApiError:
    return ApiError(409, "RESOURCE_CONFLICT", message)


async def _api_error_response(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        status_code=exc.status,
        content={"error_code": exc.error_code, "message": exc.message},
        headers=exc.headers,
    )


def install_error_handler(app: FastAPI) -> None:
    """Answer :class:`ApiError` raised anywhere in ``app`` in Databricks' error format."""
    app.add_exception_handler(ApiError, _api_error_response)


async def read_json(request: Request) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when empty); 400 MALFORMED_REQUEST otherwise."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "MALFORMED_REQUEST", f"Could not parse request body as JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "MALFORMED_REQUEST", "Request body must be a JSON object")
    return body


@dataclass
class Knobs:
    """The tunable behaviour of our routes; see the module docstring."""

    deploy_seconds: float = 1.0
    deploy_reads: int | None = None
    latency_seconds: float = 0.0
    error_rate_429: float = 0.0
    error_rate_503: float = 0.0
    seed: int = 0
    fail_next: list[int] = field(default_factory=list)


def _number(name: str, value: Any, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise invalid(f"{name} must be a number >= 0, got {value!r}")
    if upper is not None and value > upper:
        raise invalid(f"{name} must be at most {upper}, got {value!r}")
    return float(value)


def _validated(name: str, value: Any) -> Any:
    if name in ("deploy_seconds", "latency_seconds"):
        return _number(name, value)
    if name in ("error_rate_429", "error_rate_503"):
        return _number(name, value, 1.0)
    if name == "deploy_reads":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise invalid(f"deploy_reads must be an integer >= 1 or null, got {value!r}")
        return value
    if name == "seed":
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(f"seed must be an integer, got {value!r}")
        return value
    if name == "fail_next":
        if not isinstance(value, list) or any(v not in INJECTED_CODES for v in value):
            raise invalid(f"fail_next must be a list of {sorted(INJECTED_CODES)}, got {value!r}")
        return list(value)
    raise invalid(f"Unknown knob {name!r}; known: {[f.name for f in fields(Knobs)]}")


class Faults:
    """The knobs plus the fault injector applied to every request on our routes (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.knobs = Knobs()
        self._rng = random.Random(self.knobs.seed)  # noqa: S311 - reproducible faults, not security
        self.injected = dict.fromkeys(INJECTED_CODES, 0)
        self.requests = 0

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change some knobs (all validated before any applies); returns every knob's value."""
        checked = {name: _validated(name, value) for name, value in changes.items()}
        with self._lock:
            for name, value in checked.items():
                setattr(self.knobs, name, value)
            if "seed" in checked:
                self._rng = random.Random(self.knobs.seed)  # noqa: S311
            return asdict(self.knobs)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return asdict(self.knobs)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "requests": self.requests,
                "injected_429": self.injected[429],
                "injected_503": self.injected[503],
                "injected_403": self.injected[403],
            }

    def reset(self) -> None:
        """Every knob back to its default, the generator reseeded, the counters cleared."""
        with self._lock:
            self.knobs = Knobs()
            self._rng = random.Random(self.knobs.seed)  # noqa: S311
            self.injected = dict.fromkeys(INJECTED_CODES, 0)
            self.requests = 0

    def _draw(self) -> tuple[float, int | None]:
        """This request's added latency and injected status (None: serve it)."""
        with self._lock:
            self.requests += 1
            knobs = self.knobs
            status: int | None = None
            if knobs.fail_next:
                status = knobs.fail_next.pop(0)
            elif knobs.error_rate_429 or knobs.error_rate_503:
                draw = self._rng.random()
                if draw < knobs.error_rate_429:
                    status = 429
                elif draw < knobs.error_rate_429 + knobs.error_rate_503:
                    status = 503
            if status is not None:
                self.injected[status] += 1
            return knobs.latency_seconds, status

    async def inject(self) -> None:
        """FastAPI dependency for our routers: sleep ``latency_seconds``, then maybe fail."""
        latency, status = self._draw()
        if latency:
            await asyncio.sleep(latency)
        if status is not None:
            code, message = INJECTED_CODES[status]
            headers = {"Retry-After": "1"} if status in (429, 503) else {}
            raise ApiError(status, code, message, headers=headers)


class WorkspaceIdentity:
    """ASGI middleware stamping this workspace's id on every answer as ``x-databricks-org-id``.

    databricks-sdk's ``WorkspaceClient.get_workspace_id()`` reads the id from the host metadata
    (``routes.discovery``) or, without it, from this header on ``/api/2.0/preview/scim/v2/Me``;
    minilake sets one fixed id, so two instances would look like one workspace without this.
    """

    def __init__(self, app: Any, workspace_id: str) -> None:
        self.app = app
        self.header = (b"x-databricks-org-id", workspace_id.encode())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != self.header[0]]
                message = {**message, "headers": [*headers, self.header]}
            await send(message)

        await self.app(scope, receive, stamped)
