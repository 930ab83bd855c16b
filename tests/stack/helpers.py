"""Reading Airflow's state back through the REST API v2, as a person or a script would."""

from __future__ import annotations

from typing import Any

from airflow_stack import Stack


def unpause(stack: Stack, dag_id: str) -> None:
    def parsed() -> bool:
        try:
            return bool(stack.api("GET", f"/dags/{dag_id}"))
        except RuntimeError:
            return False

    stack.wait_for(parsed, 180, f"the dag-processor to serialise {dag_id}")
    stack.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})


def run(stack: Stack, dag_id: str, run_id: str) -> dict:
    return stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")


def wait_run(stack: Stack, dag_id: str, run_id: str, state: str, timeout: float = 300) -> dict:
    def reached() -> dict | None:
        current = run(stack, dag_id, run_id)
        if current["state"] in ("success", "failed") and current["state"] != state:
            raise AssertionError(f"{dag_id} {run_id} ended {current['state']}, expected {state}")
        return current if current["state"] == state else None

    return stack.wait_for(reached, timeout, f"{dag_id} {run_id} to be {state}", every=2)


def runs(stack: Stack, dag_id: str, run_type: str | None = None) -> list[dict]:
    params: dict[str, Any] = {"limit": 100}
    if run_type:
        params["run_type"] = run_type
    return stack.api("GET", f"/dags/{dag_id}/dagRuns", params=params)["dag_runs"]


def task_instances(stack: Stack, dag_id: str, run_id: str) -> list[dict]:
    return stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})[
        "task_instances"
    ]


def tries(stack: Stack, dag_id: str, run_id: str, task_id: str) -> list[dict]:
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries"
    return stack.api("GET", path)["task_instances"]


def xcom(stack: Stack, dag_id: str, run_id: str, task_id: str, key: str, map_index: int = -1) -> Any:
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
    return stack.api("GET", path, params={"deserialize": True, "map_index": map_index})["value"]


def task_log(
    stack: Stack, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1
) -> str:
    """The task log of one try as the UI shows it (read back from remote storage once the try ended)."""
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
    body = stack.api("GET", path, params={"full_content": True, "map_index": map_index},
                     headers={"Accept": "application/json"})  # fmt: skip
    content = body["content"]
    if isinstance(content, str):
        return content
    return "\n".join(
        str(line.get("event", line)) if isinstance(line, dict) else str(line) for line in content
    )
