"""Typed settings: defaults, then ``instance/config.py``, then ``CASEAPP_*`` environment variables.

Nothing secret has a default. A missing secret stops start-up with a message saying how to fix it.
"""

from __future__ import annotations

import os
import re
import runpy
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    """Start-up cannot go on: the message tells the operator what to fix."""


ENV_PREFIX = "CASEAPP_"
# CASEAPP_* variables that are not settings: the instance folder, and the test and bench databases.
NOT_SETTINGS = frozenset({"INSTANCE", "TEST_DATABASE_URL", "BENCH_DATABASE_URL"})
DEFAULT_PROVINCE = 33  # Hưng Yên, which Thái Bình joined on 1 July 2025


@dataclass(frozen=True)
class Settings:
    """Every setting CaseApp reads; names match ``instance/config.py`` and ``CASEAPP_<NAME>``."""

    INSTANCE_PATH: Path
    SECRET_KEY: str = ""
    DATABASE_URL: str = ""
    ENV: str = "production"  # "production" or "development"
    PROVINCE: int = DEFAULT_PROVINCE
    # Plain HTTP on loopback (``make run``): drop the __Host- cookie prefix and the Secure flag.
    LOCAL_HTTP: bool = False
    KEYRING_FILE: str = "keys.json"
    DEFAULT_LOCALE: str = "vi"
    TIMEZONE: str = "Asia/Ho_Chi_Minh"
    SESSION_IDLE_MINUTES: int = 30
    SESSION_ABSOLUTE_HOURS: int = 12
    LOGIN_MAX_FAILURES: int = 5
    LOGIN_FAILURE_WINDOW_MINUTES: int = 15
    LOGIN_LOCK_MINUTES: int = 15
    PASSWORD_MIN_LENGTH: int = 12
    PASSWORD_MAX_LENGTH: int = 256
    ARGON2_TIME_COST: int = 3
    ARGON2_MEMORY_COST: int = 65536
    ARGON2_PARALLELISM: int = 4
    MAX_CONTENT_LENGTH: int = 16 * 1024 * 1024
    PAGE_SIZE: int = 50
    # E-mail digests: sent only when SMTP_HOST is set. SMTP_SECURITY: "starttls", "ssl" or "none"
    # (plain SMTP: only to a relay on the same machine or network).
    SMTP_HOST: str = ""
    SMTP_PORT: int = 587
    SMTP_SECURITY: str = "starttls"
    SMTP_USERNAME: str = ""
    SMTP_PASSWORD: str = ""
    SMTP_TIMEOUT_SECONDS: int = 15
    MAIL_FROM: str = ""
    # The address users reach CaseApp at, for the link in e-mails (optional).
    BASE_URL: str = ""
    # Reporting periods (DESIGN §5, Decree 09/2019/NĐ-CP): the data cut-off days, "MM-DD". The
    # six-monthly report runs from the day after last year's cut-off to REPORT_HALF_YEAR_END, the
    # yearly report to REPORT_YEAR_END.
    REPORT_HALF_YEAR_END: str = "06-14"
    REPORT_YEAR_END: str = "12-14"
    # Anonymized statistics: counts from 1 to STATISTICS_MIN_CELL - 1 are shown as "<5".
    STATISTICS_MIN_CELL: int = 5
    # Commune alert (Decision 28/2025/QĐ-TTg): users and addicts on record per 10,000 residents.
    ALERT_PER_10000: int = 50
    # The dashboard reuses figures computed less than this many minutes ago (0: always compute).
    INDICATOR_CACHE_MINUTES: int = 10
    # Retention (ASVS 14.2.7): a closed file is anonymised this many whole years after its
    # closure (identities erased, statistics kept), unless it is under a legal hold. The nightly
    # job anonymises at most RETENTION_MAX_PER_RUN files, the rest on the following nights.
    RETENTION_YEARS: int = 5
    RETENTION_MAX_PER_RUN: int = 2000
    # Break-glass access (an officer or administrator reading a file outside their scope, with a
    # reason): how long a grant lasts, and how many requests one account may make in 24 hours
    # (found or not: the cap also bounds guessing case codes).
    BREAK_GLASS_MINUTES: int = 60
    BREAK_GLASS_DAILY_LIMIT: int = 10
    EXTRA: dict[str, Any] = field(default_factory=dict)

    @property
    def is_development(self) -> bool:
        return self.ENV == "development"

    @property
    def keyring_path(self) -> Path:
        path = Path(self.KEYRING_FILE)
        return path if path.is_absolute() else self.INSTANCE_PATH / path

    @property
    def database_url(self) -> str:
        if self.DATABASE_URL:
            return self.DATABASE_URL
        return f"sqlite:///{self.INSTANCE_PATH / 'caseapp.db'}"


