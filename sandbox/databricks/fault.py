"""Databricks-shaped errors, and the knobs and fault layer over the sandbox's whole workspace API.

Every error our routes raise is an :class:`ApiError`, answered as Databricks answers:
``{"error_code": ..., "message": ...}`` with the matching HTTP status, which databricks-sdk maps
to its typed exceptions (``NotFound``, ``ResourceConflict``, ``InvalidParameterValue``, ...).

Faults and latency apply to EVERY request under ``/api/``, minilake's routes and ours alike
(:class:`FaultLayer`, an ASGI middleware); the account API (``/api/2.0/accounts/...``) applies the
same knobs through :meth:`Faults.inject` so that its own counters see faulted requests. The control
routes (``/_sandbox/...``) and the host metadata are never faulted.

Knobs (a JSON object on ``POST /_sandbox/config``, or :meth:`Faults.configure` in process):

* ``deploy_seconds`` (float, default 1.0): how long a serving endpoint's config update stays
  IN_PROGRESS before it settles;
* ``deploy_reads`` (int or null, default null): when set, an update settles on the Nth read of
  its endpoint instead, whatever the time (deterministic tests);
* ``latency_seconds`` (float, default 0): added to every API request;
* ``error_rate_429`` / ``error_rate_503`` (0..1, default 0): share of API requests answered
  429 TOO_MANY_REQUESTS / 503 TEMPORARILY_UNAVAILABLE (with ``Retry-After``) without being
  executed, drawn from a random generator seeded with ``seed``;
* ``retry_after_seconds`` (int, default 1): the ``Retry-After`` those answers carry;
* ``seed`` (int, default 0): reseeds that generator whenever it is given;
* ``fail_next`` (list of 429/503/403): the next API requests get these statuses, in order, before
  the random rates apply (403 PERMISSION_DENIED is an error no client retries, e.g. a revoked
  token);
* ``commit_then_503`` (int, default 0): the next N write requests (POST/PUT/PATCH/DELETE under
  ``/api/``) that get through the faults above are EXECUTED and then answered 503
  TEMPORARILY_UNAVAILABLE: a client that retries them blindly creates a duplicate;
* ``export_limit_bytes`` (int, default 10 MiB as Databricks): the largest workspace object
  ``/api/2.0/workspace/export`` returns; over it the export is refused (``routes.workspace_dr``).

Stats (``GET /_sandbox/stats``, :meth:`Faults.stats`): ``requests`` (API requests seen),
``injected_429`` / ``injected_503`` / ``injected_403`` (answered with a fault, not executed),
``committed_503`` (executed, then answered 503), ``writes`` (POST/PUT/PATCH/DELETE requests),
``by_method`` (``{"POST": n, ...}``) and ``by_route`` (``{"POST /api/2.2/jobs/create": n, ...}``,
keyed by the route's path template, e.g. ``GET /api/2.0/permissions/{object_type}/{object_id}``).
Faulted requests are counted too: they were sent.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import Match

# HTTP status -> Databricks error code for injected faults.
INJECTED_CODES = {
    429: ("TOO_MANY_REQUESTS", "Too many requests. Please wait a moment and try again."),
    503: ("TEMPORARILY_UNAVAILABLE", "The service is temporarily unavailable. Please try again later."),
    403: ("PERMISSION_DENIED", "Invalid access token."),
}
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_EXPORT_LIMIT = 10 * 1024 * 1024  # Databricks' workspace export limit


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
    retry_after_seconds: int = 1
    commit_then_503: int = 0
    export_limit_bytes: int = DEFAULT_EXPORT_LIMIT


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
    if name in ("retry_after_seconds", "commit_then_503", "export_limit_bytes"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise invalid(f"{name} must be an integer >= 0, got {value!r}")
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
        self._clear_counters()

    def _clear_counters(self) -> None:
        self.injected = dict.fromkeys(INJECTED_CODES, 0)
        self.requests = 0
        self.committed_503 = 0
        self.writes = 0
        self.by_method: Counter[str] = Counter()
        self.by_route: Counter[str] = Counter()

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

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "injected_429": self.injected[429],
                "injected_503": self.injected[503],
                "injected_403": self.injected[403],
                "committed_503": self.committed_503,
                "writes": self.writes,
                "by_method": dict(self.by_method),
                "by_route": dict(self.by_route),
            }

    def reset(self) -> None:
        """Every knob back to its default, the generator reseeded, the counters cleared."""
        with self._lock:
            self.knobs = Knobs()
            self._rng = random.Random(self.knobs.seed)  # noqa: S311
            self._clear_counters()

    def _draw(self) -> tuple[float, int | None]:
        """This request's added latency and injected status (None: serve it)."""
        with self._lock:
            return self._draw_locked()

    def draw_request(self, method: str, route: str) -> tuple[float, int | None, bool]:
        """Count an API request (``route``: its path template) and draw its latency, its injected
        status (None: execute it) and whether to answer 503 once it has been executed."""
        with self._lock:
            write = method in WRITE_METHODS
            self.by_method[method] += 1
            self.by_route[f"{method} {route}"] += 1
            self.writes += write
            latency, status = self._draw_locked()
            commit_503 = status is None and write and self.knobs.commit_then_503 > 0
            if commit_503:
                self.knobs.commit_then_503 -= 1
                self.committed_503 += 1
            return latency, status, commit_503

    def retry_headers(self, status: int) -> dict[str, str]:
        return {"Retry-After": str(self.knobs.retry_after_seconds)} if status in (429, 503) else {}

    def _draw_locked(self) -> tuple[float, int | None]:
        """Count a request and draw its latency and injected status (the lock held)."""
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
        """FastAPI dependency (the account routes): sleep ``latency_seconds``, then maybe fail."""
        latency, status = self._draw()
        if latency:
            await asyncio.sleep(latency)
        if status is not None:
            code, message = INJECTED_CODES[status]
            raise ApiError(status, code, message, headers=self.retry_headers(status))


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


