"""Provisioning a Databricks workspace: AWS API calls per preflight (the account-API figures come later).

The runbook's hands-on VPC is built in moto (in-process ``mock_aws``): 4 subnets (public, two cluster
subnets, endpoint subnet), the cluster and endpoint security groups, and 7 VPC endpoints (S3 gateway;
STS, Kinesis, relay, workspace, front-end and CloudWatch Logs interface endpoints), plus the IAM roles
and the root bucket. The preflight reads it through AwsNetworkHook (an Airflow AWS connection) and every
AWS call is counted by ``service.Operation``.

To show the count depends neither on the number of rules nor on the VPC's size, the same preflight is
repeated on a VPC with 8 more interface endpoints, and the calls made while the rules are
evaluated are counted (none: the rules read the snapshot). Figures, not assertions.
Last line: AWS calls per preflight (account figures: pending).
Run with the benchmark environment: .venv-bench/bin/python benchmarks/provision.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / ".work" / "provision"
sys.path[:0] = [str(REPO), str(REPO / "plugins")]
REGION = "ap-northeast-1"


def log(text: str) -> None:
    print(text, flush=True)


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


def main() -> None:
    environment()
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
            f"{len(seven.request().role_arns)} roles): "
            f"{figures['hands-on']}; account figures: pending"
        )


if __name__ == "__main__":
    main()
