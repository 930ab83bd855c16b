"""A local fake of the BigQuery Reservation API v1, REST wire format (standard library only).

It serves the methods this project calls, the way ``google-cloud-bigquery-reservation`` with
``transport="rest"`` expects them: proto3 JSON bodies (camelCase fields, int64 as strings, enums as
names or numbers), ``updateMask`` query parameters, and errors as
``{"error": {"code", "message", "status"}}``, which the client maps to ``google.api_core``
exceptions.

Methods: capacity commitments (create, get, list, delete), reservations (get, update of
``slotCapacity`` and ``autoscale.maxSlots``, delete), assignments (list, create, delete). No
emulator covers this API, hence this fake.

Knobs (``POST /_fake/config`` with a JSON object, or ``FakeReservationApi.config``):

* ``active_after_reads``: a new commitment is PENDING and turns ACTIVE on the Nth read (default 1);
  ``null`` keeps it PENDING for ever (capacity unavailable);
* ``fail_commitments``: new commitments turn FAILED on their first read, with a failureStatus;
* ``flex_min_age_seconds``: a FLEX commitment younger than this refuses deletion
  (FAILED_PRECONDITION), as the real API does for a commitment's minimum term;
* ``flex_delete_refusals``: the next N deletions of an ACTIVE FLEX commitment are refused the same
  way, whatever its age (a minimum term that does not depend on how fast the test runs);
* ``fail_next``: ``{"METHOD path-substring": [status, ...]}`` answers the next matching requests
  with those HTTP statuses (429, 503, ...) before serving them normally;
* ``baseline_decrease_refusals``: how many reservation updates that lower ``slotCapacity`` are
  refused with 429 (the API rate-limits baseline decreases).

``POST /_fake/reservations`` seeds a reservation (``{"name": ..., "slotCapacity": ...}``),
``POST /_fake/reset`` clears everything, ``GET /_fake/state`` dumps it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PLANS = {0: "COMMITMENT_PLAN_UNSPECIFIED", 3: "FLEX", 7: "MONTHLY", 4: "ANNUAL", 5: "FLEX_FLAT_RATE"}
JOB_TYPES = {0: "JOB_TYPE_UNSPECIFIED", 1: "PIPELINE", 2: "QUERY", 3: "ML_EXTERNAL", 4: "BACKGROUND"}
STATUS_NAMES = {
    400: "FAILED_PRECONDITION",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}
_LOCATION = r"projects/[^/]+/locations/[^/]+"
# Every route the product calls, plus two it never calls, each kept for a test of the product:
# listing commitments is how the slot tests see, through the official client, that nothing is left
# billed; deleting a reservation is how they make one vanish under a running purchase
# (tests/operators/test_bigquery_reservation.py::test_a_release_after_the_reservation_was_deleted_...).
ROUTES = [
    ("POST", rf"^/v1/(?P<parent>{_LOCATION})/capacityCommitments$", "create_commitment"),
    ("GET", rf"^/v1/(?P<parent>{_LOCATION})/capacityCommitments$", "list_commitments"),  # tests only
    ("GET", rf"^/v1/(?P<name>{_LOCATION}/capacityCommitments/[^/]+)$", "get_commitment"),
    ("DELETE", rf"^/v1/(?P<name>{_LOCATION}/capacityCommitments/[^/]+)$", "delete_commitment"),
    ("GET", rf"^/v1/(?P<name>{_LOCATION}/reservations/[^/]+)$", "get_reservation"),
    ("PATCH", rf"^/v1/(?P<name>{_LOCATION}/reservations/[^/]+)$", "update_reservation"),
    ("DELETE", rf"^/v1/(?P<name>{_LOCATION}/reservations/[^/]+)$", "delete_reservation"),  # tests only
    ("GET", rf"^/v1/(?P<parent>{_LOCATION}/reservations/[^/]+)/assignments$", "list_assignments"),
    ("POST", rf"^/v1/(?P<parent>{_LOCATION}/reservations/[^/]+)/assignments$", "create_assignment"),
    ("DELETE", rf"^/v1/(?P<name>{_LOCATION}/reservations/[^/]+/assignments/[^/]+)$", "delete_assignment"),
]


class ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _enum(value: Any, names: dict[int, str], field: str) -> str:
    if isinstance(value, int):
        if value not in names:
            raise ApiError(400, f"Invalid value for {field}: {value}")
        return names[value]
    if value not in names.values():
        raise ApiError(400, f"Invalid value for {field}: {value!r}")
    return str(value)


class FakeReservationApi:
    """The API's state and behaviour; thread-safe; independent of HTTP for direct inspection."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.config: dict[str, Any] = {}
        self.reset()

    def reset(self) -> None:
        self.commitments: dict[str, dict[str, Any]] = {}
        self.reservations: dict[str, dict[str, Any]] = {}
        self.assignments: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.changes: list[tuple[str, str, int]] = []  # (reservation, field, new value), in order
        self.config = {
            "active_after_reads": 1,
            "fail_commitments": False,
            "flex_min_age_seconds": 0,
            "flex_delete_refusals": 0,
            "fail_next": {},
            "baseline_decrease_refusals": 0,
        }

    # -- fault injection --------------------------------------------------------------------------
    def injected_failure(self, method: str, path: str) -> int | None:
        for key, statuses in self.config["fail_next"].items():
            want_method, _, fragment = key.partition(" ")
            if want_method == method and fragment in path and statuses:
                return int(statuses.pop(0))
        return None

    # -- commitments ------------------------------------------------------------------------------
    def create_commitment(self, parent: str, body: dict, query: dict) -> dict:
        plan = _enum(body.get("plan", 0), PLANS, "plan")
        slots = int(body.get("slotCount", 0))
        if slots <= 0:
            raise ApiError(400, "slot_count must be positive")
        cid = (query.get("capacityCommitmentId") or [None])[0] or str(next(self.ids) + 10**15)
        name = f"{parent}/capacityCommitments/{cid}"
        if name in self.commitments:
            raise ApiError(409, f"Capacity commitment {name} already exists")
        self.commitments[name] = {
            "name": name,
            "slotCount": str(slots),
            "plan": plan,
            "state": "PENDING",
            "commitmentStartTime": _now(),
            "_created": time.monotonic(),
            "_reads": 0,
        }
        return self._public(self.commitments[name])

    def _advance(self, c: dict) -> None:
        if c["state"] != "PENDING":
            return
        c["_reads"] += 1
        if self.config["fail_commitments"]:
            c["state"] = "FAILED"
            c["failureStatus"] = {
                "code": 8,
                "message": "Not enough capacity in this region for the commitment",
            }
        elif (
            self.config["active_after_reads"] is not None and c["_reads"] >= self.config["active_after_reads"]
        ):
            c["state"] = "ACTIVE"

    def get_commitment(self, name: str, body: dict, query: dict) -> dict:
        c = self._find(self.commitments, name, "Capacity commitment")
        self._advance(c)
        return self._public(c)

    def list_commitments(self, parent: str, body: dict, query: dict) -> dict:
        items = [self._public(c) for n, c in sorted(self.commitments.items()) if n.startswith(parent + "/")]
        return {"capacityCommitments": items}

    def delete_commitment(self, name: str, body: dict, query: dict) -> dict:
        c = self._find(self.commitments, name, "Capacity commitment")
        age = time.monotonic() - c["_created"]
        refuse = self.config["flex_delete_refusals"] > 0
        if c["plan"] == "FLEX" and c["state"] == "ACTIVE" and refuse:
            self.config["flex_delete_refusals"] -= 1
        if (
            c["plan"] == "FLEX"
            and c["state"] == "ACTIVE"
            and (refuse or age < self.config["flex_min_age_seconds"])
        ):
            raise ApiError(
                400,
                f"Capacity commitment {name} cannot be deleted before its minimum term ends "
                f"({self.config['flex_min_age_seconds']} s after creation)",
            )
        del self.commitments[name]
        return {}

    # -- reservations -----------------------------------------------------------------------------
    def seed_reservation(self, body: dict) -> dict:
        name = body["name"]
        self.reservations[name] = {
            "name": name,
            "slotCapacity": str(int(body.get("slotCapacity", 0))),
            "ignoreIdleSlots": bool(body.get("ignoreIdleSlots", False)),
            "autoscale": {"maxSlots": str(int(body.get("autoscale", {}).get("maxSlots", 0)))},
            "edition": body.get("edition", "ENTERPRISE"),
            "creationTime": _now(),
            "updateTime": _now(),
        }
        return self.reservations[name]

    def get_reservation(self, name: str, body: dict, query: dict) -> dict:
        return self._find(self.reservations, name, "Reservation")

    def delete_reservation(self, name: str, body: dict, query: dict) -> dict:
        self._find(self.reservations, name, "Reservation")
        if any(a_name.startswith(f"{name}/assignments/") for a_name in self.assignments):
            raise ApiError(400, f"Reservation {name} has assignments; delete them first")
        del self.reservations[name]
        return {}

    def update_reservation(self, name: str, body: dict, query: dict) -> dict:
        res = self._find(self.reservations, name, "Reservation")
        mask = [p for m in query.get("updateMask", []) for p in m.split(",") if p]
        if not mask:
            raise ApiError(400, "update_mask is required")
        for path in mask:
            if path == "slotCapacity":
                new = int(body.get("slotCapacity", 0))
                if new < 0:
                    raise ApiError(400, "slot_capacity must not be negative")
                if new < int(res["slotCapacity"]) and self.config["baseline_decrease_refusals"] > 0:
                    self.config["baseline_decrease_refusals"] -= 1
                    raise ApiError(429, "Baseline slot decreases are rate limited; retry later")
                res["slotCapacity"] = str(new)
                self.changes.append((name, "slotCapacity", new))
            elif path in ("autoscale.maxSlots", "autoscale"):
                res["autoscale"] = {"maxSlots": str(int(body.get("autoscale", {}).get("maxSlots", 0)))}
                self.changes.append((name, "autoscale.maxSlots", int(res["autoscale"]["maxSlots"])))
            else:
                raise ApiError(400, f"Unsupported update_mask path {path!r}")
        res["updateTime"] = _now()
        return res

    # -- assignments ------------------------------------------------------------------------------
    def list_assignments(self, parent: str, body: dict, query: dict) -> dict:
        self._find(self.reservations, parent, "Reservation")
        return {"assignments": [a for n, a in sorted(self.assignments.items()) if n.startswith(parent + "/")]}

    def create_assignment(self, parent: str, body: dict, query: dict) -> dict:
        self._find(self.reservations, parent, "Reservation")
        assignee = body.get("assignee", "")
        if not re.match(r"^(projects|folders|organizations)/[^/]+$", assignee):
            raise ApiError(400, f"Invalid assignee {assignee!r}")
        job_type = _enum(body.get("jobType", 0), JOB_TYPES, "job_type")
        for a in self.assignments.values():
            if a["assignee"] == assignee and a["jobType"] == job_type:
                raise ApiError(409, f"{assignee} already has a {job_type} assignment: {a['name']}")
        name = f"{parent}/assignments/{next(self.ids)}"
        self.assignments[name] = {"name": name, "assignee": assignee, "jobType": job_type, "state": "ACTIVE"}
        return self.assignments[name]

    def delete_assignment(self, name: str, body: dict, query: dict) -> dict:
        self._find(self.assignments, name, "Assignment")
        del self.assignments[name]
        return {}

    # -- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _find(table: dict[str, dict], name: str, what: str) -> dict:
        if name not in table:
            raise ApiError(404, f"{what} {name} not found")
        return table[name]

    @staticmethod
    def _public(c: dict) -> dict:
        return {k: v for k, v in c.items() if not k.startswith("_")}

    def state(self) -> dict:
        return {
            "commitments": [self._public(c) for c in self.commitments.values()],
            "reservations": list(self.reservations.values()),
            "assignments": list(self.assignments.values()),
            "calls": list(self.calls),
            "changes": [list(c) for c in self.changes],
        }


