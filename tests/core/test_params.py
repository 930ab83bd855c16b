from __future__ import annotations

import pytest

from platform_ops.core.params import is_unset, parse_bool, parse_int
from platform_ops.exceptions import ConfigError


@pytest.mark.parametrize(("value", "expected"), [(True, True), ("false", False), (" True ", True)])
def test_booleans_from_python_or_templates(value, expected: bool) -> None:
    assert parse_bool("flag", value) is expected


@pytest.mark.parametrize("value", ["yes", 1, None, ""])
def test_anything_else_is_not_a_boolean(value) -> None:
    with pytest.raises(ConfigError, match=r"^flag: .* is not a boolean"):
        parse_bool("flag", value)


@pytest.mark.parametrize(("value", "expected"), [(4, 4), ("4", 4), (" -2 ", -2), ("0", 0)])
def test_integers_from_python_or_templates(value, expected: int) -> None:
    assert parse_int("slots", value) == expected


@pytest.mark.parametrize("value", [True, 2.5, "2.5", "four", "", None, "--1"])
def test_anything_else_is_not_an_integer(value) -> None:
    with pytest.raises(ConfigError, match=r"^slots: .* is not an integer"):
        parse_int("slots", value)


def test_unset_means_none_or_an_empty_rendering() -> None:
    assert [is_unset(v) for v in (None, "", 0, "None", [])] == [True, True, False, False, False]
