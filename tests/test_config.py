"""Settings and keys: nothing secret has a default, and a bad key file stops start-up cleanly."""

from __future__ import annotations

import json
import os

import pytest

from caseapp import create_app
from caseapp.config import ConfigError, load_settings
from tests.conftest import base_overrides, make_instance


def test_missing_secret_key_stops_startup(tmp_path, monkeypatch):
    monkeypatch.delenv("CASEAPP_SECRET_KEY", raising=False)
    instance = make_instance(tmp_path / "instance")
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}, instance_path=instance)
    assert not (tmp_path / "x.db").exists()


def test_short_secret_key_refused_outside_development(tmp_path):
    with pytest.raises(ConfigError, match="too short"):
        load_settings(tmp_path, {"SECRET_KEY": "short"})
    assert load_settings(tmp_path, {"SECRET_KEY": "short", "ENV": "development"}).is_development


def test_instance_config_then_environment(tmp_path, monkeypatch):
    (tmp_path / "config.py").write_text(
        "SECRET_KEY = 'k' * 40\nPROVINCE = 1\nSESSION_IDLE_MINUTES = 10\nMY_EXTRA = 'yes'\n"
    )
    monkeypatch.setenv("CASEAPP_PROVINCE", "33")
    monkeypatch.setenv("CASEAPP_LOCAL_HTTP", "true")
    settings = load_settings(tmp_path)
    assert settings.PROVINCE == 33  # the environment wins over the file
    assert settings.SESSION_IDLE_MINUTES == 10
    assert settings.LOCAL_HTTP is True
    assert settings.EXTRA == {"MY_EXTRA": "yes"}
    assert settings.database_url == f"sqlite:///{tmp_path / 'caseapp.db'}"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CASEAPP_PROVINCE", "thirty-three", "PROVINCE must be a whole number"),
        ("CASEAPP_LOCAL_HTTP", "perhaps", "LOCAL_HTTP must be true or false"),
        ("CASEAPP_ENV", "staging", "ENV must be"),
    ],
)
def test_bad_values_named_in_the_message(tmp_path, monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path, {"SECRET_KEY": "k" * 40})


def test_broken_config_file_named(tmp_path):
    (tmp_path / "config.py").write_text("SECRET_KEY = (\n")
    with pytest.raises(ConfigError, match=r"config\.py cannot be read"):
        load_settings(tmp_path)


@pytest.mark.plan("E7")
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "is missing"),
        ("{not json", "is corrupt"),
        (json.dumps({"format": 1, "kek": {"primary": "k1", "keys": {}}}), "no key-encryption"),
        (
            json.dumps(
                {
                    "format": 1,
                    "kek": {"primary": "k1", "keys": {"k1": "c2hvcnQ="}},
                    "blind_index": "",
                }
            ),
            "must be 32 bytes",
        ),
        (
            json.dumps(
                {
                    "format": 1,
                    "kek": {"primary": "k2", "keys": {"k1": "A" * 43 + "="}},
                    "blind_index": "",
                }
            ),
            "primary key is not in the ring",
        ),
    ],
)
def test_missing_or_corrupt_key_file_stops_startup(tmp_path, content, message):
    instance = tmp_path / "instance"
    instance.mkdir()
    if content is not None:
        (instance / "keys.json").write_text(content)
    database = tmp_path / "never.db"
    with pytest.raises(ConfigError, match=message):
        create_app(base_overrides(f"sqlite:///{database}"), instance_path=instance)
    assert not database.exists(), "nothing is touched before the keys are good"


def test_key_file_created_private(tmp_path):
    instance = make_instance(tmp_path / "instance")
    mode = os.stat(instance / "keys.json").st_mode & 0o777
    assert mode == 0o600
    assert "KeyRing(primary='k1'" in repr(
        create_app(
            base_overrides(f"sqlite:///{tmp_path / 'a.db'}"), instance_path=instance
        ).extensions["caseapp.keyring"]
    )
