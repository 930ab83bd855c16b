"""The deployment config, the plan (every branch) and the readiness rule, without any API."""

from __future__ import annotations

import pytest

from platform_ops.core.model_serving import (
    ConfigUpdateState,
    DeployAction,
    EndpointState,
    EndpointWaitEvent,
    Plan,
    Readiness,
    WaitOutcome,
    endpoint_url,
    failed_entities,
    log_tail,
    parse_config,
    plan,
    readiness,
)
from platform_ops.exceptions import ConfigError

MODEL = "main.ml.churn"
CONFIG = {
    "endpoint_name": "churn-model",
    "served_entities": [
        {
            "entity_name": MODEL,
            "entity_version": "latest",
            "workload_size": "Small",
            "scale_to_zero_enabled": True,
        }
    ],
    "auto_capture_config": {"catalog_name": "main", "schema_name": "ml", "table_name_prefix": "churn"},
}


def live(version: int, size: str = "Small", scale_to_zero: bool = True, **state) -> dict:
    entity = {
        "name": f"churn-{version}",
        "entity_name": MODEL,
        "entity_version": str(version),
        "workload_size": size,
        "scale_to_zero_enabled": scale_to_zero,
        "state": {"deployment": state.pop("deployment", "DEPLOYMENT_READY")},
    }
    return {
        "name": "churn-model",
        "state": {
            "ready": state.pop("ready", "READY"),
            "config_update": state.pop("config_update", "NOT_UPDATING"),
        },
        "config": {"served_entities": [entity]},
    }


def spec(**changes):
    return parse_config({**CONFIG, **changes})


# -- config --------------------------------------------------------------------------------------


