"""make demo: run every DAG that has a local mode end to end and print where everything went.

A DAG has a local mode when it carries the tag ``local``. Each runs through ``airflow dags test``
(the real scheduler loop, task runner, params validation and retries) on the embedded defaults:
SQLite metadata DB in .airflow/, DuckDB for the warehouse, file:// run state. DAGs with a scenario
below run it (several steps, each with the outcome it expects); the others run once.
Exit code: non-zero when any step ends differently from what it expects.

    scripts/demo.py [DAG_ID ...]   # only these DAGs (e.g. databricks_workspace_provision_local_demo)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import stand_ins  # scripts/, beside this file

REPO = Path(__file__).resolve().parents[1]
HOME = Path(os.environ.get("AIRFLOW_HOME", REPO / ".airflow"))
DEMO = HOME / "demo"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
POOLS = REPO / "include" / "config" / "pools.json"
FAKES: dict[str, Any] = {}  # local stand-ins started for the demo, by name
SERVED_MODEL = "main.ml.churn"
SERVING_DAG = "model_serving_deploy_churn"


@dataclass
class Step:
    title: str
    date: str
    conf: dict = field(default_factory=dict)
    expect: str = "success"
    before: Callable[[], None] | None = None  # e.g. a knob of a local stand-in
    # reads the step's log once it ended: (did it do what it should, notes to print)
    after: Callable[[Path], tuple[bool, list[str]]] | None = None


def register_model_version() -> None:
    """A new version of the served model lands in Unity Catalog (what a training run does)."""
    FAKES["databricks"].add_model_version(SERVED_MODEL)


def no_flex_capacity() -> None:
    """The Reservation API fake keeps new commitments PENDING: capacity is not available."""
    FAKES["bigquery_reservation"].api.config["active_after_reads"] = None


# -- workspace provisioning: the hands-on VPC in a moto server, the sandbox's account API ---------------
PROVISION_DAG = "databricks_workspace_provision_local_demo"
WORKSPACE_TEMPLATE = REPO / "include" / "config" / "workspaces" / "local-demo.yaml"
NPIP_TEXT = ("NPIP tunnel setup failure", "WaitForNgrokTunnel")
PROVISION: dict[str, Any] = {}  # the moto VPC, its clients, the hardening, request counts before a step


def workspace_config() -> None:
    """Write the demo workspace's file (the shipped one, with the ids moto gave) where the DAG reads it,
    and remember the S3 commit-service hardening it asks for (None when it names no instance profile)."""
    from platform_ops.config_files import load_yaml
    from platform_ops.core.workspace_deploy import hardening_from_params

    doc = PROVISION["vpc"].fill_workspace_file(load_yaml(WORKSPACE_TEMPLATE))
    (DEMO / "workspaces" / WORKSPACE_TEMPLATE.name).write_text(json.dumps(doc, indent=2))  # JSON is YAML
    PROVISION["deployment"] = doc["deployment_name"]
    PROVISION["hardening"] = hardening_from_params(doc, doc["deployment_name"])


def start_provisioning_stand_ins(env: dict[str, str]) -> None:
    """moto (the hands-on VPC, relay endpoint's private DNS off) and the sandbox's account API."""
    from platform_ops.config_files import load_yaml
    from sandbox.aws_vpc import Knobs, boto3_factory, build_hands_on_vpc

    template = load_yaml(WORKSPACE_TEMPLATE)
    region = template["region"]
    if "databricks" not in FAKES:
        FAKES["databricks"] = stand_ins.databricks_workspace(env, DEMO / "databricks")
    sandbox = FAKES["databricks"]
    FAKES["aws"] = stand_ins.aws_moto(env, region)
    # the demo's own boto3 clients build the VPC in moto: never a developer's AWS credentials
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")  # noqa: S106 - moto's
    clients = boto3_factory(region, FAKES["aws"].url)
    started = time.monotonic()
    PROVISION["clients"] = clients
    PROVISION["vpc"] = build_hands_on_vpc(
        clients,
        region,
        Knobs(relay_private_dns=False, name_prefix="demo"),
        databricks_account_id=template["account_id"],
    )
    (DEMO / "workspaces").mkdir(parents=True, exist_ok=True)
    workspace_config()
    env.update(
        AIRFLOW_CONN_DATABRICKS_ACCOUNT=sandbox.account_connection(template["account_id"]),
        PLATFORM_OPS_WORKSPACE_CONFIG_DIR=str(DEMO / "workspaces"),
        PLATFORM_OPS_WORKSPACE_HOST=sandbox.workspace_host_template(),
        PLATFORM_OPS_WORKSPACE_POLL_SECONDS="1",
    )
    h = PROVISION["vpc"]
    print(
        f"demo: hands-on VPC {h.vpc_id} built in moto in {time.monotonic() - started:.1f} s: public subnet"
        f" + NAT {h.nat_gateway_id}, cluster subnets {', '.join(h.cluster_subnet_ids)}, endpoint subnet"
        f" {h.endpoint_subnet_id}, groups {h.cluster_group_id}/{h.endpoint_group_id},"
        f" endpoints {', '.join(sorted(h.endpoint_ids))}, IAM roles and root bucket {h.root_bucket_name};"
        f" workspace file {DEMO / 'workspaces' / WORKSPACE_TEMPLATE.name}",
        flush=True,
    )


def workspace_host_counts() -> dict[str, int]:
    """The new workspace's instance profile and cluster policy requests so far, per route."""
    counts: dict[str, int] = FAKES["databricks"].workspace_host_stats(PROVISION["deployment"])["by_route"]
    return counts


def account_counts() -> None:
    """Remember the account API's and the new workspace's request counts before a step."""
    PROVISION["before"] = FAKES["databricks"].account_stats()["by_route"]
    PROVISION["host_before"] = workspace_host_counts()


def relay_private_dns_on() -> None:
    """Replace the relay endpoint by one with private DNS (moto sets it only at creation)."""
    from sandbox.aws_vpc import recreate_interface_endpoint

    old = PROVISION["vpc"].endpoint_ids["relay"]
    new = recreate_interface_endpoint(PROVISION["clients"], PROVISION["vpc"], "relay", private_dns=True)
    workspace_config()
    print(f"  relay endpoint {old} replaced by {new} with private DNS on; workspace file updated", flush=True)
    account_counts()


def account_writes() -> tuple[dict[str, int], dict[str, int]]:
    """The account API requests of the last step: per method, and the POSTs per object kind."""
    after = FAKES["databricks"].account_stats()["by_route"]
    before = PROVISION["before"]
    delta = {k: n - before.get(k, 0) for k, n in after.items() if n - before.get(k, 0)}
    methods: dict[str, int] = {}
    for key, n in delta.items():
        methods[key.split(" ", 1)[0]] = methods.get(key.split(" ", 1)[0], 0) + n
    posts = {k.split(" ", 1)[1]: n for k, n in delta.items() if k.startswith("POST ")}
    return methods, posts


def hardening_check(created: bool) -> tuple[bool, list[str]]:
    """The S3 commit-service hardening as the new workspace shows it after a step: exactly the hands-on
    cluster role's instance profile and one policy (the file's) fixing it; ``created``: the step
    added the profile and created the policy (one POST each), else it wrote nothing there."""
    hardening = PROVISION["hardening"]
    if hardening is None:
        missing = f"{WORKSPACE_TEMPLATE.name} names no commit_service.instance_profile_arn"
        return False, [f"hardening: MISSING ({missing})"]
    after, before = workspace_host_counts(), PROVISION["host_before"]
    writes = {
        k.split(" ", 1)[1]: n - before.get(k, 0)
        for k, n in after.items()
        if k.startswith("POST ") and n - before.get(k, 0)
    }
    expected = {"instance-profiles/add": 1, "policies/clusters/create": 1} if created else {}
    client = FAKES["databricks"].workspace_host_client(PROVISION["deployment"])
    profiles = [p.instance_profile_arn for p in client.instance_profiles.list()]
    policies = [
        (p.name, json.loads(p.definition or "{}").get("aws_attributes.instance_profile_arn", {}).get("value"))
        for p in client.cluster_policies.list()
    ]
    arn = PROVISION["vpc"].cluster_instance_profile_arn
    holds = profiles == [arn] and policies == [(hardening.policy_name, arn)]
    listed = ", ".join(f"{name!r} fixing instance_profile_arn {value}" for name, value in policies)
    notes = [
        f"new workspace: instance profiles {profiles or 'none'}; cluster policies: {listed or 'none'}"
        f" ({'as expected' if holds else f'NOT exactly {arn} and one policy {hardening.policy_name!r}'})",
        f"hardening writes (instance-profiles, policies/clusters): {writes or 0}; expected {expected or 0}",
    ]
    return holds and writes == expected, notes


def provision_notes(log: Path) -> list[str]:
    """What the provisioning task logged: errors, objects, status changes, the answer, the hardening."""
    markers = (
        "[error]",
        "Preflight read AWS",
        "Created ",
        "Adopted ",
        "Workspace ",
        "Instance profile ",
        "Cluster policy ",
        "Pausing task as DEFERRED",
    )
    notes, seen = [], set()
    for line in log.read_text(errors="replace").splitlines():
        for marker in markers:
            if marker in line and "Created dag run" not in line:
                text = line[line.index(marker) :].split(" [", 1)[0].strip()
                if text not in seen:
                    seen.add(text)
                    notes.append(text[:200])
                break
    return notes


def preflight_quotes_npip(log: Path) -> tuple[bool, list[str]]:
    """Run 1: the preflight's error quotes the runbook's NPIP failure; no account API call at all."""
    text = log.read_text(errors="replace")
    quoted = all(part in text for part in NPIP_TEXT)
    methods, _ = account_writes()
    notes = [n for n in provision_notes(log) if "Preflight" in n or n.startswith("[error]")]
    if quoted:
        start = text.index(NPIP_TEXT[0])
        notes.append(
            "the failure it prevents: ..." + text[start : text.index(NPIP_TEXT[1], start) + 18] + " ..."
        )
    notes.append(f"NPIP failure text quoted: {'yes' if quoted else 'NO'}; account API calls: {methods or 0}")
    return quoted and not methods, notes


def provisioned(log: Path) -> tuple[bool, list[str]]:
    """Run 2: every object created once, RUNNING reached in the triggerer, the workspace answered,
    then hardened: its instance profile registered and its cluster policy created, once each."""
    text = log.read_text(errors="replace")
    methods, posts = account_writes()
    deferred = "Pausing task as DEFERRED" in text  # the wait ran in the trigger, not on the worker
    ok = deferred and "answers at" in text and sum(posts.values()) > 0 and max(posts.values()) <= 2
    notes = provision_notes(log)
    notes.append(f"account API: {methods}; POSTs per kind: {posts}")
    hardened, hardening_notes = hardening_check(created=True)
    return ok and hardened, notes + hardening_notes


def nothing_created(log: Path) -> tuple[bool, list[str]]:
    """Run 3: every object adopted: 0 POSTs to the account API; the hardening found as it is: 0 writes."""
    methods, posts = account_writes()
    notes = [n for n in provision_notes(log) if not n.startswith("Workspace ") or "answers" in n]
    notes.append(f"account API: {methods}; POSTs: {sum(posts.values())}")
    hardened, hardening_notes = hardening_check(created=False)
    ok = not posts and "answers at" in log.read_text(errors="replace") and hardened
    return ok, notes + hardening_notes


SCENARIOS: dict[str, list[Step]] = {
    "bigquery_cdc_before_after": [
        Step(
            "buy 100 FLEX slots, before/after images for the Tokyo day 2026-11-21 from the generated log,"
            " release the slots",
            "2026-11-22T00:00:00+09:00",
        ),
        Step(
            "re-run of the same window while no FLEX capacity is available: on-demand fallback; the"
            " window is replaced, not duplicated",
            "2026-11-22T00:00:00+09:00",
            before=no_flex_capacity,
        ),
    ],
    SERVING_DAG: [
        Step(
            "deploy main.ml.churn (latest = version 1): the endpoint is created and the deferrable sensor"
            " waits through its states",
            "2026-11-22T01:00:00+00:00",
        ),
        Step(
            "version 2 is registered: latest now means 2, the endpoint is updated",
            "2026-11-22T02:00:00+00:00",
            before=register_model_version,
        ),
        Step("roll back to version 1 (trigger param)", "2026-11-22T03:00:00+00:00", {"rollback_version": 1}),
        Step(
            "force_delete without confirm_delete: refused before any change",
            "2026-11-22T04:00:00+00:00",
            {"force_delete": True},
            expect="failed",
        ),
    ],
    "dbt_transform": [
        Step("first run of a date: full dbt build", "2026-11-20"),
        Step("re-run of that green date: nothing to rebuild", "2026-11-20"),
        Step(
            "next date, stg_orders breaks (var fail_models); Airflow retries it twice",
            "2026-11-21",
            {"vars": {"fail_models": ["stg_orders"]}},
            expect="failed",
        ),
        Step(
            "repaired without the var (under a scheduler: a backfill of the date with"
            " --reprocess-behavior failed --dag-run-conf '{}'): only stg_orders and its descendants",
            "2026-11-21",
        ),
    ],
    PROVISION_DAG: [
        Step(
            "provision local-demo on the hands-on VPC whose relay (SCC) endpoint has no private DNS: the"
            " preflight fails with the runbook's NPIP failure, before any account API call",
            "2026-11-23T01:00:00+00:00",
            {"dry_run": False},
            expect="failed",
            before=account_counts,
            after=preflight_quotes_npip,
        ),
        Step(
            "relay endpoint fixed: each account object created once, the wait for RUNNING deferred to the"
            " triggerer, then the new workspace's host answers (SCIM Me) and is hardened for the S3 commit"
            " service: the cluster instance profile registered, a cluster policy fixing it created",
            "2026-11-23T02:00:00+00:00",
            {"dry_run": False},
            before=relay_private_dns_on,
            after=provisioned,
        ),
        Step(
            "re-run: every object found by name and adopted, the instance profile and the policy found"
            " as they are: nothing created or changed (0 POSTs to the account API or the workspace)",
            "2026-11-23T03:00:00+00:00",
            {"dry_run": False},
            before=account_counts,
            after=nothing_created,
        ),
    ],
}


# -- Databricks DR migration: a seeded primary and an empty secondary (two sandbox instances) -----------
DR_DAG = "databricks_dr_migrate"
DR_CUTOVER_DAG = "databricks_dr_cutover"
DR_CONNS = {"source_conn_id": "databricks_primary", "target_conn_id": "databricks_secondary"}
DR_SECRET_VARIABLE = "dr_demo_secret_values"  # noqa: S105 - a Variable's name, not a secret
DR: dict[str, Any] = {}  # the seed's manifest, both workspaces' request counts before a step
DR_LOG_STARTS = (
    "DR plan", "DR validation", "validation ", "Dry run:", "object type", "  ", "cluster_policies",
    "instance_pools", "secret_scopes", "global_init_scripts", "workspace_objects", "clusters",
    "cluster_libraries", "jobs", "permissions",
)  # fmt: skip


def start_dr_stand_ins(env: dict[str, str]) -> None:
    """Two sandbox workspaces: the primary seeded (every object type, small sizes), the secondary
    empty; the secret scope's values (which the API never returns) come from an Airflow Variable."""
    from sandbox.dr_seed import SCOPE, SECRET_KEYS

    primary, secondary, manifest = stand_ins.databricks_dr_pair(env, DEMO / "dr")
    FAKES["dr_primary"], FAKES["dr_secondary"] = primary, secondary
    DR["manifest"] = manifest
    value = json.dumps({SCOPE: {key: f"demo-value-of-{key}" for key in SECRET_KEYS}})
    env[f"AIRFLOW_VAR_{DR_SECRET_VARIABLE.upper()}"] = value


def dr_counts() -> None:
    """Remember both workspaces' request counts before a step."""
    DR["before"] = {side: FAKES[side].stats() for side in ("dr_primary", "dr_secondary")}


def dr_writes() -> dict[str, int]:
    """Writes (POST/PUT/PATCH/DELETE) each workspace saw during the last step."""
    out = {}
    for side in ("dr_primary", "dr_secondary"):
        after, before = FAKES[side].stats(), DR["before"][side]
        out[side.removeprefix("dr_")] = after["writes"] - before["writes"]
    return out


def dr_log_lines(log: Path, limit: int = 45) -> list[str]:
    """The plan / validation tables, their detail lines and the progress lines the tasks logged."""
    import re

    pattern = re.compile(r"\[(?:info|warning|error)\s*\] (.*?)(?: \[airflow\.task[^\]]*\].*)?$")
    notes: list[str] = []
    for line in log.read_text(errors="replace").splitlines():
        match = pattern.search(line)
        text = match.group(1).rstrip() if match else ""
        if text.startswith(DR_LOG_STARTS) and text not in notes:
            notes.append(text[:160])
    if len(notes) > limit:
        notes = [*notes[:limit], f"... {len(notes) - limit} more lines in the log"]
    return notes


def dr_dry_run(log: Path) -> tuple[bool, list[str]]:
    """Dry run: a plan per object type, 0 writes to either workspace."""
    writes = dr_writes()
    notes = dr_log_lines(log)
    notes.append(f"writes: primary {writes['primary']}, secondary {writes['secondary']} (expected 0 and 0)")
    return not any(writes.values()), notes


def dr_report_notes() -> tuple[bool, list[str]]:
    """The secondary read back by marker: duplicates, missing objects, running clusters, unpaused jobs."""
    from sandbox.dr_seed import target_report

    report = target_report(FAKES["dr_secondary"].client(), DR["manifest"])
    copies = ", ".join(f"{k} {len(v)}" for k, v in sorted(report.per_marker.items()))
    missing = ", ".join(f"{k} {len(v)}" for k, v in sorted(report.missing.items())) or "none"
    notes = [
        f"secondary by marker: {copies}; duplicates {report.duplicates}; missing "
        f"{missing}; clusters running "
        f"{len(report.running_clusters)}; jobs not paused {len(report.unpaused_jobs)}"
    ]
    ok = not report.duplicates and not report.missing and not report.running_clusters
    return ok and not report.unpaused_jobs, notes


def dr_migrated(log: Path) -> tuple[bool, list[str]]:
    """Real run: writes to the secondary only, validation green, nothing duplicated, nothing running."""
    writes = dr_writes()
    ok, notes = dr_report_notes()
    notes = dr_log_lines(log) + notes
    notes.append(f"writes: primary {writes['primary']}, secondary {writes['secondary']}")
    return ok and writes["primary"] == 0 and writes["secondary"] > 0, notes


def dr_nothing_to_do(log: Path) -> tuple[bool, list[str]]:
    """Re-run: every object found by marker and identical: 0 writes."""
    writes = dr_writes()
    ok, notes = dr_report_notes()
    notes = [n for n in dr_log_lines(log) if not n.startswith("  ")] + notes
    notes.append(f"writes: primary {writes['primary']}, secondary {writes['secondary']} (expected 0 and 0)")
    return ok and not any(writes.values()), notes


def dr_cut_over(log: Path) -> tuple[bool, list[str]]:
    """Cutover: exactly the jobs un-paused in the primary run on their own in the secondary."""
    from sandbox.dr_seed import target_report

    manifest = DR["manifest"]
    report = target_report(FAKES["dr_secondary"].client(), manifest)
    eligible = set(manifest.eligible("jobs"))
    expected = sorted(j for j, s in manifest.pause_status.items() if s == "UNPAUSED" and j in eligible)
    writes = dr_writes()
    notes = [
        f"un-paused in the secondary: {len(report.unpaused_jobs)} job(s), un-paused in the primary: "
        f"{len(expected)}; same jobs: {'yes' if report.unpaused_jobs == expected else 'NO'}",
        f"writes: primary {writes['primary']} (pause_source off), secondary {writes['secondary']}",
    ]
    return report.unpaused_jobs == expected and writes["primary"] == 0, notes


DR_RUN = {**DR_CONNS, "secret_values_variable": DR_SECRET_VARIABLE}
SCENARIOS[DR_DAG] = [
    Step(
        "dry run (the default): both workspaces read, a plan per object type (create / identical /"
        " filtered / blocked / out of scope / needs value), nothing written",
        "2026-11-24T01:00:00+00:00",
        {**DR_RUN, "dry_run": True},
        before=dr_counts,
        after=dr_dry_run,
    ),
    Step(
        "real run: every object in scope copied once (one task per type, threads inside), created"
        " clusters terminated, schedules paused, then validated",
        "2026-11-24T02:00:00+00:00",
        {**DR_RUN, "dry_run": False},
        before=dr_counts,
        after=dr_migrated,
    ),
    Step(
        "re-run: every object found by its marker and identical: nothing to do (0 writes)",
        "2026-11-24T03:00:00+00:00",
        {**DR_RUN, "dry_run": False},
        before=dr_counts,
        after=dr_nothing_to_do,
    ),
]
SCENARIOS[DR_CUTOVER_DAG] = [
    Step(
        "cutover (confirm): un-pause in the secondary exactly the jobs un-paused in the primary",
        "2026-11-24T04:00:00+00:00",
        {**DR_CONNS, "confirm": True},
        before=dr_counts,
        after=dr_cut_over,
    ),
]


def dr_order(dags: list[str]) -> list[str]:
    """The cutover runs after the migration it cuts over to."""
    return sorted(dags, key=lambda d: d == DR_CUTOVER_DAG)


def sh(argv: list[str], log: Path, env: dict[str, str]) -> int:
    with log.open("w") as fh:
        return subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False).returncode


