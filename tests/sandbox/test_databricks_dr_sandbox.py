"""The sandbox pair for disaster-recovery tests, through the official databricks-sdk and raw HTTP.

Two servers for the session (the ``databricks_sandbox_pair`` fixture): each test starts from sandboxes
with default knobs and cleared counters; minilake's own objects are left to each test to name apart.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def pair(databricks_sandbox_pair):
    for sandbox in databricks_sandbox_pair:
        sandbox.reset()
    yield databricks_sandbox_pair
    for sandbox in databricks_sandbox_pair:
        sandbox.reset()


@pytest.fixture
def primary(pair):
    return pair[0]


def test_the_pair_reports_distinct_workspace_ids(pair):
    primary, secondary = pair
    ids = [s.client().get_workspace_id() for s in pair]
    assert ids == [int(primary.workspace_id), int(secondary.workspace_id)]
    assert ids[0] != ids[1]
    # without host metadata the SDK reads the id from the SCIM /Me answer's header
    for sandbox in pair:
        me = sandbox.client().api_client.do(
            "GET", "/api/2.0/preview/scim/v2/Me", response_headers=["X-Databricks-Org-Id"]
        )
        assert me["X-Databricks-Org-Id"] == sandbox.workspace_id