class _Handler(BaseHTTPRequestHandler):
    api: FakeReservationApi

    protocol_version = "HTTP/1.1"

    def _send(self, code: int, payload: dict) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            self._send(
                400,
                {"error": {"code": 400, "message": "Invalid JSON payload", "status": "INVALID_ARGUMENT"}},
            )
            return
        query = parse_qs(url.query)
        with self.api.lock:
            if url.path.startswith("/_fake/"):
                self._admin(url.path, body)
                return
            self.api.calls.append(f"{self.command} {url.path}")
            injected = self.api.injected_failure(self.command, url.path)
            if injected:
                self._error(injected, "injected fault")
                return
            if self._route(url.path, body, query):
                return
        self._error(404, f"No route for {self.command} {url.path}", "NOT_FOUND")

    def _error(self, code: int, message: str, status: str | None = None) -> None:
        name = status or STATUS_NAMES.get(code, "UNKNOWN")
        self._send(code, {"error": {"code": code, "message": message, "status": name}})

    def _route(self, path: str, body: dict, query: dict) -> bool:
        """Answer from the first route matching method and path; False when none does."""
        for method, pattern, handler in ROUTES:
            m = re.match(pattern, path)
            if not (m and method == self.command):
                continue
            try:
                result = getattr(self.api, handler)(next(iter(m.groupdict().values())), body, query)
            except ApiError as err:
                self._error(err.code, err.message, STATUS_NAMES.get(err.code, "INVALID_ARGUMENT"))
            else:
                self._send(200, result)
            return True
        return False

    def _admin(self, path: str, body: dict) -> None:
        if path == "/_fake/reset":
            self.api.reset()
            self._send(200, {})
        elif path == "/_fake/config":
            self.api.config.update(body)
            self._send(200, self.api.config)
        elif path == "/_fake/reservations":
            self._send(200, self.api.seed_reservation(body))
        elif path == "/_fake/state":
            self._send(200, self.api.state())
        else:
            self._send(404, {"error": {"code": 404, "message": path, "status": "NOT_FOUND"}})

    do_GET = do_POST = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_handler(api: FakeReservationApi) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"api": api})


