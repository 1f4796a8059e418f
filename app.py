"""Start the Tonomo calendar bot.

python app.py            serve the bot on HOST:PORT, configured from the environment (.env first)
python app.py --sandbox  run the whole bot on this machine, with the Slack and Google emulators
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from aiohttp import web
from dotenv import load_dotenv
from sqlalchemy.exc import SQLAlchemyError

from bot.config import ConfigError, Settings
from bot.server import create_web_app
from bot.services import build_services, freeze_start_up

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


def configure_logging(level: str) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    floor = max(logging.INFO, logging.getLevelNamesMapping()[level])
    for name in TOKEN_LEAKING_LOGGERS:
        logging.getLogger(name).setLevel(floor)


async def make_app(settings: Settings) -> web.Application:
    app = create_web_app(await build_services(settings))
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
    except ConfigError as err:
        print(f"tonomo: {err}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        web.run_app(
            make_app(settings),
            host=settings.host,
            port=settings.port,
            shutdown_timeout=10,
            print=None,
        )
    except (SQLAlchemyError, OSError) as err:
        print(f"tonomo: could not start: {describe_start_error(err)}", file=sys.stderr)
        return 1
    return 0


def describe_start_error(err: Exception) -> str:
    if isinstance(err, SQLAlchemyError):
        return f"the database at DATABASE_URL did not answer ({type(err).__name__})."
    return (
        f"{err.strerror or err} (check HOST and PORT, and that the database is reachable)."
        if isinstance(err, OSError)
        else str(err)
    )


if __name__ == "__main__":
    sys.exit(main())