def local_dags(env: dict[str, str]) -> list[str]:
    code = (
        "import json\nfrom airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(REPO / 'dags')!r}, load_op_links=False)\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print('@@' + json.dumps(sorted(d for d, dag in bag.dags.items() if 'local' in dag.tags)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("@@")]
    if out.returncode != 0 or not lines:
        sys.exit(f"demo: could not parse dags/:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][2:])


def only_named(dags: list[str], names: list[str]) -> list[str]:
    """The local DAGs named on the command line (all of them when none is); exits on an unknown name."""
    unknown = sorted(set(names) - set(dags))
    if unknown:
        sys.exit(f"demo: no local DAG {', '.join(unknown)}; the local DAGs are: {', '.join(dags)}")
    return [d for d in dags if d in names] if names else dags


def dbt_state(date: str) -> tuple[Path, list[dict]]:
    path = DEMO / "state" / "dbt_transform" / "dbt_run" / f"{date}T000000Z" / "dbt_run_results.json"
    return path, (json.loads(path.read_text())["invocations"] if path.is_file() else [])


def dbt_notes(new: list[dict]) -> list[str]:
    """What the dbt invocations of one step did."""
    if not new:
        return ["no dbt invocation: the stored results for this date are green (skip)"]
    notes = []
    for inv in new:
        models = [u.split(".")[-1] for u in inv.get("executed", []) if u.startswith("model.")]
        notes.append(
            f"try {inv['try_number']}: dbt {inv['mode']:<7} {inv['counts']}  models: {', '.join(models)}"
        )
    return notes


def cdc_notes() -> list[str]:
    import duckdb

    con = duckdb.connect(str(DEMO / "cdc.duckdb"), read_only=True)
    try:
        notes = []
        for table in ("orders_before_after", "order_lines_before_after"):
            counts = con.execute(
                f"SELECT op, before_source, count(*) FROM {table} GROUP BY ALL ORDER BY ALL"
            ).fetchall()
            notes.append(f"{table}: " + ", ".join(f"{op}/{src}={n}" for op, src, n in counts))
        sample = con.execute(
            "SELECT order_id, op, before, after, change_count, before_source FROM orders_before_after "
            "WHERE change_count > 1 AND op = 'u' ORDER BY order_id LIMIT 1"
        ).fetchone()
        notes.append(f"e.g. {sample}")
        return notes
    finally:
        con.close()


def start_reservation_fake(env: dict[str, str]) -> None:
    """The BigQuery Reservation API fake, holding the reservation the CDC config buys slots for."""
    started = stand_ins.reservation_fake(env)
    if started:
        FAKES["bigquery_reservation"], FAKES["reservation"] = started


def start_databricks_sandbox(env: dict[str, str]) -> None:
    """The local Databricks workspace (sandbox/databricks) with the served model's version 1."""
    sandbox = stand_ins.databricks_workspace(env, DEMO / "databricks")
    FAKES["databricks"] = sandbox
    sandbox.configure(deploy_seconds=4.0)
    env["PLATFORM_OPS_SERVING_POLL_SECONDS"] = "1"


def serving_notes(log: Path) -> list[str]:
    """The plan and the endpoint states the sensor saw, from the task log."""
    notes, seen = [], set()
    for line in log.read_text(errors="replace").splitlines():
        for marker in ("Plan for ", "Endpoint churn-model: "):
            if marker in line:
                text = line[line.index(marker) :].split(" [", 1)[0].strip()
                if text not in seen:
                    seen.add(text)
                    notes.append(text[:160])
    return notes


def slot_notes(calls_before: int, changes_before: int, capacity_before: str) -> list[str]:
    """What the slot purchase and release of one step did, as the Reservation API saw it."""
    server = FAKES.get("bigquery_reservation")
    if server is None:
        return []
    api, name = server.api, FAKES["reservation"]
    calls = api.calls[calls_before:]
    bought = sum(c.startswith("POST") and c.endswith("/capacityCommitments") for c in calls)
    values = [capacity_before]
    values += [str(v) for res, f, v in api.changes[changes_before:] if res == name and f == "slotCapacity"]
    if any(c.startswith("DELETE") and "/assignments/" in c for c in calls):
        what = "commitment stayed PENDING: deleted, assignment removed (on-demand) and restored afterwards"
    else:
        what = "slotCapacity " + " -> ".join(values)
    left = f"after release: slotCapacity {api.reservations[name]['slotCapacity']}, "
    left += f"{len(api.commitments)} commitment(s), {len(api.assignments)} assignment(s)"
    return [f"slots: {bought} FLEX commitment(s) bought; {what}; {left}"]


def failure_lines(log: Path) -> str:
    """The first failure message the task raised, as the task log shows it."""
    lines = log.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        if "dbt finished with" in line or "AirflowFailException:" in line:
            return "\n       ".join(lines[i : i + 3])
    return "(see the log)"


def shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (AIRFLOW_HOME may be elsewhere)."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def run_step(dag_id: str, n: int, total: int, step: Step, env: dict[str, str]) -> tuple[Any, ...]:
    """Run one demo step with `airflow dags test`, print what it did; the summary row."""
    log = DEMO / "logs" / f"{dag_id}-{n}.log"
    print(
        f"\n[{dag_id} {n}/{total}] {step.title}\n  airflow dags test {dag_id} {step.date}"
        + (f" --conf '{json.dumps(step.conf)}'" if step.conf else ""),
        flush=True,
    )
    t0 = time.monotonic()
    argv = [AIRFLOW, "dags", "test", dag_id, step.date]
    if step.conf:
        argv += ["--conf", json.dumps(step.conf)]
    before = len(dbt_state(step.date)[1]) if dag_id == "dbt_transform" else 0
    fake = FAKES.get("bigquery_reservation")
    calls_before, changes_before = (len(fake.api.calls), len(fake.api.changes)) if fake else (0, 0)
    capacity_before = fake.api.reservations[FAKES["reservation"]]["slotCapacity"] if fake else ""
    if step.before:
        step.before()
    rc = sh(argv, log, env)
    result = "success" if rc == 0 else "failed"
    seconds = time.monotonic() - t0
    ok = result == step.expect
    where, notes = shown(log), []
    if dag_id == "bigquery_cdc_before_after":
        notes = slot_notes(calls_before, changes_before, capacity_before)
    if dag_id == "bigquery_cdc_before_after" and result == "success":
        where, notes = (
            f"{shown(DEMO)}/cdc.duckdb: main.*_before_after",
            notes + cdc_notes(),
        )
    if dag_id == SERVING_DAG:
        notes = serving_notes(log)
    if dag_id == "dbt_transform":
        path, invocations = dbt_state(step.date)
        where, notes = shown(path), dbt_notes(invocations[before:])
    if step.after:
        checked, extra = step.after(log)
        ok, notes = ok and checked, notes + extra
    print(f"  -> {result} (expected {step.expect}) in {seconds:.1f} s; log: {shown(log)}")
    for note in notes:
        print(f"     {note}")
    if result == "failed":
        print("     the task failed with: " + failure_lines(log))
    return (dag_id, n, step.expect, result if ok else f"{result} (!)", f"{seconds:.1f}s", where)


def main() -> int:
    env = dict(os.environ)
    shutil.rmtree(DEMO, ignore_errors=True)
    (DEMO / "logs").mkdir(parents=True)
    from sandbox.dbt_failures import failure_project  # REPO is on sys.path (stand_ins)

    env.update(
        # the shipped dbt project plus the switches the demo breaks a model with (var fail_models)
        PLATFORM_OPS_DBT_PROJECT_DIR=str(failure_project(DEMO / "dbt-project")),
        PLATFORM_OPS_CDC_DUCKDB_PATH=str(DEMO / "cdc.duckdb"),
        PLATFORM_OPS_STATE_ROOT=f"file://{DEMO / 'state'}",
        PLATFORM_OPS_DUCKDB_PATH=str(DEMO / "warehouse.duckdb"),
        PLATFORM_OPS_RETRY_DELAY_SECONDS="2",
    )
    print(f"demo: AIRFLOW_HOME={HOME}; migrating the SQLite metadata DB ...", flush=True)
    if sh([AIRFLOW, "db", "migrate"], DEMO / "logs" / "db-migrate.log", env) != 0:
        print(f"demo: airflow db migrate failed, see {DEMO / 'logs' / 'db-migrate.log'}")
        return 1
    # The DAGs' tasks queue in these pools under a scheduler (dags test does not need them, but
    # `make airflow` on this metadata DB does).
    if sh([AIRFLOW, "pools", "import", str(POOLS)], DEMO / "logs" / "pools.log", env) != 0:
        print(f"demo: airflow pools import failed, see {DEMO / 'logs' / 'pools.log'}")
        return 1
    dags = local_dags(env)
    if not dags:
        print("demo: no DAG with a local mode exists yet")
        return 0
    dags = only_named(dags, sys.argv[1:])
    rows, failures = [], 0
    if "bigquery_cdc_before_after" in dags:
        from cdc_demo_data import generate

        counts = generate(str(DEMO / "cdc.duckdb"), "2026-11-22")
        print(f"demo: change-tracking log generated in {DEMO / 'cdc.duckdb'}: {counts}", flush=True)
        start_reservation_fake(env)
    if SERVING_DAG in dags:
        start_databricks_sandbox(env)
    if PROVISION_DAG in dags:
        start_provisioning_stand_ins(env)
    if DR_DAG in dags:
        start_dr_stand_ins(env)
    dags = dr_order(dags)
    for dag_id in dags:
        steps = SCENARIOS.get(dag_id, [Step("run once", time.strftime("%Y-%m-%d"))])
        for n, step in enumerate(steps, 1):
            row = run_step(dag_id, n, len(steps), step, env)
            failures += row[3] != step.expect
            rows.append(row)
    print("\nSummary")
    widths = [
        max(len(str(r[i])) for r in [*rows, ("DAG", "step", "expected", "result", "time", "")])
        for i in range(5)
    ]
    header = ("DAG", "step", "expected", "result", "time", "state / output")
    for row in [header, *rows]:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(row[:5], widths, strict=True)) + "  " + row[5])
    print(f"\nWarehouse: {DEMO / 'warehouse.duckdb'}   Run state: {DEMO / 'state'}   Logs: {DEMO / 'logs'}")
    if failures:
        print(f"demo: {failures} step(s) did not end as expected; read the logs above")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        code = main()
    finally:
        for fake in FAKES.values():
            if hasattr(fake, "stop"):
                fake.stop()
    sys.exit(code)
