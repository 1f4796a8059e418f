"""The Slack edge: the Web API client and the few calls the bot makes through it.

The client retries rate-limited calls itself (slack_sdk's retry handler honours
Retry-After). A post that fails is logged with Slack's error name instead of breaking
the flow that wanted to post, and a failure that will not pass by itself pauses
posting there (`Poster`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime
from typing import NamedTuple

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.messages import Message
from bot.together import Shared, together
from storage.models import Customer, utcnow
from storage.repositories import Store

logger = logging.getLogger(__name__)


def web_client(*, token: str, base_url: str, session: aiohttp.ClientSession) -> AsyncWebClient:
    """The Web API client; its calls share `session`'s connections (without one, slack_sdk
    opens a session and a connection for every call)."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        session=session,
        timeout=10,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )


def slack_error(err: SlackApiError) -> str:
    """Slack's error name (`ratelimited`, `not_in_channel`…); for an answer that wasn't
    Slack's JSON (a proxy's 502 page, say) `http_STATUS`."""
    # slack_sdk hands over its own response, or (for a body labelled JSON that isn't)
    # aiohttp's: read either without assuming which.
    data = getattr(err.response, "data", None)
    if isinstance(data, dict):
        return str(data.get("error", ""))
    status = getattr(err.response, "status_code", None) or getattr(err.response, "status", "")
    return f"http_{status}"


async def user_timezone(client: AsyncWebClient, slack_user_id: str) -> str | None:
    """The user's Slack timezone (`users.info` → `user.tz`), or None if Slack won't say."""
    try:
        response = await client.users_info(user=slack_user_id)
    except SlackApiError as err:
        logger.warning("users.info failed for %s: %s", slack_user_id, slack_error(err))
        return None
    user = response.get("user") or {}
    tz = user.get("tz")
    return tz if isinstance(tz, str) else None


START_TIMEOUT = 10.0
"""Seconds `auth.test` may take at start-up before the bot starts without its answer."""


class BotIdentity:
    """Who the bot is in Slack (`auth.test`): asked once at start-up, never on an ack's path.

    Bolt would ask on the first request, before its ack (5 s of Slack latency, 5 s late;
    Slack unreachable, every request a 500). Here a token Slack refuses stops start-up with
    one line; a Slack that can't be reached yet is asked again in the background, and
    requests are served meanwhile with what is known (the token itself).
    """

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self.team_id: str | None = None
        self.bot_user_id: str | None = None
        self.bot_id: str | None = None
        self._asking: asyncio.Task[None] | None = None

    async def learn(self) -> None:
        """Ask Slack. A refused token raises `InvalidToken`; Slack unreachable is logged and
        asked again later (`learn_later`)."""
        try:
            answer = await asyncio.wait_for(self._client.auth_test(), START_TIMEOUT)
        except SlackApiError as err:
            if slack_error(err) in TEAM_PROBLEMS:
                raise InvalidToken(slack_error(err)) from err
            logger.warning("auth.test failed (%s): asking again later", slack_error(err))
            return
        except (aiohttp.ClientError, TimeoutError) as err:
            logger.warning(
                "Slack can't be reached yet (%s): asking again later", type(err).__name__
            )
            return
        self.team_id = _str_or_none(answer.get("team_id"))
        self.bot_user_id = _str_or_none(answer.get("user_id"))
        self.bot_id = _str_or_none(answer.get("bot_id"))

    def learn_later(self) -> None:
        """Ask again in the background, once at a time, if it isn't known yet."""
        if self.bot_user_id is None and (self._asking is None or self._asking.done()):
            self._asking = asyncio.create_task(self._learn_quietly())

    async def _learn_quietly(self) -> None:
        try:
            await self.learn()
        except InvalidToken as err:
            logger.error("Slack refuses SLACK_BOT_TOKEN now: %s", err)


class InvalidToken(Exception):
    """Slack refused the bot token (invalid_auth, token_revoked…)."""


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


CHANNEL_PROBLEMS = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
"""Slack errors that stop posting in one channel until a command there shows it is back."""
TEAM_PROBLEMS = frozenset({"token_revoked", "account_inactive", "invalid_auth", "not_authed"})
"""Slack errors that stop posting in the whole workspace until a command shows it is back."""


