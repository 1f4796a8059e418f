"""What the booking form and the move form share: each is answered within Slack's 3 seconds.

A submitted form is checked first, each check with its bound (`form_checks`: the channel's
customer, the person in that channel), and its time read (`form_start`). Then the booking
(or the move) is tried before the answer, for at most `FORM_ANSWER_SECONDS`
(`FormAnswer`): its outcome decides the answer (the trouble on a field, the nearest free
times in the form, or closed); one that takes longer (Google is slow) goes on after the
answer, "Working on it…", and tells the person in the channel itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from datetime import time as dt_time
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from slack_bolt.async_app import AsyncAck
from sqlalchemy.exc import SQLAlchemyError

from bot import when
from bot.customers import clock_of
from bot.messages.booking_form import FORM_DAY, FORM_TIME, read_form_slot
from bot.services import Services
from bot.staff import local_today
from handlers import clicks
from handlers.clicks import NOT_SET_UP, Reply
from handlers.work import AfterAck
from storage.models import Customer, utcnow

logger = logging.getLogger(__name__)

NOT_IN_CHANNEL = "Only people in the channel can book from this form."
CANT_CHECK_NOW = (
    "I can't reach my records right now, so nothing was booked. Please submit again in a minute."
)
FORM_CHECK_SECONDS = 1.2
"""Each of a form's checks (the channel's customer, who is in it) before its answer, well
within the 3 seconds Slack waits for it."""
FORM_ANSWER_SECONDS = 2.2
"""How long a form's answer may take, the booking (or move) itself included: Slack waits
3 seconds (https://api.slack.com/surfaces/modals#interactions). One that takes longer
(Google is slow) goes on after the answer, "Working on it…", and is told in the channel."""

T = TypeVar("T")


class FormAnswer(Generic[T]):
    """A submitted form's answer, with the work it tries first (the booking, the move): the
    work's outcome, if it comes before the deadline, for the form's answer to say; else the
    form says "Working on it…" and the work tells the person itself when it is done."""

    def __init__(
        self,
        ack: AsyncAck,
        after_ack: AfterAck,
        channel_id: str,
        reply: Reply,
        tell: Callable[[T], Awaitable[None]],
    ) -> None:
        self._ack = ack
        self._after_ack = after_ack
        self._channel_id = channel_id
        self._reply = reply
        self._tell = tell
        self._outcome: T | None = None
        self._handed_off = False

    async def attempt(
        self, work: Callable[[], Awaitable[T]], deadline: float, working: dict[str, Any]
    ) -> T | None:
        """Start `work` and wait for it until `deadline`: its outcome, the form not yet
        answered. None when the form is answered already: with `working` ("Working on it…")
        when the work isn't done by then (it tells the person itself when it is), closed
        when it failed (the person got the apology)."""
        task = self._after_ack.start(
            self._channel_id,
            lambda: self._run(work),
            apologize=self._reply,
            queue=False,  # the form's answer waits for it
        )
        await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()))
        if self._outcome is not None:
            return self._outcome
        self._handed_off = True  # nothing awaited since the look: it tells from here
        if task.done():  # it failed
            await self._ack()
        else:
            await self._ack(response_action="update", view=working)
        return None

    async def _run(self, work: Callable[[], Awaitable[T]]) -> None:
        outcome = await work()
        if self._handed_off:  # the form was answered "Working on it…": say how it went
            await self._tell(outcome)
        else:
            self._outcome = outcome

    async def close_and_tell(self, outcome: T) -> None:
        """Close the form; the outcome is told as any door tells it (in the channel, or to
        the person)."""
        await self._ack()
        self._after_ack.start(self._channel_id, lambda: self._tell(outcome), apologize=self._reply)


async def form_checks(
    services: Services, body: dict[str, Any], channel_id: str, user_id: str
) -> Customer | str:
    """The form's channel's customer, with the person in that channel; else what to say on
    the form. Each check has a bound, so the form is answered within Slack's 3 seconds
    whatever the database and Slack do."""
    try:
        customer = await asyncio.wait_for(
            clicks.customer_of(services, body, channel_id), FORM_CHECK_SECONDS
        )
        in_channel = customer is not None and await asyncio.wait_for(
            clicks.in_channel(services, channel_id, user_id), FORM_CHECK_SECONDS
        )
    except (SQLAlchemyError, OSError, TimeoutError):
        logger.warning("a form could not be checked in time", exc_info=True)
        return CANT_CHECK_NOW
    if customer is None:
        return NOT_SET_UP
    if not in_channel:
        return NOT_IN_CHANNEL
    return customer


def form_start(
    customer: Customer, values: dict[str, Any], day_text: str, at: dt_time
) -> datetime | dict[str, str]:
    """The time a form asks for: one of the nearest free times it offered, if one was
    picked, else its day and time; or the error on the field."""
    start = read_form_slot(values)
    if start is not None:
        return start
    try:
        day = when.parse_day(day_text, today=local_today(customer, utcnow()))
    except when.WhenError as error:
        return {FORM_DAY: error.problem}
    try:
        return when.local_moment(day, at, ZoneInfo(customer.timezone), clock_of(customer))
    except when.WhenError as error:
        return {FORM_TIME: error.problem}