def faulted(path: str) -> bool:
    """Whether :class:`FaultLayer` applies to ``path``: the workspace API, not the account API
    (whose routes apply the knobs themselves) nor the control routes or host metadata."""
    return path.startswith("/api/") and not path.startswith("/api/2.0/accounts/")


def _route_template(routes: Any, probe: dict[str, Any]) -> str | None:
    """The path template of the first route fully matching ``probe`` (None if none does).

    FastAPI keeps included routers as branches matched through ``_match`` (no public way to ask
    which route, and so which template, a request reaches); any other route answers ``matches``.
    """
    for route in routes:
        branch_match = getattr(route, "_match", None)
        if branch_match is not None:
            match, _, selected, context = branch_match(dict(probe, path_params={}))
            if match is not Match.FULL:
                continue
            if context is not None:
                return str(getattr(context, "path_format", None) or context.path)
            return _route_template([selected], probe) if selected is not None else None
        match, _ = route.matches(dict(probe, path_params={}))
        if match is Match.FULL:
            return str(getattr(route, "path", "")) or None
    return None


class FaultLayer:
    """ASGI middleware applying the knobs to every request :func:`faulted` selects, whichever route
    (the sandbox's or minilake's) serves it, and counting them per method and route template."""

    def __init__(self, app: Any, faults: Faults, router: Any) -> None:
        self.app = app
        self.faults = faults
        self.router = router  # the FastAPI app's router: its routes name the path templates
        self._templates: dict[tuple[str, str], str] = {}

    def _template(self, scope: Any) -> str:
        """The path template of the route serving ``scope`` (its concrete path if none does)."""
        key = (scope["method"], scope["path"])
        template = self._templates.get(key)
        if template is None:
            probe = {"type": "http", "path": scope["path"], "method": scope["method"], "root_path": ""}
            template = _route_template(self.router.routes, probe) or str(scope["path"])
            if len(self._templates) < 10_000:
                self._templates[key] = template
        return template

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not faulted(scope["path"]):
            await self.app(scope, receive, send)
            return
        latency, status, commit_503 = self.faults.draw_request(scope["method"], self._template(scope))
        if latency:
            await asyncio.sleep(latency)
        if status is not None:
            await self._answer(scope, receive, send, status)
            return
        if not commit_503:
            await self.app(scope, receive, send)
            return

        async def discard(message: Any) -> None:
            return None

        await self.app(scope, receive, discard)  # executed: the write is committed...
        await self._answer(scope, receive, send, 503)  # ...and the client hears it failed

    async def _answer(self, scope: Any, receive: Any, send: Any, status: int) -> None:
        code, message = INJECTED_CODES[status]
        response = JSONResponse(
            status_code=status,
            content={"error_code": code, "message": message},
            headers=self.faults.retry_headers(status),
        )
        await response(scope, receive, send)