def test_config_defaults_and_latest() -> None:
    s = parse_config({"endpoint_name": "e1", "served_entities": [{"entity_name": MODEL}]})
    [e] = s.served_entities
    assert (e.entity_version, e.workload_size, e.scale_to_zero_enabled) == ("latest", "Small", True)
    assert e.served_name(3) == "churn-3"
    assert s.model_names == (MODEL,)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({**CONFIG, "endpoint_name": "bad name!"}, "endpoint_name"),
        ({**CONFIG, "endpoint_name": "x" * 64}, "endpoint_name"),
        ({**CONFIG, "served_entities": []}, "served_entities"),
        ({**CONFIG, "served_entities": [{"entity_version": 1}]}, "served_entities[0].entity_name"),
        ({**CONFIG, "served_entities": [{"entity_name": "churn"}]}, "served_entities[0].entity_name"),
        (
            {**CONFIG, "served_entities": [{"entity_name": MODEL, "workload_size": "Huge"}]},
            "served_entities[0].workload_size",
        ),
        (
            {**CONFIG, "served_entities": [{"entity_name": MODEL, "entity_version": "v2"}]},
            "served_entities[0].entity_version",
        ),
        (
            {**CONFIG, "served_entities": [{"entity_name": MODEL, "entity_version": 0}]},
            "served_entities[0].entity_version",
        ),
        ({**CONFIG, "served_entities": [{"entity_name": MODEL, "gpu": True}]}, "served_entities[0].gpu"),
        ({**CONFIG, "endpoint": "x"}, "endpoint"),
        ({**CONFIG, "auto_capture_config": {"catalog_name": "main"}}, "auto_capture_config.schema_name"),
        ({**CONFIG, "force_delete": "maybe"}, "force_delete"),
        ({**CONFIG, "training_job": {"job_id": "abc"}}, "training_job"),
        ({**CONFIG, "training_job": {"job_id": 1, "cluster": "x"}}, "training_job"),
        (
            {**CONFIG, "training_job": {"job_id": 1, "job_parameters": {"epochs": 3}}},
            "training_job.job_parameters",
        ),
        (["not", "a", "mapping"], "config"),
    ],
)
def test_bad_configs_name_the_field(raw, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert err.value.field == field


# -- plan ----------------------------------------------------------------------------------------


def test_create_resolves_latest_to_the_highest_registered_version() -> None:
    p = plan(spec(), None, {MODEL: [1, 3, 2]})
    assert p.action is DeployAction.CREATE
    assert p.served_entities[0]["entity_version"] == "3"
    assert p.served_entities[0]["name"] == "churn-3"
    assert p.auto_capture_config["table_name_prefix"] == "churn"


def test_nothing_to_do_when_the_live_config_matches() -> None:
    p = plan(spec(), live(3), {MODEL: [1, 2, 3]})
    assert (p.action, p.reason) == (DeployAction.NOTHING, "the live config already matches")


def test_update_to_a_new_version_or_a_new_size() -> None:
    assert plan(spec(), live(2), {MODEL: [1, 2, 3]}).action is DeployAction.UPDATE
    entities = [{**CONFIG["served_entities"][0], "workload_size": "Medium"}]
    assert plan(spec(served_entities=entities), live(3), {MODEL: [3]}).action is DeployAction.UPDATE


def test_rollback_by_param_or_by_pinning_a_lower_version() -> None:
    p = plan(spec(), live(3), {MODEL: [1, 2, 3]}, rollback_version="1")
    assert (p.action, p.served_entities[0]["entity_version"]) == (DeployAction.ROLLBACK, "1")
    assert "3 -> 1" in p.reason
    pinned = [{**CONFIG["served_entities"][0], "entity_version": 2}]
    assert plan(spec(served_entities=pinned), live(3), {MODEL: [1, 2, 3]}).action is DeployAction.ROLLBACK


def test_versions_that_do_not_exist_fail_before_any_change() -> None:
    with pytest.raises(ConfigError, match=r"^rollback_version: version 7 .* \(registered: \[1, 2\]\)"):
        plan(spec(), live(2), {MODEL: [1, 2]}, rollback_version=7)
    pinned = [{**CONFIG["served_entities"][0], "entity_version": 9}]
    with pytest.raises(ConfigError, match=r"^served_entities\[0\]\.entity_version"):
        plan(spec(served_entities=pinned), None, {MODEL: [1]})
    with pytest.raises(
        ConfigError, match=r"^served_entities\[0\]\.entity_name: main\.ml\.churn has no registered"
    ):
        plan(spec(), None, {MODEL: []})
    with pytest.raises(ConfigError, match=r"^rollback_version"):
        plan(spec(), None, {MODEL: [1]}, rollback_version="one")


def test_force_delete_needs_confirmation_and_spares_the_model_unless_asked() -> None:
    with pytest.raises(ConfigError, match=r"^confirm_delete"):
        plan(spec(force_delete=True), live(1), {})
    p = plan(spec(force_delete=True), live(1), {}, confirm_delete=True)
    assert (p.action, p.delete_registered_models) == (DeployAction.DELETE, ())
    p = plan(spec(force_delete=True), live(1), {}, confirm_delete="true", delete_registered_model=True)
    assert p.delete_registered_models == (MODEL,)
    assert plan(spec(force_delete=True), None, {}, confirm_delete=True).action is DeployAction.NOTHING


def test_rollback_needs_a_single_model() -> None:
    two = [CONFIG["served_entities"][0], {"entity_name": "main.ml.other"}]
    with pytest.raises(ConfigError, match=r"^rollback_version: applies to an endpoint serving one model"):
        plan(spec(served_entities=two), None, {MODEL: [1], "main.ml.other": [1]}, rollback_version=1)


# -- readiness -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({}, Readiness.READY),
        # the seed's bug: NOT_UPDATING alone is not ready
        ({"ready": "NOT_READY"}, Readiness.WAITING),
        ({"config_update": "IN_PROGRESS"}, Readiness.WAITING),
        ({"deployment": "DEPLOYMENT_CREATING"}, Readiness.WAITING),
        ({"deployment": "DEPLOYMENT_RECOVERING"}, Readiness.WAITING),
        ({"config_update": "UPDATE_FAILED"}, Readiness.FAILED),
        ({"config_update": "UPDATE_CANCELED"}, Readiness.FAILED),
        (
            {"deployment": "DEPLOYMENT_FAILED", "ready": "NOT_READY", "config_update": "IN_PROGRESS"},
            Readiness.FAILED,
        ),
        ({"deployment": "DEPLOYMENT_ABORTED"}, Readiness.FAILED),
    ],
)
def test_readiness(state: dict, expected: Readiness) -> None:
    assert readiness(EndpointState.from_api(live(1, **state)))[0] is expected


def test_an_update_in_progress_is_judged_on_the_pending_config() -> None:
    body = live(1)
    body["state"]["config_update"] = "IN_PROGRESS"
    body["pending_config"] = {
        "served_entities": [
            {
                "name": "churn-2",
                "entity_name": MODEL,
                "entity_version": "2",
                "state": {
                    "deployment": "DEPLOYMENT_FAILED",
                    "deployment_state_message": "version 2 has no artifacts",
                },
            }
        ]
    }
    state = EndpointState.from_api(body)
    status, message = readiness(state)
    assert status is Readiness.FAILED
    assert "churn-2: DEPLOYMENT_FAILED: version 2 has no artifacts" in message
    assert failed_entities(state) == ["churn-2"]
    assert "churn-2 (main.ml.churn v2): DEPLOYMENT_FAILED" in state.describe()


