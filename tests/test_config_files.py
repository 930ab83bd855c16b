"""One DAG per config file: the DAG ids the config folders give, and the collisions they can hide."""

from __future__ import annotations

from pathlib import Path

from platform_ops.config_files import collision, dag_configs


def test_one_dag_id_per_file_with_non_word_characters_as_underscores(tmp_path: Path) -> None:
    for name in ("churn.yaml", "eu-west.1.yaml", "notes.txt"):
        (tmp_path / name).write_text("a: 1\n")
    assert dag_configs(tmp_path, "x_") == {
        "x_churn": [tmp_path / "churn.yaml"],
        "x_eu_west_1": [tmp_path / "eu-west.1.yaml"],
    }


def test_two_files_claiming_one_id_are_both_kept_and_named(tmp_path: Path) -> None:
    for name in ("a-b.yaml", "a_b.yaml"):
        (tmp_path / name).write_text("a: 1\n")
    configs = dag_configs(tmp_path, "x_")
    assert configs == {"x_a_b": [tmp_path / "a-b.yaml", tmp_path / "a_b.yaml"]}
    message = collision("x_a_b", configs["x_a_b"])
    assert message is not None
    assert "a-b.yaml and a_b.yaml both map to DAG id x_a_b" in message
    assert collision("x_c", [tmp_path / "c.yaml"]) is None