class FakeReservationServer:
    """The fake on a 127.0.0.1 port, served from a background thread."""

    def __init__(self, port: int = 0) -> None:
        self.api = FakeReservationApi()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), make_handler(self.api))
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="bq-reservation-fake", daemon=True
        )

    def start(self) -> FakeReservationServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def connection(self, project: str = "admin-proj") -> str:
        """An Airflow google_cloud_platform connection (JSON) whose client reaches this fake."""
        extra = {"api_endpoint": self.url, "project": project, "is_anonymous": True}
        return json.dumps({"conn_type": "google_cloud_platform", "extra": extra})

    def seed_for(self, block: dict[str, Any], slot_capacity: int = 100) -> str:
        """The reservation a ``slot_capacity`` config block names, with the assignee's QUERY
        assignment, as an administrator would have set them up; returns the reservation name."""
        parent = f"projects/{block['admin_project']}/locations/{block['location']}"
        name = f"{parent}/reservations/{block['reservation']}"
        self.api.seed_reservation({"name": name, "slotCapacity": slot_capacity})
        assignment = {"assignee": f"projects/{block['assignee_project']}", "jobType": "QUERY"}
        self.api.create_assignment(name, assignment, {})
        return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed-reservation", action="append", default=[], help="name=slots, repeatable")
    args = parser.parse_args()
    server = FakeReservationServer(args.port)
    for spec in args.seed_reservation:
        name, _, slots = spec.partition("=")
        server.api.seed_reservation({"name": name, "slotCapacity": slots or 0})
    print(f"BigQuery Reservation API fake on {server.url}", flush=True)
    try:
        server.httpd.serve_forever()
    finally:
        server.httpd.server_close()


if __name__ == "__main__":
    main()
