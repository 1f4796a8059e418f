"""Settings: the one place that reads the environment.

`Settings.from_env()` validates every variable of the contract and raises `ConfigError`
with one line naming the variable and what was expected. `app.py` prints that line
and exits; nothing else in the bot reads `os.environ`.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

DEFAULTS = {
    "SLACK_API_URL": "https://slack.com/api/",
    "GOOGLE_AUTH_URI": "https://accounts.google.com/o/oauth2/auth",
    "GOOGLE_TOKEN_URI": "https://oauth2.googleapis.com/token",
    "GOOGLE_REVOKE_URI": "https://oauth2.googleapis.com/revoke",
    "GOOGLE_API_URL": "https://www.googleapis.com/calendar/v3/",
    "PUBLIC_URL": "http://localhost:3000",
    "DATABASE_URL": "sqlite:///tonomo.db",
    "HOST": "0.0.0.0",  # noqa: S104 - a server listens on every interface by default
    "PORT": "3000",
    "HEALTH_CHECK_MINUTES": "30",
    "LOG_LEVEL": "INFO",
}

FERNET_KEY = re.compile(r"[A-Za-z0-9_-]{43}=")
"""32 bytes, url-safe base64."""

GOOGLE_URL_VARIABLES = (
    "GOOGLE_AUTH_URI",
    "GOOGLE_TOKEN_URI",
    "GOOGLE_REVOKE_URI",
    "GOOGLE_API_URL",
)


class ConfigError(Exception):
    """A missing or malformed variable; the message is the one line shown at start-up."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    slack_bot_token: str
    slack_signing_secret: str
    slack_api_url: str
    google_client_id: str
    google_client_secret: str
    google_auth_uri: str
    google_token_uri: str
    google_revoke_uri: str
    google_api_url: str
    public_url: str
    database_url: str
    token_encryption_key: str
    host: str
    port: int
    health_check_minutes: int
    log_level: str

    @property
    def oauth_redirect_uri(self) -> str:
        return self.public_url + "/oauth/google/callback"

    @property
    def google_uses_plain_http(self) -> bool:
        """True when the Google endpoints are plain-HTTP loopback emulators."""
        return any(
            urlsplit(getattr(self, name.lower())).scheme == "http" for name in GOOGLE_URL_VARIABLES
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the configuration (the process environment by default)."""
        source = os.environ if env is None else env

        def get(name: str) -> str:
            return source.get(name, "").strip() or DEFAULTS.get(name, "")

        def required(name: str, expected: str) -> str:
            value = source.get(name, "").strip()
            if not value:
                raise ConfigError(f"{name} is not set: expected {expected}.")
            return value

        bot_token = required("SLACK_BOT_TOKEN", "a Slack bot token starting with xoxb-")
        if not bot_token.startswith("xoxb-"):
            raise ConfigError(
                "SLACK_BOT_TOKEN is malformed: expected a bot token starting with xoxb-."
            )
        return cls(
            slack_bot_token=bot_token,
            slack_signing_secret=required(
                "SLACK_SIGNING_SECRET",
                "the signing secret from the Slack app's Basic Information page",
            ),
            slack_api_url=_base_url("SLACK_API_URL", get("SLACK_API_URL")),
            google_client_id=required(
                "GOOGLE_CLIENT_ID", "the OAuth client ID of a Google Cloud project"
            ),
            google_client_secret=required("GOOGLE_CLIENT_SECRET", "the OAuth client secret"),
            google_auth_uri=_google_url("GOOGLE_AUTH_URI", get("GOOGLE_AUTH_URI")),
            google_token_uri=_google_url("GOOGLE_TOKEN_URI", get("GOOGLE_TOKEN_URI")),
            google_revoke_uri=_google_url("GOOGLE_REVOKE_URI", get("GOOGLE_REVOKE_URI")),
            google_api_url=_base_url(
                "GOOGLE_API_URL", _google_url("GOOGLE_API_URL", get("GOOGLE_API_URL"))
            ),
            public_url=_http_url("PUBLIC_URL", get("PUBLIC_URL")).rstrip("/"),
            database_url=_database_url(get("DATABASE_URL")),
            token_encryption_key=_fernet_keys(
                required(
                    "TOKEN_ENCRYPTION_KEY",
                    'a Fernet key (python -c "from cryptography.fernet '
                    'import Fernet; print(Fernet.generate_key().decode())")',
                )
            ),
            host=get("HOST"),
            port=_integer("PORT", get("PORT"), low=1, high=65535),
            health_check_minutes=_integer(
                "HEALTH_CHECK_MINUTES", get("HEALTH_CHECK_MINUTES"), low=1, high=1440
            ),
            log_level=_log_level(get("LOG_LEVEL")),
        )


def _http_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{name} is malformed: expected an http:// or https:// URL, got {value!r}."
        )
    return value


def _base_url(name: str, value: str) -> str:
    return _http_url(name, value).rstrip("/") + "/"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _google_url(name: str, value: str) -> str:
    parts = urlsplit(_http_url(name, value))
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise ConfigError(
            f"{name} must use https:// (plain http:// is accepted only for a loopback host), got {value!r}."
        )
    return value


def _database_url(value: str) -> str:
    scheme = value.split(":", 1)[0].split("+", 1)[0]
    if "://" not in value or scheme not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError(
            f"DATABASE_URL is malformed: expected sqlite:///path or postgresql://user@host/db, got {value!r}."
        )
    return value


def _fernet_keys(value: str) -> str:
    """One Fernet key, or several comma-separated, newest first (the first seals, any opens)."""
    keys = [key.strip() for key in value.split(",")]
    for number, key in enumerate(keys, start=1):
        try:
            if not FERNET_KEY.fullmatch(key):  # base64 decoding alone skips stray characters
                raise ValueError("not 32 bytes of url-safe base64")
            Fernet(key.encode())
        except ValueError as err:
            which = f"key {number} of {len(keys)} is not" if len(keys) > 1 else "expected"
            raise ConfigError(
                f"TOKEN_ENCRYPTION_KEY is malformed: {which} a Fernet key (32 url-safe "
                "base64-encoded bytes; several keys are comma-separated, newest first)."
            ) from err
    return ",".join(keys)


def _integer(name: str, value: str, *, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise ConfigError(
            f"{name} is malformed: expected a whole number from {low} to {high}, got {value!r}."
        )
    return number


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(
            f"LOG_LEVEL is malformed: expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got {value!r}."
        )
    return level
