"""Settings from environment variables: defaults per stage, clear errors for bad values."""
from __future__ import annotations

import pytest

from chalicelib.settings import Settings, SettingsError
from tests.conftest import Stage
from tests.support import cold_start


def test_settings_defaults_derive_from_stage() -> None:
    settings = Settings.from_environ({"KEYPIN_STAGE": "prod"})

    assert settings.key_parameter == "/keypin/prod/signing-keys"
    assert settings.users_table == "keypin-prod-users"
    assert settings.sessions_table == "keypin-prod-sessions"
    assert settings.issuer == "keypin-prod"
    assert settings.access_ttl_seconds == 900
    assert settings.refresh_ttl_seconds == 1_209_600
    assert settings.leeway_seconds == 30
    assert settings.refresh_reuse_grace_seconds == 30
    assert settings.allow_registration is True


def test_settings_stage_defaults_to_local() -> None:
    assert Settings.from_environ({}).stage == "local"


def test_settings_reads_overrides() -> None:
    settings = Settings.from_environ({"KEYPIN_ACCESS_TTL_SECONDS": "2", "KEYPIN_ALLOW_REGISTRATION": "false",
                                      "KEYPIN_REFRESH_REUSE_GRACE_SECONDS": "0"})

    assert settings.access_ttl_seconds == 2
    assert settings.allow_registration is False
    assert settings.refresh_reuse_grace_seconds == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KEYPIN_ACCESS_TTL_SECONDS", "ten"),
        ("KEYPIN_ACCESS_TTL_SECONDS", "0"),
        ("KEYPIN_REFRESH_TTL_SECONDS", "-5"),
        ("KEYPIN_LEEWAY_SECONDS", "-1"),
        ("KEYPIN_LEEWAY_SECONDS", "1.5"),
        ("KEYPIN_KEY_MAX_AGE_SECONDS", "soon"),
        ("KEYPIN_ALLOW_REGISTRATION", "maybe"),
    ],
)
def test_settings_bad_value_names_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_environ({name: value})

    assert name in str(info.value)
    assert value in str(info.value)


def test_bad_setting_stops_cold_start(provisioned: Stage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYPIN_ACCESS_TTL_SECONDS", "fifteen minutes")

    with pytest.raises(SettingsError, match="KEYPIN_ACCESS_TTL_SECONDS"):
        cold_start()
