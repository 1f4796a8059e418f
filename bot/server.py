"""The aiohttp application: `/slack/events` into Bolt, the OAuth callback, `/healthz`.

Every Slack request is checked here before Bolt sees it (`bot.ingress`): its signature on
the raw bytes (401 otherwise), then its shape (400 for a signed request that isn't one of
Slack's); never a 500. Bolt then runs the listener and answers with its ack as soon as it
returns (`process_before_response`): every listener acknowledges (a form after its own
bounded checks), hands the rest to `handlers.work.AfterAck` and returns, so no ack waits
for that work, nor for Bolt's 10 ms looks for the ack.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from sqlalchemy.exc import SQLAlchemyError

import handlers
from bot import ingress
from bot.connections import Connected
from bot.health import InstanceHealth, probe_database
from bot.messages.connect import build_connected_notice
from bot.messages.pages import build_callback_page, build_trouble_page
from bot.scheduler import Scheduler
from bot.services import Services
from handlers.work import AfterAck
from storage.models import ConnectionKind

logger = logging.getLogger(__name__)

SERVICES = web.AppKey("services", Services)
HEALTH_TIMEOUT = 2.0
SHUTDOWN_GRACE = 10.0
"""Seconds the work after an ack may take to finish when the bot shuts down, before it is
cancelled (as long as `app.py` lets a request in flight finish)."""


def create_bolt_app(services: Services) -> tuple[AsyncApp, AfterAck]:
    """Bolt, told who the bot is from start-up's `auth.test` (it would otherwise ask Slack
    before its first ack), and trusting `slack_events`' own signature check; with the
    queue its listeners leave their work to. Bolt answers each request when its listener
    returns, with the listener's ack (its answer stands even if the listener then fails:
    `handlers.handle_error`)."""
    identity = services.identity

    async def authorize(**_: object) -> AuthorizeResult:
        identity.learn_later()  # only while Slack hasn't answered yet
        return AuthorizeResult(
            enterprise_id=None,
            team_id=identity.team_id,
            bot_user_id=identity.bot_user_id,
            bot_id=identity.bot_id,
            bot_token=services.settings.slack_bot_token,
        )

    app = AsyncApp(
        client=services.slack,
        signing_secret=services.settings.slack_signing_secret,
        authorize=authorize,
        request_verification_enabled=False,
        process_before_response=True,
    )
    return app, handlers.register(app, services)


def create_web_app(
    services: Services, *, periodic_jobs: bool = True, shutdown_grace: float = SHUTDOWN_GRACE
) -> web.Application:
    """The bot's web app; with `periodic_jobs`, its health and digest loops run while it
    serves. On cleanup the loops stop, the work after acks gets `shutdown_grace` seconds to
    finish (then is cancelled), and only then are the services closed."""
    bolt, after_ack = create_bolt_app(services)
    secret = services.settings.slack_signing_secret

    async def slack_events(request: web.Request) -> web.Response:
        """Signed, then well-formed, then Bolt (`bot.ingress`): never a 5xx from here."""
        try:
            body = await request.read()
        except (web.HTTPException, ValueError, aiohttp.ClientPayloadError):
            return web.Response(status=401, text="invalid request")  # can't be verified
        if not ingress.signed(body, request.headers, secret, time.time()):
            return web.Response(status=401, text="invalid request")
        problem = ingress.problem(body, request.headers)
        if problem is not None:
            logger.info("a signed request was refused: %s", problem)
            return web.Response(status=400, text="malformed request")
        bolt_request = AsyncBoltRequest(
            body=body.decode(),
            query=request.query_string,
            headers=request.headers,  # type: ignore[arg-type]
        )
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    async def oauth_callback(request: web.Request) -> web.Response:
        query = request.query
        try:
            outcome = await services.connections.complete(
                state=query.get("state"), code=query.get("code"), error=query.get("error")
            )
        except SQLAlchemyError:
            logger.exception("the OAuth callback could not reach the database")
            page = build_trouble_page()
            return web.Response(status=page.status, text=page.html, content_type="text/html")
        if isinstance(outcome, Connected):
            # The connection is saved and its link used: from here on the page says so,
            # whatever Slack (a 502 page, say) or the database then do; the failure is logged.
            try:
                user = await services.directory.user(outcome.slack_user_id)
                outcome = outcome.with_person(user.name if user is not None else None)
                if outcome.kind is ConnectionKind.PRIMARY:
                    await services.people.primary_connected_by(
                        outcome.customer, outcome.slack_user_id
                    )
                await services.poster.post(outcome.customer, build_connected_notice(outcome))
                if outcome.was_broken:
                    await services.health.deliver_notices()  # clear the alert in place now
                await services.onboarding.refresh(outcome.customer)
                # A Home tab left open (maybe on the link it gave) shows the connection now.
                if await services.people.has_home(outcome.customer, outcome.slack_user_id):
                    await services.home.refresh(outcome.customer.team_id, outcome.slack_user_id)
            except Exception:
                logger.exception(
                    "connected a %s calendar for %s in %s, but telling Slack about it failed",
                    outcome.kind,
                    outcome.slack_user_id,
                    outcome.customer.channel_id,
                )
        page = build_callback_page(outcome)
        return web.Response(status=page.status, text=page.html, content_type="text/html")

    async def healthz(_request: web.Request) -> web.Response:
        report = InstanceHealth(
            database=await probe_database(services.engine, within=HEALTH_TIMEOUT),
            jobs=scheduler.statuses(),  # none unless this instance runs its periodic jobs
        )
        return web.json_response(report.as_json(), status=200 if report.ok else 503)

    scheduler = Scheduler(
        health=services.health,
        interval=timedelta(minutes=services.settings.health_check_minutes),
        digests=services.digests,
        tick=services.settings.scheduler_tick_seconds,
    )

    async def start_scheduler(_app: web.Application) -> None:
        if periodic_jobs:
            scheduler.start()

    async def close_services(_app: web.Application) -> None:
        await scheduler.stop()
        await after_ack.close(shutdown_grace)
        await services.close()

    app = web.Application()
    app[SERVICES] = services
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/oauth/google/callback", oauth_callback)
    app.router.add_get("/healthz", healthz)
    app.on_startup.append(start_scheduler)
    app.on_cleanup.append(close_services)
    return app
