"""Jobs run routes minilake lacks or reads differently from Databricks, for the provider's run-now operator.

* ``GET /api/2.2/jobs/runs/get`` and ``/runs/get-output`` also take their parameters as a JSON
  body, as Databricks does and as the provider's async client (the deferrable operator's trigger)
  sends them; ``runs/get`` answers ``repair_history`` (the original run, then each repair), which
  the provider reads before a repair. Both answer what minilake's own routes answer otherwise.
* ``POST /api/2.2/jobs/runs/repair``, which minilake's jobs API lacks.

The Databricks provider's run-now operator repairs a failed run (``repair_run=True``) instead of
starting a new one: it posts ``{"run_id", "rerun_all_failed_tasks": true, "job_parameters"?,
"latest_repair_id"?}`` and polls the same run again. Here the repair puts the run back to PENDING
and runs it again with minilake's own scheduler, under the same run id, and answers
``{"repair_id"}``. minilake re-runs every task of the run: the same as re-running the failed ones for
the single-task training jobs the serving DAG runs. A run that has not finished, or did not
fail, cannot be repaired (400 INVALID_STATE), as on Databricks; an unknown run is 404.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from fastapi import APIRouter, Request

from sandbox.databricks.fault import ApiError, Faults, not_found, read_json

REPAIRABLE = {"FAILED", "TIMEDOUT", "CANCELED", "MAXIMUM_CONCURRENT_RUNS_REACHED", "UPSTREAM_FAILED"}


def router(faults: Faults) -> APIRouter:
    """The repair route, over minilake's run store and scheduler."""
    # minilake keeps its runs in a module-level store and runs them with a module-level
    # coroutine; neither has a public name, and the sandbox reuses both rather than copy them.
    from minilake.services import jobs as minilake_jobs

    api = APIRouter()  # faults: server.py's FaultLayer
    repair_ids = itertools.count(1)
    background: set[asyncio.Task[None]] = set()

    async def run_id_of(request: Request) -> int:
        raw = request.query_params.get("run_id")
        if raw is None:
            body = await request.body()
            raw = json.loads(body).get("run_id") if body else None
        if raw is None:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "run_id is required")
        return int(raw)

    @api.get("/api/2.2/jobs/runs/get")
    @api.get("/api/2.1/jobs/runs/get")
    async def get_run(request: Request) -> dict[str, Any]:
        run_id = await run_id_of(request)
        info = await minilake_jobs.get_run(request, run_id)
        history = [{"type": "ORIGINAL", "id": run_id}]
        history += [
            {"type": "REPAIR", "id": r} for r in minilake_jobs._state["runs"][run_id].get("_repairs", [])
        ]
        return {**info.model_dump(mode="json", exclude_none=True), "repair_history": history}

    @api.get("/api/2.2/jobs/runs/get-output")
    @api.get("/api/2.1/jobs/runs/get-output")
    async def get_run_output(request: Request) -> dict[str, Any]:
        output = await minilake_jobs.get_run_output(await run_id_of(request))
        return output.model_dump(mode="json", exclude_none=True)

    @api.post("/api/2.2/jobs/runs/repair")
    @api.post("/api/2.1/jobs/runs/repair")
    async def repair(request: Request) -> dict:
        body = await read_json(request)
        run = minilake_jobs._state["runs"].get(int(body.get("run_id") or 0))
        if run is None:
            raise not_found(f"Run {body.get('run_id')} does not exist.")
        state = run["state"]
        if state.get("life_cycle_state") != "TERMINATED" or state.get("result_state") not in REPAIRABLE:
            raise ApiError(400, "INVALID_STATE", f"Run {run['run_id']} is not a finished failed run: {state}")
        repair_id = next(repair_ids)
        run.setdefault("_repairs", []).append(repair_id)
        run["state"] = {"life_cycle_state": "PENDING", "result_state": None, "state_message": None}
        argv = minilake_jobs._params_to_argv(
            static_list=None, static_dict=None, runtime_list=None, runtime_dicts=[body.get("job_parameters")]
        )
        task = asyncio.create_task(minilake_jobs._execute_run(run["run_id"], argv))
        background.add(task)
        task.add_done_callback(background.discard)
        return {"repair_id": repair_id}

    return api
