"""Provisioning a Databricks workspace: AWS calls per preflight, account API calls, worker slots held.

The runbook's hands-on VPC is built in moto (in-process ``mock_aws``): 4 subnets (public, two cluster
subnets, endpoint subnet), the cluster and endpoint security groups, and 7 VPC endpoints (S3 gateway;
STS, Kinesis, relay, workspace, front-end and CloudWatch Logs interface endpoints), plus the IAM roles
and the root bucket. The preflight reads it through AwsNetworkHook (an Airflow AWS connection) and every
AWS call is counted by ``service.Operation``.

To show the count depends neither on the number of rules nor on the VPC's size, the same preflight is
repeated on a VPC with 8 more interface endpoints, and the calls made while the rules are
evaluated are counted (none: the rules read the snapshot).

Account API (the Databricks sandbox, sandbox/databricks, a child process; its
``/_sandbox/accounts/stats`` counts requests by method): a first run of the hands-on workspace
(find-or-create every object through DatabricksAccountHook.ensure_all, then the operator's status
read and the trigger's wait for RUNNING) and a re-run of it (every object found by name: the target
is 0 writes).

Worker slots: ``BENCH_PROVISION_WORKSPACES`` (default 20) workspaces are created at once, each
RUNNING ``BENCH_PROVISION_SECONDS`` (default 15) after its creation, and waited for two ways, polling
every ``BENCH_PROVISION_POLL_SECONDS`` (default 2): deferrable (N WorkspaceRunningTrigger.run()
coroutines on one event loop in one process: the triggerer; no worker slot) and poke (N processes,
each doing what a non-deferrable WorkspaceDeployOperator does on its worker slot: its poll()). The
slots are the waiting task processes seen alive at the same time. Figures, not assertions.
Last line: AWS calls per preflight, account writes on re-run, worker slots held (deferrable vs poke).
Run with the benchmark environment: ``make bench`` (or .venv-bench/bin/python benchmarks/provision.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / ".work" / "provision"
sys.path[:0] = [str(REPO), str(REPO / "plugins")]
REGION = "ap-northeast-1"
DBX_CONN = "bench_dbx"

from _processes import stop_on_signals  # noqa: E402 (benchmarks/)
from _wait_processes import cpu_seconds, log, peak_rss_mb, result, spawn  # noqa: E402 (benchmarks/)

N = int(os.environ.get("BENCH_PROVISION_WORKSPACES", "20"))
PROVISION_SECONDS = float(os.environ.get("BENCH_PROVISION_SECONDS", "15"))
POLL = float(os.environ.get("BENCH_PROVISION_POLL_SECONDS", "2"))


def environment() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW_HOME", str(WORK / "airflow"))
    conn = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": {"region_name": REGION}}
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AIRFLOW_CONN_BENCH_AWS": json.dumps(conn),
        }
    )


def by_service(calls: Counter[str]) -> str:
    services: Counter[str] = Counter()
    for name, count in calls.items():
        services[name.split(".")[0]] += count
    return ", ".join(f"{s} {n}" for s, n in sorted(services.items()))


def preflight_figures() -> tuple[int, Any]:
    """AWS calls per preflight (the hands-on VPC and a bigger one); also the hands-on VPC's ids."""
    from moto import mock_aws

    from platform_ops.core import workspace_preflight as wp
    from platform_ops.hooks.aws_network import AwsNetworkHook
    from sandbox.aws_vpc import Knobs, boto3_factory, build_hands_on_vpc

    with mock_aws():
        clients = boto3_factory(REGION)
        seven = build_hands_on_vpc(clients, REGION, Knobs(extra_interface_services=("logs",)))
        bigger = build_hands_on_vpc(
            clients,
            REGION,
            Knobs(
                name_prefix="wk2",
                extra_interface_services=(
                    "logs",
                    "ecr.api",
                    "ecr.dkr",
                    "glue",
                    "ssm",
                    "ec2",
                    "kms",
                    "sqs",
                    "sns",
                ),
            ),
        )
        figures: dict[str, int] = {}
        breakdown: dict[str, dict[str, int]] = {}
        for label, hands_on in (("hands-on", seven), ("bigger", bigger)):
            hook = AwsNetworkHook(aws_conn_id="bench_aws", region_name=REGION)
            request = hands_on.request()
            started = time.perf_counter()
            snapshot = hook.snapshot(request)
            seconds = time.perf_counter() - started
            before = hook.call_count
            report = wp.evaluate(snapshot, request)
            evaluation_calls = hook.call_count - before  # the rules read the snapshot only
            figures[label] = before
            breakdown[label] = dict(hook.calls)
            log(
                f"{label}: {len(snapshot.subnets)} subnets, {len(snapshot.security_groups)} security groups "
                f"(incl. the VPC's default), {len(snapshot.endpoints)} endpoints, "
                f"{len(snapshot.roles)} roles -> "
                f"{hook.call_count} AWS calls ({by_service(hook.calls)}) in {seconds:.2f} s on moto; "
                f"{len(report.rules_checked)} rules evaluated -> {len(report.findings)} findings, "
                f"{evaluation_calls} AWS calls during the evaluation"
            )
        for name, count in sorted(breakdown["hands-on"].items()):
            log(f"  {name}: {count}")
        log(
            f"calls per preflight with 8 more endpoints: {figures['bigger']} "
            f"(same as {figures['hands-on']}: describes are batched per resource kind, filtered by VPC)"
        )
        log(
            f"AWS calls per preflight (4 subnets, 2 groups, 7 endpoints, "
            f"{len(seven.request().role_arns)} roles): {figures['hands-on']}"
        )
        return figures["hands-on"], seven


