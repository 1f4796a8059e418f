"""`why` and `timeoff`: asking why a time isn't free, and setting the days it isn't.

Thin: the days and times are resolved here, the decisions are `bot.staff.Staff.why` and
`bot.timeoff.TimeOffs`, the words `bot.messages.reasons` and `bot.messages.timeoff`.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot import commands, when
from bot.customers import clock_of
from bot.messages.help import build_invalid
from bot.messages.reasons import build_why
from bot.messages.timeoff import (
    build_time_off_added,
    build_time_off_again,
    build_time_off_list,
    build_time_off_not_removed,
    build_time_off_removed,
)
from bot.people import Act
from bot.services import Services
from bot.staff import local_today
from bot.timeoff import Removed
from handlers.clicks import Reply
from storage.models import Customer, utcnow


async def why(services: Services, customer: Customer, asked: commands.Why, reply: Reply) -> None:
    now, zone, clock = utcnow(), ZoneInfo(customer.timezone), clock_of(customer)
    today = local_today(customer, now)
    try:
        day = when.parse_day(asked.day, today=today)
        start = when.local_moment(day, asked.at, zone, clock)
    except when.WhenError as error:
        await reply(build_invalid(error.problem, commands.USAGE["why"]))
        return
    rules, interval, found, refreshed = await services.staff.why(
        customer, asked.user_id, start, asked.duration, now=now
    )
    await reply(build_why(asked.user_id, interval, found, rules, today, clock))
    await services.staff.keep_tokens(refreshed)


async def time_off(
    services: Services,
    customer: Customer,
    asked: commands.AddTimeOff | commands.ListTimeOff | commands.CancelTimeOff,
    *,
    user_id: str,
    request_key: str,
    reply: Reply,
) -> None:
    now = utcnow()
    today = local_today(customer, now)
    if isinstance(asked, commands.ListTimeOff):
        await reply(build_time_off_list(await services.time_off.upcoming(customer, now), today))
        return
    if isinstance(asked, commands.CancelTimeOff):
        may_others = await services.people.refusal(customer, user_id, Act.TIME_OFF_OTHERS) is None
        outcome = await services.time_off.remove(
            customer, asked.short_id, by=user_id, may_others=may_others, now=now
        )
        if isinstance(outcome, Removed):
            notice = build_time_off_removed(outcome, user_id, today)
            if outcome.again or await services.poster.post(customer, notice) is None:
                await reply(notice)
        else:
            await reply(build_time_off_not_removed(outcome, asked.short_id, customer.owner_user_id))
        return
    try:
        added = await services.time_off.add(
            customer,
            asked.user_id or user_id,
            asked.first,
            asked.last,
            asked.reason,
            by=user_id,
            request_key=request_key,
            now=now,
        )
    except when.WhenError as error:
        await reply(build_invalid(error.problem, commands.USAGE["timeoff"]))
        return
    if added.again:
        await reply(build_time_off_again(added, today))
        return
    notice = build_time_off_added(
        added, user_id, ZoneInfo(customer.timezone), today, clock_of(customer)
    )
    if await services.poster.post(customer, notice) is None:
        await reply(notice)