class Poster:
    """Posts in customers' channels, and stops where Slack said posting cannot work.

    Before each post it asks the database whether the channel or its workspace is
    paused (or the caller has just asked, for many posts at once); a post that fails for good records the pause (per channel for
    not_in_channel, channel_not_found, is_archived; per workspace for revoked tokens).
    """

    def __init__(
        self, *, client: AsyncWebClient, store: Store, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._client = client
        self._store = store
        self._clock = clock

    async def post(
        self, customer: Customer, message: Message, *, problem: str | None = None
    ) -> str | None:
        """Post in the customer's channel; the message ts, or None when it was not posted.

        `problem` is why it may not post there as the caller has just read it
        (`posting_problems`, for many posts at once); None: it is read now.
        """
        response = await self._call(
            customer,
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=customer.channel_id, text=message.text, blocks=message.blocks
            ),
            problem=problem,
        )
        return str(response["ts"]) if response is not None else None

    async def posting_problems(self, customers: Collection[Customer]) -> dict[int, str]:
        """Why it may not post in each customer's channel now, by customer id ("" where it
        may), in one query: for a caller about to post in many (`post`'s `problem`)."""
        return await self._store.posting_problems([c.id for c in customers])

    async def update(self, customer: Customer, ts: str, message: Message) -> bool:
        response = await self._call(
            customer,
            "chat.update",
            lambda: self._client.chat_update(
                channel=customer.channel_id, ts=ts, text=message.text, blocks=message.blocks
            ),
        )
        return response is not None

    async def post_ephemeral(self, customer: Customer, user_id: str, message: Message) -> bool:
        """Post in the customer's channel a message only `user_id` sees (`chat.postEphemeral`)."""
        response = await self._call(
            customer,
            "chat.postEphemeral",
            lambda: self._client.chat_postEphemeral(
                channel=customer.channel_id, user=user_id, text=message.text, blocks=message.blocks
            ),
        )
        return response is not None

    async def stop_team(self, team_id: str, reason: str) -> None:
        """The app was uninstalled or its tokens revoked: no posting in that workspace."""
        await self._store.stop_team_posting(team_id, reason, self._clock())

    async def resume_after_command(self, customer: Customer, directory: Directory) -> Customer:
        """A command came from this channel: its workspace is back, and maybe the channel too."""
        await self.resume_team(customer.team_id)
        return await self.resume_channel(customer, directory)

    async def resume_team(self, team_id: str) -> None:
        """A command came from this workspace: posting there is back (a read alone when it
        was never paused)."""
        await self._store.resume_team_posting(team_id)

    async def resume_channel(self, customer: Customer, directory: Directory) -> Customer:
        """A command came from this channel: posting there is back if Slack says it can be."""
        if customer.channel_problem and await directory.channel_is_postable(customer.channel_id):
            await self._store.set_channel_problem(customer.id, "", self._clock())
            customer.channel_problem = ""
        return customer

    async def _call(
        self,
        customer: Customer,
        method: str,
        call: Callable[[], Awaitable[AsyncSlackResponse]],
        *,
        problem: str | None = None,
    ) -> AsyncSlackResponse | None:
        if problem is None:
            problem = await self._store.posting_problem(customer.id)
        if problem:
            logger.info("not posting in %s: %s", customer.channel_id, problem)
            return None
        try:
            return await call()
        except SlackApiError as err:
            error = slack_error(err)
            logger.warning("%s in %s failed: %s", method, customer.channel_id, error)
            if error in CHANNEL_PROBLEMS:
                await self._store.set_channel_problem(customer.id, error, self._clock())
            elif error in TEAM_PROBLEMS:
                await self._store.stop_team_posting(customer.team_id, error, self._clock())
            return None
        except (aiohttp.ClientError, TimeoutError) as err:
            logger.warning("%s in %s failed: %s", method, customer.channel_id, type(err).__name__)
            return None


class SlackUser(NamedTuple):
    is_person: bool
    """Not a bot, not deactivated."""
    name: str
    """Display name, else real name, else user name."""
    team_id: str = ""
    """Their home workspace: for a person of another organisation, their own team's id."""
    is_restricted: bool = False
    """A guest (multi-channel; single-channel guests are both restricted and ultra)."""
    is_ultra_restricted: bool = False


def _is_person(user: SlackUser | None) -> bool:
    return user is not None and user.is_person