def workspace_params(h: Any, index: int | None = None) -> dict[str, Any]:
    """One workspace's parameters on the hands-on VPC; with ``index``, a distinct copy (own subnets,
    groups and endpoints: the account API refuses to share them between networks)."""
    from sandbox.databricks.launcher import ACCOUNT_ID

    def own(resource_id: str) -> str:
        return resource_id if index is None else f"{resource_id[:-4]}{index:04x}"

    name = "bench-hands-on" if index is None else f"bench-{index:03d}"
    return {
        "account_id": ACCOUNT_ID,
        "aws_account_id": h.aws_account_id,
        "region": h.region,
        "deployment_name": name,
        "credentials": {"role_arn": h.cross_account_role_arn},
        "storage": {"bucket_name": h.root_bucket_name, "role_arn": h.storage_role_arn},
        "network": {
            "vpc_id": own(h.vpc_id),
            "subnet_ids": [own(s) for s in h.cluster_subnet_ids],
            "cluster_security_group_ids": [own(h.cluster_group_id)],
            "endpoint_security_group_id": own(h.endpoint_group_id),
            "endpoint_subnet_ids": [own(h.endpoint_subnet_id)],
        },
        "private_link": {
            "rest_api_endpoint": {"aws_vpc_endpoint_id": own(h.endpoint_ids["workspace"])},
            "dataplane_relay_endpoint": {"aws_vpc_endpoint_id": own(h.endpoint_ids["relay"])},
            "front_end_endpoint_id": own(h.endpoint_ids["front_end"]),
            "private_access_settings": {"public_access_enabled": False},
        },
        "max_nodes": 20,
    }


