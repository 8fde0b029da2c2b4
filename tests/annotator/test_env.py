"""Settings from the environment fail fast, naming the variable; what the settings module
makes of the environment (DEBUG, hosts, the production security settings)."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

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


# --- the settings module under each environment ---------------------------------------------

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "annotator" / "settings.py"
_SETTINGS_VARS = (
    "DEBUG",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "PUBLIC_URL",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "CLIENT_ADDRESS_HEADER",
    "LOGIN_MAX_FAILURES_PER_USER",
    "LOGIN_MAX_FAILURES_PER_ADDRESS",
    "LOGIN_FAILURE_WINDOW_S",
)


def load_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: str, **variables: str
) -> dict[str, Any]:
    """annotator/settings.py run afresh (not the loaded settings) with this environment."""
    for name in _SETTINGS_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANNOTATOR_ENV", env)
    monkeypatch.setenv("ANNOTATOR_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "k" * 64)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE), run_name="settings_under_test")


@pytest.mark.parametrize("env", ["development", "test", "production"])
def test_debug_is_off_unless_asked_for(
    env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert load_settings(monkeypatch, tmp_path, env)["DEBUG"] is False
    if env != "production":
        assert load_settings(monkeypatch, tmp_path, env, DEBUG="1")["DEBUG"] is True


def test_production_refuses_debug(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="DEBUG"):
        load_settings(monkeypatch, tmp_path, "production", DEBUG="1")


def test_the_embedded_run_answers_any_host_in_development(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # scripts/run --host 0.0.0.0 is reached by whatever name the machine has; nothing
    # the server builds echoes Host (tests/api/test_security.py).
    assert load_settings(monkeypatch, tmp_path, "development")["ALLOWED_HOSTS"] == ["*"]


def test_production_security_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = load_settings(monkeypatch, tmp_path, "production")
    assert s["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1"]
    assert s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"]
    assert s["SECURE_HSTS_SECONDS"] == 31_536_000
    assert s["SECURE_CONTENT_TYPE_NOSNIFF"] and s["X_FRAME_OPTIONS"] == "DENY"
    assert s["SECURE_PROXY_SSL_HEADER"] is None and not s["SECURE_SSL_REDIRECT"]
    dev = load_settings(monkeypatch, tmp_path, "development")
    assert not dev["SESSION_COOKIE_SECURE"] and dev["SECURE_HSTS_SECONDS"] == 0


def test_production_security_is_configurable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    s = load_settings(
        monkeypatch,
        tmp_path,
        "production",
        PUBLIC_URL="https://annotator.example.org/",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        SECURE_HSTS_SECONDS="600",
        SECURE_SSL_REDIRECT="1",
        SESSION_COOKIE_SECURE="0",
        CLIENT_ADDRESS_HEADER="X-Forwarded-For",
        LOGIN_MAX_FAILURES_PER_USER="5",
    )
    assert s["PUBLIC_URL"] == "https://annotator.example.org"
    assert s["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1", "annotator.example.org"]
    assert s["CSRF_TRUSTED_ORIGINS"] == ["https://annotator.example.org"]
    assert s["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert s["SECURE_HSTS_SECONDS"] == 600 and s["SECURE_SSL_REDIRECT"]
    assert not s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"]
    assert s["CLIENT_ADDRESS_HEADER"] == "X-Forwarded-For"
    assert s["LOGIN_MAX_FAILURES_PER_USER"] == 5 and s["LOGIN_MAX_FAILURES_PER_ADDRESS"] == 100


@pytest.mark.parametrize(
    "url", ["annotator.example.org", "ftp://example.org", "https://example.org/app", "https://"]
)
def test_public_url_must_be_an_origin(
    url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ImproperlyConfigured, match="PUBLIC_URL"):
        load_settings(monkeypatch, tmp_path, "development", PUBLIC_URL=url)


def test_sign_up_gets_every_password_validator(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    names = {
        v["NAME"].rsplit(".", 1)[1]
        for v in load_settings(monkeypatch, tmp_path, "development")["AUTH_PASSWORD_VALIDATORS"]
    }
    assert names == {
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    }
