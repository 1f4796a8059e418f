"""Settings from the environment: defaults, and one clear line for each bad variable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet

from bot.config import HEALTH_LEASE_LOW, ConfigError, Settings
from bot.health import MIN_LEASE

KEY = Fernet.generate_key().decode()
GOOD = {
    "SLACK_BOT_TOKEN": "xoxb-1-2-3",
    "SLACK_SIGNING_SECRET": "secret",
    "GOOGLE_CLIENT_ID": "id.apps.googleusercontent.com",
    "GOOGLE_CLIENT_SECRET": "gsecret",
    "TOKEN_ENCRYPTION_KEY": KEY,
}


def test_defaults_of_the_contract() -> None:
    s = Settings.from_env(GOOD)
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.google_auth_uri == "https://accounts.google.com/o/oauth2/auth"
    assert s.google_token_uri == "https://oauth2.googleapis.com/token"
    assert s.google_revoke_uri == "https://oauth2.googleapis.com/revoke"
    assert s.google_api_url == "https://www.googleapis.com/calendar/v3/"
    assert s.public_url == "http://localhost:3000"
    assert s.oauth_redirect_uri == "http://localhost:3000/oauth/google/callback"
    assert s.database_url == "sqlite:///tonomo.db"
    assert (s.host, s.port, s.health_check_minutes, s.log_level) == ("0.0.0.0", 3000, 30, "INFO")
    assert not s.google_uses_plain_http


@pytest.mark.parametrize("name", sorted(GOOD))
def test_each_required_variable_is_named_when_missing(name: str) -> None:
    env = {k: v for k, v in GOOD.items() if k != name}
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env)
    assert str(err.value).startswith(name) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SLACK_BOT_TOKEN", "xoxp-user-token"),
        ("TOKEN_ENCRYPTION_KEY", "not-a-key"),
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("HEALTH_CHECK_MINUTES", "0"),
        ("LOG_LEVEL", "LOUD"),
        ("DATABASE_URL", "mysql://x/y"),
        ("DATABASE_URL", "tonomo.db"),
        ("PUBLIC_URL", "localhost:3000"),
        ("SLACK_API_URL", "ftp://slack.com/api/"),
        ("GOOGLE_TOKEN_URI", "http://oauth2.example.com/token"),
        ("GOOGLE_API_URL", "http://10.0.0.5/calendar/v3/"),
    ],
)
def test_malformed_values_are_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({**GOOD, name: value})
    assert str(err.value).startswith(name) and "\n" not in str(err.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.9.9", "localhost", "[::1]"])
def test_plain_http_google_is_accepted_only_on_loopback(host: str) -> None:
    s = Settings.from_env({**GOOD, "GOOGLE_TOKEN_URI": f"http://{host}:8080/token"})
    assert s.google_uses_plain_http


def test_base_urls_get_their_trailing_slash() -> None:
    s = Settings.from_env(
        {
            **GOOD,
            "SLACK_API_URL": "http://127.0.0.1:5/api",
            "PUBLIC_URL": "https://bot.example.com/",
        }
    )
    assert s.slack_api_url == "http://127.0.0.1:5/api/"
    assert s.public_url == "https://bot.example.com"


def test_several_keys_are_comma_separated_newest_first() -> None:
    newer = Fernet.generate_key().decode()
    s = Settings.from_env({**GOOD, "TOKEN_ENCRYPTION_KEY": f" {newer} , {KEY} "})
    assert s.token_encryption_key == f"{newer},{KEY}"

    for value in (f"{newer},not-a-key", f"{newer},", f"{newer};{KEY}"):
        with pytest.raises(ConfigError) as err:
            Settings.from_env({**GOOD, "TOKEN_ENCRYPTION_KEY": value})
        assert str(err.value).startswith("TOKEN_ENCRYPTION_KEY is malformed")
        assert "\n" not in str(err.value) and KEY not in str(err.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SLACK_BOT_TOKEN", "xoxb-your-bot-token"),
        ("SLACK_SIGNING_SECRET", "your-signing-secret"),
        ("GOOGLE_CLIENT_ID", "your-client-id.apps.googleusercontent.com"),
        ("GOOGLE_CLIENT_SECRET", "your_client_secret"),
        ("GOOGLE_CLIENT_SECRET", "<client secret>"),
        ("PUBLIC_URL", "https://tonomo.example.com/"),
    ],
)
def test_placeholders_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({**GOOD, name: value})
    assert str(err.value).startswith(f"{name} is still the placeholder")
    assert "\n" not in str(err.value)


def test_every_problem_is_reported_at_once_in_the_order_of_env_example() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env(
            {
                "SLACK_BOT_TOKEN": "xoxp-a-user-token",
                "GOOGLE_CLIENT_ID": "your-client-id.apps.googleusercontent.com",
                "PORT": "eighty",
                "LOG_LEVEL": "LOUD",
            }
        )
    problems = err.value.problems
    assert [p.split()[0] for p in problems] == [
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "GOOGLE_CLIENT_ID",
        "GOOGLE_CLIENT_SECRET",
        "TOKEN_ENCRYPTION_KEY",
        "PORT",
        "LOG_LEVEL",
    ]
    assert str(err.value).splitlines() == problems


def test_real_looking_values_are_not_mistaken_for_placeholders() -> None:
    s = Settings.from_env(
        {
            **GOOD,
            "SLACK_SIGNING_SECRET": "8f14e45fceea167a5a36dedd4bea2543",
            "GOOGLE_CLIENT_SECRET": "GOCSPX-yourself-and-others",
            "PUBLIC_URL": "https://tonomo.acme-photo.com",
        }
    )
    assert s.public_url == "https://tonomo.acme-photo.com"


TUNING = (
    "GOOGLE_CALLS_AT_ONCE",
    "GOOGLE_CALLS_PER_ACCOUNT",
    "HEALTH_LEASE_SECONDS",
    "SCHEDULER_TICK_SECONDS",
)


def test_the_optional_tuning_has_its_defaults() -> None:
    s = Settings.from_env(GOOD)
    assert (s.google_calls_at_once, s.google_calls_per_account) == (1024, 4)
    assert (s.health_lease_seconds, s.scheduler_tick_seconds) == (300, 60)


def test_the_optional_tuning_is_read() -> None:
    s = Settings.from_env(
        {
            **GOOD,
            "GOOGLE_CALLS_AT_ONCE": "2048",
            "GOOGLE_CALLS_PER_ACCOUNT": " 1 ",
            "HEALTH_LEASE_SECONDS": "60",
            "SCHEDULER_TICK_SECONDS": "15",
        }
    )
    assert (s.google_calls_at_once, s.google_calls_per_account) == (2048, 1)
    assert (s.health_lease_seconds, s.scheduler_tick_seconds) == (60, 15)


def test_a_lease_shorter_than_a_takeover_is_refused_and_the_shortest_is_health_s() -> None:
    """Health's own floor (a takeover's time twice) is the one the setting states."""
    assert timedelta(seconds=HEALTH_LEASE_LOW) == MIN_LEASE
    with pytest.raises(ConfigError) as err:
        Settings.from_env({**GOOD, "HEALTH_LEASE_SECONDS": str(HEALTH_LEASE_LOW - 1)})
    assert str(err.value) == (
        f"HEALTH_LEASE_SECONDS is malformed: expected a whole number from {HEALTH_LEASE_LOW}"
        f" to 86400, got '{HEALTH_LEASE_LOW - 1}'."
    )
    lowest = Settings.from_env({**GOOD, "HEALTH_LEASE_SECONDS": str(HEALTH_LEASE_LOW)})
    assert lowest.health_lease_seconds == HEALTH_LEASE_LOW


@pytest.mark.parametrize("name", TUNING)
@pytest.mark.parametrize("value", ["0", "-5", "1.5", "lots", "99999999"])
def test_bad_tuning_is_one_line_naming_the_variable(name: str, value: str) -> None:
    low = HEALTH_LEASE_LOW if name == "HEALTH_LEASE_SECONDS" else 1
    with pytest.raises(ConfigError) as err:
        Settings.from_env({**GOOD, name: value})
    assert str(err.value).startswith(f"{name} is malformed: expected a whole number from {low} to ")
    assert str(err.value).endswith(f"got {value!r}.") and "\n" not in str(err.value)
