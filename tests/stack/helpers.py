"""Reading Airflow's state back through the REST API v2, as a person or a script would."""

from __future__ import annotations

from typing import Any

from airflow_stack import LOG_BUCKET, Stack


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


def log_key(stack: Stack, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1,
            timeout: float = 120) -> str:  # fmt: skip
    """The S3 key of one try's log once the worker has uploaded it.

    A try's state reaches the API before its supervisor uploads the log, and the API reads a log
    not yet in remote storage from the worker's log server instead (``worker-2:8793``, a name only
    the worker knows). So wait for the object itself, not for a time."""
    folder = stack.env["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"].removeprefix(f"s3://{LOG_BUCKET}/")
    suffix = (f"map_index={map_index}/" if map_index >= 0 else "") + f"attempt={try_number}.log"
    key = f"{folder.rstrip('/')}/dag_id={dag_id}/run_id={run_id}/task_id={task_id}/{suffix}"
    s3 = stack.s3_client()

    def uploaded() -> str | None:
        found = s3.list_objects_v2(Bucket=LOG_BUCKET, Prefix=key).get("Contents", [])
        return key if any(o["Key"] == key for o in found) else None

    return stack.wait_for(uploaded, timeout, f"s3://{LOG_BUCKET}/{key}", every=1)


def task_log(
    stack: Stack, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1,
    wait: float = 120,
) -> str:  # fmt: skip
    """The task log of one try as the UI shows it, read back from remote storage once the worker
    uploaded it (see ``log_key``). ``wait=0`` reads whatever the API has now: for a try whose
    worker was killed, whose log never reaches S3."""
    if wait:
        log_key(stack, dag_id, run_id, task_id, try_number, map_index, timeout=wait)
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
    body = stack.api("GET", path, params={"full_content": True, "map_index": map_index},
                     headers={"Accept": "application/json"})  # fmt: skip
    content = body["content"]
    text = (
        content
        if isinstance(content, str)
        else "\n".join(
            str(line.get("event", line)) if isinstance(line, dict) else str(line) for line in content
        )
    )
    if wait and "Could not read served logs" in text and f"s3://{LOG_BUCKET}/" not in text:
        where = f"{dag_id} {run_id} {task_id} try {try_number}"
        raise AssertionError(f"{where}: the API did not read the log from S3:\n{text[-2000:]}")
    return text
