"""WorkspaceDeployOperator with an OAuth M2M service principal: the client secret, like a token, never
reaches the task log, XCom, the rendered fields or the run state (the deferrable path: the trigger and
the answer check authenticate with it too)."""

from __future__ import annotations

import json

import pytest

from sandbox.databricks.launcher import ACCOUNT_ID
from tests.operators import test_workspace_deploy as base
from tests.operators.test_workspace_deploy import AWS_CANARY, hands_on_vpc, params, run

# the base module's fixtures, used here by name
aws, sandbox, output = base.aws, base.sandbox, base.output

pytestmark = pytest.mark.integration

CLIENT_SECRET = "oauth-secret-7e57c0de"


def test_the_client_secret_never_reaches_logs_xcom_rendered_fields_or_state(
    aws, sandbox, output, tmp_path, monkeypatch
):
    conn = json.loads(sandbox.account_connection(ACCOUNT_ID, service_principal_oauth=True))
    conn.update(login="sp-client-id", password=CLIENT_SECRET)
    monkeypatch.setenv("AIRFLOW_CONN_DBX_ACCOUNT", json.dumps(conn))
    result = run(params(hands_on_vpc(aws), sandbox))
    out = output()
    assert result.state == "success", out[-3000:]
    assert result.xcom[("deploy", "return_value")]["status"] == "RUNNING"
    assert sandbox.account_stats()["by_route"]["POST oauth-token"] > 0  # it did sign in as the principal
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        rendered = session.query(RenderedTaskInstanceFields).filter_by(run_id=result.run_id).all()
        fields = json.dumps([r.rendered_fields for r in rendered], default=str)
    state = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.json"))
    assert "acme-prod" in fields
    assert state
    for secret in (CLIENT_SECRET, AWS_CANARY):
        assert secret not in out
        assert secret not in json.dumps(list(result.xcom.values()), default=str)
        assert secret not in fields
        assert secret not in state