class SlackChannel(NamedTuple):
    is_member: bool
    """The bot is in it."""
    is_archived: bool
    ext_shared: bool
    """Shared with another organisation (Slack Connect)."""


class Directory:
    """What Slack says about channels and people, for status; who is a bot is remembered."""

    def __init__(self, client: AsyncWebClient, *, concurrency: int = 8) -> None:
        self._client = client
        self._users: dict[str, SlackUser] = {}
        self._asking: Shared[str, SlackUser | None] = Shared()
        """Users being asked about: a second asker waits for the same answer."""
        self._limit = asyncio.Semaphore(concurrency)

    async def people_in(
        self, channel_id: str, *, known_people: Collection[str] = ()
    ) -> list[str] | None:
        """The channel's members who are people (no bots, no deactivated accounts), or None.

        Members in `known_people` are taken as people without asking Slack about them.
        """
        members = await self.members_of(channel_id)
        if members is None:
            return None
        return await self.people_among(members, known_people=known_people)

    async def members_of(self, channel_id: str) -> list[str] | None:
        """Every member of the channel (people, bots…), or None if Slack won't say."""
        try:
            members: list[str] = []
            async for page in await self._client.conversations_members(
                channel=channel_id, limit=200
            ):
                members += page.get("members", [])
        except SlackApiError as err:
            logger.info("conversations.members of %s failed: %s", channel_id, slack_error(err))
            return None
        return members

    async def people_among(
        self, members: Sequence[str], *, known_people: Collection[str] = ()
    ) -> list[str]:
        """Those of a channel's `members` (`members_of`) who are people, as `people_in`."""
        found = await self.users([m for m in members if m not in known_people])
        return [m for m in members if m in known_people or _is_person(found[m])]

    async def is_person(self, user_id: str) -> bool:
        """True for a person's account: not a bot, not deactivated (False if Slack won't say)."""
        return _is_person(await self.user(user_id))

    async def users(self, user_ids: Collection[str]) -> dict[str, SlackUser | None]:
        """`user` of each, those not known yet asked at once (and those known without a
        task each)."""
        found: dict[str, SlackUser | None] = {u: self._users.get(u) for u in user_ids}
        asking = [u for u, user in found.items() if user is None]
        if asking:
            found.update(zip(asking, await together(*map(self.user, asking)), strict=True))
        return found

    async def name_of(self, user_id: str) -> str:
        """The name Slack shows for a person (display name, else real name), or ""."""
        user = await self.user(user_id)
        return user.name if user is not None else ""

    async def user(self, user_id: str) -> SlackUser | None:
        """What `users.info` says of the user, asked once and kept (None if Slack won't say).
        Asked by several at once, it is asked once for them all."""
        known = self._users.get(user_id)
        if known is not None:
            return known
        return await self._asking.get(user_id, lambda: self._ask(user_id))

    async def _ask(self, user_id: str) -> SlackUser | None:
        async with self._limit:
            if user_id in self._users:  # kept meanwhile
                return self._users[user_id]
            try:
                user = (await self._client.users_info(user=user_id)).get("user") or {}
            except SlackApiError:
                return None
        profile = user.get("profile") or {}
        found = self._users[user_id] = SlackUser(
            is_person=not (user.get("is_bot") or user.get("deleted")),
            name=str(
                profile.get("display_name") or user.get("real_name") or user.get("name") or ""
            ),
            team_id=str(user.get("team_id") or profile.get("team") or ""),
            is_restricted=bool(user.get("is_restricted")),
            is_ultra_restricted=bool(user.get("is_ultra_restricted")),
        )
        return found

    async def channel_info(self, channel_id: str) -> SlackChannel | None:
        """What `conversations.info` says of the channel, or None if Slack won't say."""
        try:
            channel = (await self._client.conversations_info(channel=channel_id)).get(
                "channel"
            ) or {}
        except SlackApiError:
            return None
        return SlackChannel(
            is_member=bool(channel.get("is_member")),
            is_archived=bool(channel.get("is_archived")),
            ext_shared=bool(channel.get("is_ext_shared")),
        )

    async def channel_is_postable(self, channel_id: str) -> bool:
        """True when the bot is in the channel and it is not archived."""
        channel = await self.channel_info(channel_id)
        return channel is not None and channel.is_member and not channel.is_archived