def test_no_served_entity_is_not_ready() -> None:
    assert (
        readiness(EndpointState.from_api({"name": "e", "state": {"ready": "READY"}}))[0] is Readiness.WAITING
    )


def test_helpers() -> None:
    assert log_tail("a\nb\nc\n", 2) == "b\nc"
    assert (
        endpoint_url("https://dbc-1.cloud.databricks.com/", "churn")
        == "https://dbc-1.cloud.databricks.com/ml/endpoints/churn"
    )


# -- value objects: states and events as trigger events carry them ---------------------------------


@pytest.mark.parametrize(
    ("value", "terminal", "successful"),
    [
        ("IN_PROGRESS", False, False),
        ("NOT_UPDATING", True, True),
        ("UPDATE_FAILED", True, False),
        ("UPDATE_CANCELED", True, False),
    ],
)
def test_config_update_state(value: str, terminal: bool, successful: bool) -> None:
    state = ConfigUpdateState(value)
    assert (state.is_terminal, state.is_successful) == (terminal, successful)
    assert ConfigUpdateState.from_json(state.to_json()) == state


@pytest.mark.parametrize(
    ("state", "terminal", "successful"),
    [
        ({}, True, True),
        ({"ready": "NOT_READY"}, False, False),
        ({"config_update": "IN_PROGRESS"}, False, False),
        ({"config_update": "UPDATE_FAILED"}, True, False),
        ({"deployment": "DEPLOYMENT_FAILED"}, True, False),
    ],
)
def test_endpoint_state_is_a_value_object(state: dict, terminal: bool, successful: bool) -> None:
    parsed = EndpointState.from_api(live(2, **state))
    assert (parsed.is_terminal, parsed.is_successful) == (terminal, successful)
    text = parsed.to_json()
    assert isinstance(text, str)
    assert EndpointState.from_json(text) == parsed
    assert EndpointState.from_json(text).describe() == parsed.describe()


def test_a_wait_event_round_trips_as_json_with_its_state() -> None:
    import json

    state = EndpointState.from_api(live(1, config_update="UPDATE_FAILED"))
    event = EndpointWaitEvent("churn-model", WaitOutcome.FAILED, state.failure, state)
    payload = json.loads(json.dumps(event.to_json()))  # what the triggerer stores
    assert set(payload) == {"endpoint_name", "outcome", "message", "state"}
    back = EndpointWaitEvent.from_json(payload)
    assert back == event
    assert back.state is not None
    assert back.state.config_update.is_failed
    gone = EndpointWaitEvent("churn-model", WaitOutcome.GONE, "no endpoint")
    assert EndpointWaitEvent.from_json(gone.to_json()) == gone


def test_a_plan_round_trips_through_a_deferral() -> None:
    decided = plan(spec(), live(1), {MODEL: [1, 2]})
    assert Plan.from_dict(decided.as_dict()) == decided


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        *[(s, True) for s in (429, 500, 503, 504, 599)],
        *[(s, False) for s in (None, 400, 401, 403, 404, 409, 600)],
    ],
)
def test_only_throttling_and_server_errors_are_transient(status, transient: bool) -> None:
    from platform_ops.core.model_serving import is_transient_status

    assert is_transient_status(status) is transient


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"endpoint_name": "churn-model\n"}, "endpoint_name"),
        ({"served_entities": [{"entity_name": "main.ml.churn\n"}]}, "served_entities[0].entity_name"),
        ({"served_entities": [{"entity_name": "main\n.ml.churn"}]}, "served_entities[0].entity_name"),
        ({"served_entities": [{"entity_name": MODEL, "name": "churn-1\n"}]}, "served_entities[0].name"),
        ({"auto_capture_config": {"catalog_name": "main\n", "schema_name": "ml"}}, "auto_capture_config"),
        ({"auto_capture_config": {"catalog_name": "main", "schema_name": "ml\n"}}, "auto_capture_config"),
    ],
)
def test_names_with_a_trailing_newline_are_refused(change: dict, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({**CONFIG, **change})
    assert caught.value.field.startswith(field)