def _coerce(name: str, raw: Any, target: Any) -> Any:
    if isinstance(target, bool):
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{name} must be true or false, not {raw!r}.")
    if isinstance(target, int):
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from None
    return str(raw)


def _check_month_day(name: str, raw: str) -> None:
    match = re.fullmatch(r"(\d\d)-(\d\d)", raw)
    try:
        if match is None:
            raise ValueError
        date(2001, int(match[1]), int(match[2]))  # a year without 29 February
    except ValueError:
        raise ConfigError(f"{name} must be a day of the year as MM-DD, not {raw!r}.") from None


def instance_path_from_env(default: Path | None = None) -> Path:
    """The instance folder: ``CASEAPP_INSTANCE`` or ``./instance``."""
    raw = os.environ.get(f"{ENV_PREFIX}INSTANCE")
    if raw:
        return Path(raw).resolve()
    return (default or Path.cwd() / "instance").resolve()


def read_instance_config(instance_path: Path) -> dict[str, Any]:
    """Upper-case names defined in ``instance/config.py`` (absent file: nothing)."""
    path = instance_path / "config.py"
    if not path.exists():
        return {}
    try:
        values = runpy.run_path(str(path))
    except Exception as exc:  # a broken config file must stop start-up with its own message
        raise ConfigError(f"{path} cannot be read: {type(exc).__name__}: {exc}") from exc
    return {k: v for k, v in values.items() if k.isupper()}


def load_settings(instance_path: Path, overrides: dict[str, Any] | None = None) -> Settings:
    """Build the settings and check that the secrets are there."""
    defaults = Settings(INSTANCE_PATH=instance_path)
    known = {f.name: getattr(defaults, f.name) for f in fields(Settings)}
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    sources: list[dict[str, Any]] = [
        read_instance_config(instance_path),
        {
            k.removeprefix(ENV_PREFIX): v
            for k, v in os.environ.items()
            if k.startswith(ENV_PREFIX) and k.removeprefix(ENV_PREFIX) not in NOT_SETTINGS
        },
        overrides or {},
    ]
    for source in sources:
        for name, raw in source.items():
            if name in {"INSTANCE_PATH", "EXTRA"}:
                continue
            if name in known:
                values[name] = _coerce(name, raw, known[name])
            else:
                extra[name] = raw
    settings = replace(defaults, **values, EXTRA=extra)
    if settings.ENV not in {"production", "development"}:
        raise ConfigError(f"ENV must be 'production' or 'development', not {settings.ENV!r}.")
    if settings.SMTP_SECURITY not in {"starttls", "ssl", "none"}:
        raise ConfigError(
            f"SMTP_SECURITY must be 'starttls', 'ssl' or 'none', not {settings.SMTP_SECURITY!r}."
        )
    for name in ("REPORT_HALF_YEAR_END", "REPORT_YEAR_END"):
        _check_month_day(name, getattr(settings, name))
    if settings.STATISTICS_MIN_CELL < 1 or settings.ALERT_PER_10000 < 1:
        raise ConfigError("STATISTICS_MIN_CELL and ALERT_PER_10000 must be at least 1.")
    if settings.RETENTION_YEARS < 1 or settings.RETENTION_MAX_PER_RUN < 1:
        raise ConfigError("RETENTION_YEARS and RETENTION_MAX_PER_RUN must be at least 1.")
    if not 1 <= settings.BREAK_GLASS_MINUTES <= 24 * 60:
        raise ConfigError("BREAK_GLASS_MINUTES must be between 1 and 1440.")
    if settings.BREAK_GLASS_DAILY_LIMIT < 1:
        raise ConfigError("BREAK_GLASS_DAILY_LIMIT must be at least 1.")
    if not settings.SECRET_KEY:
        raise ConfigError(
            "SECRET_KEY is not set. Run `caseapp init` to create instance/config.py, "
            "or set CASEAPP_SECRET_KEY."
        )
    if len(settings.SECRET_KEY) < 32 and not settings.is_development:
        raise ConfigError("SECRET_KEY is too short: use at least 32 random characters.")
    return settings
