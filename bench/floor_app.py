"""The framework's floor: a Bolt `AsyncApp` that only acknowledges `/tonomo`.

It is served exactly as the bot serves Bolt (aiohttp, `to_bolt_request` and
`to_aiohttp_response`, the same Web API client pointed at the Slack emulator), so the
difference between its ack latency and the bot's is what the bot itself adds.

    SLACK_BOT_TOKEN=… SLACK_SIGNING_SECRET=… SLACK_API_URL=… python -m bench.floor_app --port N

With `FLOOR_PROCESS_BEFORE_RESPONSE=1` in its environment (`bench.ack_latency
--ack-inline`), the app is built with `process_before_response=True`, as the bot's is: Bolt
answers the ack as soon as the listener returns, instead of looking for it every 10 ms.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def create_bolt_app(
    *, token: str, signing_secret: str, api_url: str, process_before_response: bool = False
) -> AsyncApp:
    app = AsyncApp(
        client=AsyncWebClient(token=token, base_url=api_url),
        signing_secret=signing_secret,
        process_before_response=process_before_response,
    )

    @app.command("/tonomo")
    async def handle(ack: AsyncAck) -> None:
        await ack()

    return app


def create_web_app(bolt: AsyncApp) -> web.Application:
    async def slack_events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.floor_app", description="Serve a Bolt app that only acks /tonomo."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"))
    bolt = create_bolt_app(
        token=os.environ["SLACK_BOT_TOKEN"],
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        api_url=os.environ["SLACK_API_URL"],
        process_before_response=os.environ.get("FLOOR_PROCESS_BEFORE_RESPONSE") == "1",
    )
    web.run_app(create_web_app(bolt), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
