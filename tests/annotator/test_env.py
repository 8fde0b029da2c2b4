"""Settings from the environment fail fast, naming the variable."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from annotator.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_required,
    env_str,
)

VAR = "ANNOTATOR_TEST_SETTING"


@pytest.fixture(autouse=True)
def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VAR, raising=False)


def set_var(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(VAR, value)


def test_env_str(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_str(VAR) is None
    assert env_str(VAR, "x") == "x"
    set_var(monkeypatch, "  value ")
    assert env_str(VAR, "x") == "value"
    set_var(monkeypatch, "")
    assert env_str(VAR, "x") == ""


def test_env_required(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in (None, "", "   "):
        if value is not None:
            set_var(monkeypatch, value)
        with pytest.raises(ImproperlyConfigured, match=VAR) as caught:
            env_required(VAR, "it signs things")
        assert "it signs things" in str(caught.value)
    set_var(monkeypatch, " secret ")
    assert env_required(VAR, "why") == "secret"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        (" on ", True),
        ("0", False),
        ("False", False),
        ("no", False),
        ("off", False),
        ("", False),
    ],
)
def test_env_bool(value: str, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    set_var(monkeypatch, value)
    assert env_bool(VAR, not expected) is expected


@pytest.mark.parametrize("value", ["maybe", "2", "yess", "tru"])
def test_env_bool_rejects(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    set_var(monkeypatch, value)
    with pytest.raises(ImproperlyConfigured, match=VAR):
        env_bool(VAR, True)


def test_env_bool_default() -> None:
    assert env_bool(VAR, True) is True and env_bool(VAR, False) is False


def test_env_int(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_int(VAR, 7) == 7
    set_var(monkeypatch, "  ")
    assert env_int(VAR, 7) == 7
    set_var(monkeypatch, " 42 ")
    assert env_int(VAR, 7, minimum=1) == 42
    set_var(monkeypatch, "1")
    assert env_int(VAR, 7, minimum=1) == 1


@pytest.mark.parametrize("value", ["ten", "1.5", "1e3", "0x10"])
def test_env_int_rejects_non_integers(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    set_var(monkeypatch, value)
    with pytest.raises(ImproperlyConfigured, match=VAR) as caught:
        env_int(VAR, 7)
    assert value in str(caught.value)


def test_env_int_rejects_values_below_the_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    set_var(monkeypatch, "0")
    with pytest.raises(ImproperlyConfigured, match=VAR) as caught:
        env_int(VAR, 7, minimum=1)
    assert "at least 1" in str(caught.value)


def test_env_float(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_float(VAR, 2.5) == 2.5
    set_var(monkeypatch, "0.25")
    assert env_float(VAR, 2.5, minimum=0.1) == 0.25
    set_var(monkeypatch, "3")
    assert env_float(VAR, 2.5) == 3.0


@pytest.mark.parametrize("value", ["fast", "1,5", "--1"])
def test_env_float_rejects_non_numbers(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    set_var(monkeypatch, value)
    with pytest.raises(ImproperlyConfigured, match=VAR):
        env_float(VAR, 1.0)


def test_env_float_rejects_values_below_the_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    set_var(monkeypatch, "0.01")
    with pytest.raises(ImproperlyConfigured, match=VAR):
        env_float(VAR, 1.0, minimum=0.1)


def test_env_float_rejects_nan(monkeypatch: pytest.MonkeyPatch) -> None:
    set_var(monkeypatch, "nan")
    with pytest.raises(ImproperlyConfigured, match=VAR):
        env_float(VAR, 1.0, minimum=0.1)


def test_env_list(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_list(VAR, ["a"]) == ["a"]
    set_var(monkeypatch, " a, b ,,c ")
    assert env_list(VAR, []) == ["a", "b", "c"]
    set_var(monkeypatch, "")
    assert env_list(VAR, ["a"]) == []


def test_env_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_choice(VAR, "b", ("a", "b")) == "b"
    set_var(monkeypatch, " a ")
    assert env_choice(VAR, "b", ("a", "b")) == "a"
    set_var(monkeypatch, "")
    assert env_choice(VAR, "b", ("a", "b")) == "b"


def test_env_choice_rejects(monkeypatch: pytest.MonkeyPatch) -> None:
    set_var(monkeypatch, "c")
    with pytest.raises(ImproperlyConfigured, match=VAR) as caught:
        env_choice(VAR, "b", ("a", "b"))
    assert "a, b" in str(caught.value)
