"""The aiohttp application: `/slack/events` into Bolt, the OAuth callback, `/healthz`.

Bolt verifies every Slack request's signature and timestamp (401 otherwise) and runs
listeners with `ack()` first. A request whose body cannot even be parsed is answered
here: 401 if its signature is bad, 400 if it is signed, never a 500.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.exc import SQLAlchemyError

import handlers
from bot.connections import Connected
from bot.health import InstanceHealth, probe_database
from bot.messages.connect import build_connected_notice
from bot.messages.pages import build_callback_page, build_trouble_page
from bot.scheduler import Scheduler
from bot.services import Services
from storage.models import ConnectionKind

logger = logging.getLogger(__name__)

SERVICES = web.AppKey("services", Services)
HEALTH_TIMEOUT = 2.0


def create_bolt_app(services: Services) -> AsyncApp:
    # Bolt checks the bot token with auth.test on the first request, not at start-up.
    app = AsyncApp(client=services.slack, signing_secret=services.settings.slack_signing_secret)
    handlers.register(app, services)
    return app


def create_web_app(services: Services, *, periodic_jobs: bool = True) -> web.Application:
    """The bot's web app; with `periodic_jobs`, its health and digest loops run while it serves."""
    bolt = create_bolt_app(services)
    verifier = SignatureVerifier(services.settings.slack_signing_secret)

    async def slack_events(request: web.Request) -> web.Response:
        try:
            bolt_request = await to_bolt_request(request)
        except ValueError:  # a broken `payload` or JSON body (json.JSONDecodeError is a ValueError)
            body = await request.text()
            if not verifier.is_valid_request(body, dict(request.headers)):
                return web.Response(status=401, text="invalid request")
            return web.Response(status=400, text="malformed request")
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
    )

    async def start_scheduler(_app: web.Application) -> None:
        if periodic_jobs:
            scheduler.start()

    async def close_services(_app: web.Application) -> None:
        await scheduler.stop()
        await services.close()

    app = web.Application()
    app[SERVICES] = services
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/oauth/google/callback", oauth_callback)
    app.router.add_get("/healthz", healthz)
    app.on_startup.append(start_scheduler)
    app.on_cleanup.append(close_services)
    return app
