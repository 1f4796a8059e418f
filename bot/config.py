"""Settings: the one place that reads the environment.

`Settings.from_env()` validates every variable of the contract and raises `ConfigError`
naming every variable that is missing, malformed or still a placeholder from
`.env.example`, one line each, so an empty `.env` is fixed in one go. `app.py` prints
those lines and exits; nothing else in the bot reads `os.environ`.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar
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
    # Optional tuning, beside the contract's variables (README.md, "Configuration").
    "GOOGLE_CALLS_AT_ONCE": "1024",
    "GOOGLE_CALLS_PER_ACCOUNT": "4",
    "HEALTH_LEASE_SECONDS": "300",
    "SCHEDULER_TICK_SECONDS": "60",
}
HEALTH_LEASE_LOW = 10
"""The shortest `HEALTH_LEASE_SECONDS` (`bot.health.MIN_LEASE`, which a test keeps equal):
a takeover needs a few seconds after a lease lapses, and a claim must outlast a check."""

T = TypeVar("T")

FERNET_KEY = re.compile(r"[A-Za-z0-9_-]{43}=")
"""32 bytes, url-safe base64."""

GOOGLE_URL_VARIABLES = (
    "GOOGLE_AUTH_URI",
    "GOOGLE_TOKEN_URI",
    "GOOGLE_REVOKE_URI",
    "GOOGLE_API_URL",
)


PLACEHOLDER = re.compile(r"(^|[^a-z])your[-_]|<[^>]*>|^(changeme|change-me|replace-me|todo)$", re.I)
"""What a value copied from `.env.example` (or a tutorial) still says: `xoxb-your-bot-token`,
`your-client-id.apps.googleusercontent.com`, `<secret>`."""

PLACEHOLDER_HOSTS = ("tonomo.example.com",)
"""The public address `.env.example` and `manifest.yml` ship with."""


class ConfigError(Exception):
    """Missing, malformed or placeholder variables: one line each, the lines shown at start-up.

    `problems` holds the lines; the message is them joined by newlines (a single problem is
    a single line)."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


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
    google_calls_at_once: int
    """Calls of the instance at Google at once (its connection pool: one socket each)."""
    google_calls_per_account: int
    """Calls of one Google account at Google at once."""
    health_lease_seconds: float
    """How long a periodic check holds a claimed connection before another instance may
    take it over. Whole seconds from the environment; a test may set less."""
    scheduler_tick_seconds: float
    """How often each periodic job looks for due work. Whole seconds from the environment;
    a test may set less."""

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
        """Read and validate the configuration (the process environment by default).

        Every variable is checked before anything is refused: the `ConfigError` names them
        all, in the order `.env.example` lists them."""
        source = os.environ if env is None else env
        problems: list[str] = []

        def get(name: str) -> str:
            return source.get(name, "").strip() or DEFAULTS.get(name, "")

        def required(name: str, expected: str) -> str:
            value = source.get(name, "").strip()
            if not value:
                raise ConfigError(f"{name} is not set: expected {expected}.")
            if PLACEHOLDER.search(value):
                raise ConfigError(
                    f"{name} is still the placeholder from .env.example: expected {expected}."
                )
            return value

        def checked(read: Callable[[], T], fallback: T) -> T:
            """`read()`, or `fallback` with its problem kept for the one error at the end."""
            try:
                return read()
            except ConfigError as err:
                problems.extend(err.problems)
                return fallback

        def whole(name: str, *, high: int, low: int = 1) -> int:
            """A whole number from `low` to `high`, or 0 with its problem kept."""
            return checked(lambda: _integer(name, get(name), low=low, high=high), 0)

        settings = cls(
            slack_bot_token=checked(lambda: _bot_token(required), ""),
            slack_signing_secret=checked(
                lambda: required(
                    "SLACK_SIGNING_SECRET",
                    "the signing secret from the Slack app's Basic Information page",
                ),
                "",
            ),
            slack_api_url=checked(lambda: _base_url("SLACK_API_URL", get("SLACK_API_URL")), ""),
            google_client_id=checked(
                lambda: required(
                    "GOOGLE_CLIENT_ID",
                    "the OAuth client ID of a Google Cloud project (…apps.googleusercontent.com)",
                ),
                "",
            ),
            google_client_secret=checked(
                lambda: required("GOOGLE_CLIENT_SECRET", "that OAuth client's secret"),
                "",
            ),
            google_auth_uri=checked(
                lambda: _google_url("GOOGLE_AUTH_URI", get("GOOGLE_AUTH_URI")),
                "",
            ),
            google_token_uri=checked(
                lambda: _google_url("GOOGLE_TOKEN_URI", get("GOOGLE_TOKEN_URI")),
                "",
            ),
            google_revoke_uri=checked(
                lambda: _google_url("GOOGLE_REVOKE_URI", get("GOOGLE_REVOKE_URI")),
                "",
            ),
            google_api_url=checked(
                lambda: _base_url(
                    "GOOGLE_API_URL", _google_url("GOOGLE_API_URL", get("GOOGLE_API_URL"))
                ),
                "",
            ),
            public_url=checked(lambda: _public_url(get("PUBLIC_URL")), ""),
            database_url=checked(lambda: _database_url(get("DATABASE_URL")), ""),
            token_encryption_key=checked(
                lambda: _fernet_keys(
                    required(
                        "TOKEN_ENCRYPTION_KEY",
                        'a Fernet key (python -c "from cryptography.fernet '
                        'import Fernet; print(Fernet.generate_key().decode())")',
                    )
                ),
                "",
            ),
            host=get("HOST"),
            port=whole("PORT", high=65535),
            health_check_minutes=whole("HEALTH_CHECK_MINUTES", high=1440),
            log_level=checked(lambda: _log_level(get("LOG_LEVEL")), ""),
            google_calls_at_once=whole("GOOGLE_CALLS_AT_ONCE", high=65535),
            google_calls_per_account=whole("GOOGLE_CALLS_PER_ACCOUNT", high=1000),
            health_lease_seconds=whole("HEALTH_LEASE_SECONDS", low=HEALTH_LEASE_LOW, high=86400),
            scheduler_tick_seconds=whole("SCHEDULER_TICK_SECONDS", high=3600),
        )
        if problems:
            raise ConfigError(*problems)
        return settings


def _bot_token(required: Callable[[str, str], str]) -> str:
    token = required("SLACK_BOT_TOKEN", "a Slack bot token starting with xoxb-")
    if not token.startswith("xoxb-"):
        raise ConfigError("SLACK_BOT_TOKEN is malformed: expected a bot token starting with xoxb-.")
    return token


def _public_url(value: str) -> str:
    url = _http_url("PUBLIC_URL", value).rstrip("/")
    if urlsplit(url).hostname in PLACEHOLDER_HOSTS:
        raise ConfigError(
            f"PUBLIC_URL is still the placeholder {url}: expected the https:// address where "
            "Slack and Google reach this bot."
        )
    return url


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
