"""Start the Tonomo calendar bot.

python app.py            serve the bot on HOST:PORT, configured from the environment (.env first)
python app.py --sandbox  run the whole bot on this machine, with the Slack and Google emulators
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import resource
import sys
from collections.abc import Iterable

from aiohttp import web
from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from dotenv import load_dotenv
from slack_bolt.logger import messages as bolt_messages
from sqlalchemy.exc import SQLAlchemyError

from bot.config import ConfigError, Settings
from bot.server import create_web_app
from bot.services import build_services, freeze_start_up
from bot.tokens import TokenCipher, reseal_stored_secrets
from storage.db import DatabaseUnreachable

# Libraries that log request and response bodies (tokens included) at DEBUG: never below INFO.
TOKEN_LEAKING_LOGGERS = (
    "requests_oauthlib",
    "oauthlib",
    "google_auth_oauthlib",
    "google.auth",
    "google.oauth2",
    "googleapiclient",
    "urllib3",
    "httplib2",
    "slack_sdk",
    "slack_bolt",
)


# Bolt logs a request whose signature it rejects, whole body included, at INFO.
BODY_LOGGING_LOGGERS = ("slack_bolt.AsyncRequestVerification", "slack_bolt.RequestVerification")

FILES_BESIDE_GOOGLE = 256
"""Open files an instance needs besides its Google calls (one socket each): Slack's and the
database's connections, the requests it serves, its logs."""

# Query parameters that are secrets while they live: Google's one-time code and our state.
SECRET_PARAMETERS = re.compile(r"(?<=[?&;])(code|state)=[^&;\s\"]*")


def redact_url(text: str) -> str:
    """`text` with the values of `code=` and `state=` query parameters hidden."""
    return SECRET_PARAMETERS.sub(r"\1=REDACTED", text)


class RedactedAccessLogger(AccessLogger):
    """aiohttp's access log, with the OAuth callback's `code` and `state` hidden, in the
    request line and in headers that carry a URL (a page's Referer)."""

    def _format_line(
        self, request: BaseRequest, response: StreamResponse, time: float
    ) -> Iterable[tuple[str | tuple[str, str], str]]:
        line = super()._format_line(request, response, time)
        return [(key, redact_url(v) if isinstance(v, str) else v) for key, v in line]


class WithoutRequestBody(logging.Filter):
    """Keeps the fact that a request was rejected, drops the body Bolt logs with it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING and "body" in str(record.msg):
            record.msg = "a request with an invalid signature was rejected (its body not logged)"
            record.args = ()
        return True


class WithoutMigrationChatter(logging.Filter):
    """Alembic says which dialect it uses at every start; what it upgrades is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


class WithoutTokenNotes(logging.Filter):
    """Bolt warns at every start that a token it was given goes unused: the bot gives it a
    Web API client built with the bot token (which `SLACK_BOT_TOKEN` holds too) and an
    `authorize` that answers with that token, on purpose (`bot.server.create_bolt_app`)."""

    NOTES = frozenset(
        {
            bolt_messages.warning_client_prioritized_and_token_skipped(),
            bolt_messages.warning_token_skipped(),
        }
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self.NOTES


def configure_logging(level: str) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    floor = max(logging.INFO, logging.getLevelNamesMapping()[level])
    for name in TOKEN_LEAKING_LOGGERS:
        logging.getLogger(name).setLevel(floor)
    # Bolt sets its loggers' levels when the app is built, but leaves their filters be.
    for name in BODY_LOGGING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, WithoutRequestBody) for f in logger.filters):
            logger.addFilter(WithoutRequestBody())
    migration = logging.getLogger("alembic.runtime.migration")
    if not any(isinstance(f, WithoutMigrationChatter) for f in migration.filters):
        migration.addFilter(WithoutMigrationChatter())
    bolt = logging.getLogger("slack_bolt.AsyncApp")
    if not any(isinstance(f, WithoutTokenNotes) for f in bolt.filters):
        bolt.addFilter(WithoutTokenNotes())


def open_files_soft_limit(needed: int, soft: int, hard: int) -> int:
    """The soft open-files limit to run with: `soft` if it gives `needed` already, else
    `needed`, but never above `hard` (either may be `resource.RLIM_INFINITY`)."""
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return soft
    return needed if hard == resource.RLIM_INFINITY else min(needed, hard)


def fit_open_files(settings: Settings) -> None:
    """Raise the process's soft open-files limit to fit `GOOGLE_CALLS_AT_ONCE` sockets and
    the rest; one warning when the hard limit doesn't allow it (calls past it would fail)."""
    needed = settings.google_calls_at_once + FILES_BESIDE_GOOGLE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = open_files_soft_limit(needed, soft, hard)
    if limit != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    if limit != resource.RLIM_INFINITY and limit < needed:
        logging.getLogger("tonomo").warning(
            "the open-files limit is %d (hard limit), below the %d that GOOGLE_CALLS_AT_ONCE=%d "
            "needs: raise the hard limit (ulimit -Hn) or lower GOOGLE_CALLS_AT_ONCE",
            limit,
            needed,
            settings.google_calls_at_once,
        )


async def make_app(settings: Settings) -> web.Application:
    services = await build_services(settings)
    try:
        await reseal_stored_secrets(services.engine, TokenCipher(settings.token_encryption_key))
    except BaseException:
        await services.close()
        raise
    app = create_web_app(services)
    freeze_start_up()
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The Tonomo calendar bot for Slack.")
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="run on this machine alone, with Slack and Google emulated",
    )
    parser.add_argument("--port", type=int, default=None, help="with --sandbox: the bot's port")
    args = parser.parse_args(argv)

    if args.sandbox:
        from sandbox.run import run_sandbox

        configure_logging("INFO")
        return asyncio.run(run_sandbox(port=args.port))

    load_dotenv(".env", override=False)  # real environment variables win over .env
    try:
        settings = Settings.from_env()
    except ConfigError as err:  # every bad variable at once, one line each
        report(err)
        return 2
    configure_logging(settings.log_level)
    fit_open_files(settings)
    try:
        web.run_app(
            make_app(settings),
            host=settings.host,
            port=settings.port,
            shutdown_timeout=10,
            print=lambda _: print(listening_line(settings), flush=True),
            access_log_class=RedactedAccessLogger,
        )
    except ConfigError as err:  # Slack refuses the token; the key list opens no stored token
        report(err)
        return 2
    except DatabaseUnreachable as err:
        print(f"tonomo: {err}", file=sys.stderr)
        return 1
    except (SQLAlchemyError, OSError) as err:
        print(f"tonomo: could not start: {describe_start_error(err)}", file=sys.stderr)
        return 1
    return 0


def report(err: ConfigError) -> None:
    for problem in err.problems or [str(err)]:
        print(f"tonomo: {problem}", file=sys.stderr)


def listening_line(settings: Settings) -> str:
    """Said once the server accepts connections (aiohttp calls it then)."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return (
        f"tonomo: listening on http://{host}:{settings.port} "
        f"(Slack and Google reach it at {settings.public_url}); Ctrl-C stops it"
    )


def describe_start_error(err: Exception) -> str:
    if isinstance(err, SQLAlchemyError):
        return f"the database at DATABASE_URL did not answer ({type(err).__name__})."
    return f"{err.strerror or err} (check HOST and PORT)." if isinstance(err, OSError) else str(err)


if __name__ == "__main__":
    sys.exit(main())
