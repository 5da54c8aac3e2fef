"""The settings table is the single source for flags, environment variables and docs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from helseflyt.cli import app, is_loopback, redact
from helseflyt.settings import SETTINGS, Settings, SettingsError

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_documented(setting) -> None:
    assert f"`{setting.env}`" in README


def test_defaults() -> None:
    s = Settings()
    assert (s.host, s.port) == ("127.0.0.1", 8080)
    assert s.database_url == "sqlite:///helseflyt-data/helseflyt.db"


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELSEFLYT_PORT", "9999")
    monkeypatch.setenv("HELSEFLYT_DATABASE", "postgresql://u@h:5432/db")
    s = Settings.load()
    assert s.port == 9999 and s.database_url == "postgresql://u@h:5432/db"
    assert Settings.load(port=7000).port == 7000


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("10.1.2.3", False)],
)
def test_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_serve_refuses_public_address_without_access_control() -> None:
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "access control" in result.output


def test_redact_hides_password() -> None:
    assert redact("postgresql://u:secret@h:5432/db") == "postgresql://u@h:5432/db"


def test_load_names_missing_path(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["load", str(tmp_path / "nope.ndjson")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_access_settings_from_environment_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (Settings().access_care_days, Settings().access_emergency_hours) == (90, 4.0)
    monkeypatch.setenv("HELSEFLYT_ACCESS_CARE_DAYS", "30")
    monkeypatch.setenv("HELSEFLYT_ACCESS_EMERGENCY_HOURS", "1.5")
    monkeypatch.setenv("HELSEFLYT_ACCESS_CARE_CACHE_SECONDS", "0")
    s = Settings.load()
    assert (s.access_care_days, s.access_emergency_hours, s.access_care_cache_seconds) == (30, 1.5, 0.0)
    assert Settings.load(access_care_days="7").access_care_days == 7  # a flag wins


@pytest.mark.parametrize(
    ("name", "env", "raw", "hint"),
    [
        ("access_care_days", "HELSEFLYT_ACCESS_CARE_DAYS", "ninety", "whole number of days"),
        ("access_care_days", "HELSEFLYT_ACCESS_CARE_DAYS", "-1", "out of range"),
        ("access_care_days", "HELSEFLYT_ACCESS_CARE_DAYS", "2.5", "whole number of days"),
        ("access_emergency_hours", "HELSEFLYT_ACCESS_EMERGENCY_HOURS", "0", "above 0"),
        ("access_emergency_hours", "HELSEFLYT_ACCESS_EMERGENCY_HOURS", "nan", "hours"),
        ("access_care_cache_seconds", "HELSEFLYT_ACCESS_CARE_CACHE_SECONDS", "1e9", "seconds from 0"),
    ],
)
def test_invalid_access_setting_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, name: str, env: str, raw: str, hint: str
) -> None:
    monkeypatch.setenv(env, raw)
    with pytest.raises(SettingsError) as err:
        Settings.load()
    message = str(err.value)
    assert env in message and f"--{name.replace('_', '-')}" in message and hint in message
    assert repr(raw) in message


def test_serve_names_a_bad_access_flag() -> None:
    result = CliRunner().invoke(app, ["serve", "--access-emergency-hours", "forever"])
    assert result.exit_code == 2
    assert "--access-emergency-hours" in result.output and "e.g. 4" in result.output
