"""Events API listeners."""

from __future__ import annotations

import re

from slack_bolt.async_app import AsyncAck, AsyncApp


def register_fallback(app: AsyncApp) -> None:
    """Acknowledge every event no listener took: Slack expects a 2xx for each one it sends.

    Registered last, because Bolt runs the first listener that matches.
    """

    @app.event(re.compile(".*"))
    async def acknowledge_other_events(ack: AsyncAck) -> None:
        await ack()
