"""The Slack edge: the Web API client and the few calls the bot makes through it.

The client retries rate-limited calls itself (slack_sdk's retry handler honours
Retry-After), and a failed post is logged with Slack's error name instead of
breaking the flow that wanted to post.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.messages import Message

logger = logging.getLogger(__name__)


def web_client(*, token: str, base_url: str) -> AsyncWebClient:
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=10,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )


async def user_timezone(client: AsyncWebClient, slack_user_id: str) -> str | None:
    """The user's Slack timezone (`users.info` → `user.tz`), or None if Slack won't say."""
    try:
        response = await client.users_info(user=slack_user_id)
    except SlackApiError as err:
        logger.warning("users.info failed for %s: %s", slack_user_id, err.response.get("error"))
        return None
    user = response.get("user") or {}
    tz = user.get("tz")
    return tz if isinstance(tz, str) else None


async def post_message(client: AsyncWebClient, channel_id: str, message: Message) -> bool:
    """Post in a channel; False (logged with Slack's error name) when Slack refused."""
    try:
        await client.chat_postMessage(channel=channel_id, text=message.text, blocks=message.blocks)
    except SlackApiError as err:
        logger.warning("chat.postMessage to %s failed: %s", channel_id, err.response.get("error"))
        return False
    return True