def create(params: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Find or create every account object of one workspace, as the operator does: the workspace id
    and the ids recorded on the way (the operator's run state)."""
    from platform_ops.core.workspace_deploy import parse_deploy_params
    from platform_ops.hooks.databricks_account import DatabricksAccountHook

    deployment = parse_deploy_params(params).deployment
    recorded: dict[str, str] = {}
    hook = DatabricksAccountHook(DBX_CONN)
    found = hook.ensure_all(
        deployment,
        recorded=dict(recorded),
        on_id=lambda kind, name, oid: recorded.__setitem__(f"{kind}:{name}", oid),
        iam_checked=True,
    )
    return str(found[-1].object_id), recorded


def wait_running(workspace_ids: list[str]) -> list[str]:
    """The triggerer's share: every wait on one event loop until each fired its event; outcomes."""
    from platform_ops.triggers.workspace_deploy import WorkspaceRunningTrigger

    deadline = time.time() + PROVISION_SECONDS * 4 + 60

    async def first_event(workspace_id: str) -> str:
        trigger = WorkspaceRunningTrigger(workspace_id, deadline, DBX_CONN, poll_interval=POLL)
        async for event in trigger.run():
            return str(event.payload["outcome"])
        return "none"

    async def all_events() -> list[str]:
        return await asyncio.gather(*(first_event(w) for w in workspace_ids))

    return asyncio.run(all_events())


def by_method(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """Account API requests between two stats reads, per HTTP method."""
    old = before["by_method"]
    return {m: n - old.get(m, 0) for m, n in sorted(after["by_method"].items()) if n - old.get(m, 0)}


def account_figures(sandbox: Any, params: dict[str, Any]) -> dict[str, int]:
    """Account API calls of a first run and of a re-run of one workspace; the re-run's by method."""
    from platform_ops.core.workspace_deploy import parse_deploy_params
    from platform_ops.hooks.databricks_account import DatabricksAccountHook
    from platform_ops.triggers.workspace_deploy import read_status

    hook = DatabricksAccountHook(DBX_CONN)
    sandbox.configure_accounts(provision_seconds=2.0)
    start = sandbox.account_stats()
    workspace_id, recorded = create(params)
    status = read_status(hook, workspace_id)  # the operator's one read before it defers
    outcomes = wait_running([workspace_id]) if status.status != "RUNNING" else ["running"]
    first = sandbox.account_stats()
    again = hook.ensure_all(parse_deploy_params(params).deployment, recorded=recorded, iam_checked=True)
    rerun_status = read_status(hook, workspace_id)
    second = sandbox.account_stats()
    first_calls, rerun_calls = by_method(start, first), by_method(first, second)
    old = start["by_route"]
    posts = {
        k[5:]: n - old.get(k, 0)
        for k, n in first["by_route"].items()
        if k[:5] == "POST " and n > old.get(k, 0)
    }
    log(
        f"account API, first run (find-or-create 7 objects, wait for RUNNING: {outcomes[0]}): "
        f"{sum(first_calls.values())} calls {first_calls}; POSTs by kind {posts}"
    )
    log(
        f"account API, re-run ({sum(o.created for o in again)} created, {len(again)} adopted by name, "
        f"workspace {rerun_status.status}): {sum(rerun_calls.values())} calls {rerun_calls}"
    )
    writes = sum(n for m, n in rerun_calls.items() if m in ("POST", "PUT", "PATCH", "DELETE"))
    return {"first": sum(first_calls.values()), "rerun": sum(rerun_calls.values()), "rerun_writes": writes}


def alive_peak(procs: list[Any]) -> int:
    """How many of ``procs`` were seen running at the same time while they wait (sampled)."""
    peak = 0
    while True:
        alive = sum(p.poll() is None for p in procs)
        peak = max(peak, alive)
        if not alive:
            return peak
        time.sleep(0.2)


def slot_figures(sandbox: Any, params_of: Any, env: dict[str, str]) -> tuple[int, int]:
    """N workspaces provisioning at once, waited for deferrable then poke: worker slots held by each."""
    sandbox.configure_accounts(provision_seconds=PROVISION_SECONDS)
    ids = [create(params_of(i))[0] for i in range(N)]
    proc = spawn(__file__, "deferrable", ids, env)
    deferred = result(proc)
    log(
        f"deferrable: {deferred['running']}/{N} RUNNING in {deferred['seconds']:.1f} s; worker slots held "
        f"during the wait: 0 (one triggerer process); CPU {deferred['cpu']:.2f} s "
        f"({deferred['cpu'] / N * 1000:.1f} ms per wait); memory {deferred['rss_growth_mb']:.1f} MB over "
        f"the triggerer's baseline (process peak {deferred['rss_mb']:.0f} MB)"
    )
    ids = [create(params_of(N + i))[0] for i in range(N)]
    t0 = time.monotonic()
    procs = [spawn(__file__, "poke", [w], env) for w in ids]
    held = alive_peak(procs)
    pokes = [result(p) for p in procs]
    log(
        f"poke: {sum(p['running'] for p in pokes)}/{N} RUNNING in {time.monotonic() - t0:.1f} s; worker "
        f"slots held during the wait: {held} (a task process each); CPU "
        f"{sum(p['cpu'] for p in pokes) / N * 1000:.0f} ms per wait; memory "
        f"{sum(p['rss_mb'] for p in pokes) / N:.0f} MB per wait"
    )
    return 0, held


def deferrable_child(workspace_ids: list[str]) -> dict[str, Any]:
    """The triggerer's share of N waits (a child process, measured)."""
    import platform_ops.triggers.workspace_deploy  # noqa: F401 - imported before the baseline

    baseline, cpu0, t0 = peak_rss_mb(), cpu_seconds(), time.monotonic()
    outcomes = wait_running(workspace_ids)
    return {
        "seconds": time.monotonic() - t0,
        "cpu": cpu_seconds() - cpu0,
        "rss_growth_mb": peak_rss_mb() - baseline,
        "rss_mb": peak_rss_mb(),
        "running": outcomes.count("running"),
    }


def poke_child(workspace_id: str) -> dict[str, Any]:
    """One non-deferrable operator's wait on its worker slot: its poll() until RUNNING."""
    from platform_ops.operators.workspace_deploy import WorkspaceDeployOperator

    op = WorkspaceDeployOperator(
        task_id="provision", databricks_conn_id=DBX_CONN, poll_interval=POLL, deferrable=False
    )
    cpu0, t0 = cpu_seconds(), time.monotonic()
    event = op.poll(workspace_id, time.time() + PROVISION_SECONDS * 4 + 60)
    return {
        "seconds": time.monotonic() - t0,
        "cpu": cpu_seconds() - cpu0,
        "rss_mb": peak_rss_mb(),
        "running": int(event.outcome.value == "running"),
    }


def main() -> None:
    stop_on_signals()
    environment()
    logging.getLogger("airflow.task.hooks").setLevel(logging.WARNING)  # not each "Creating ..." line
    calls, hands_on = preflight_figures()
    from sandbox.databricks.launcher import ACCOUNT_ID, DatabricksSandbox

    sandbox = DatabricksSandbox(WORK / "sandbox").start()
    try:
        os.environ[f"AIRFLOW_CONN_{DBX_CONN.upper()}"] = sandbox.account_connection(ACCOUNT_ID)
        account = account_figures(sandbox, workspace_params(hands_on))
        deferrable, poke = slot_figures(sandbox, lambda i: workspace_params(hands_on, i), dict(os.environ))
    finally:
        sandbox.stop()
    log(
        f"AWS calls per preflight: {calls}; account API writes on re-run: {account['rerun_writes']} "
        f"(first run {account['first']} calls, re-run {account['rerun']}); worker slots held while {N} "
        f"workspaces provision, deferrable vs poke: {deferrable} vs {poke}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("--deferrable", "--poke"):
        environment()
        ids = json.loads(sys.argv[2])
        out = deferrable_child(ids) if sys.argv[1] == "--deferrable" else poke_child(ids[0])
        print(json.dumps(out), flush=True)
    else:
        main()
