"""`settings`: the timezone, the clock and working hours, and how bookings are spaced
(`settings buffer|notice|step`, for the whole business)."""

from __future__ import annotations

from datetime import timedelta

from bot import commands
from bot.customers import clock_of
from bot.messages.settings import (
    build_clock_set,
    build_hours_set,
    build_scheduling_set,
    build_settings,
    build_timezone_set,
)
from bot.services import Services
from bot.staff import stored_hours, working_hours
from handlers.clicks import Reply
from storage.models import Customer

Asked = (
    commands.ShowSettings
    | commands.SetTimezone
    | commands.SetClock
    | commands.SetHours
    | commands.SetScheduling
)


async def settings(services: Services, customer: Customer, asked: Asked, reply: Reply) -> None:
    store = services.store
    if isinstance(asked, commands.SetTimezone):
        await store.set_timezone(customer.id, asked.name)
        customer.timezone = asked.name  # the default clock follows the new timezone
        await reply(build_timezone_set(asked.name, working_hours(customer), clock_of(customer)))
    elif isinstance(asked, commands.SetClock):
        await store.set_clock(customer.id, asked.clock)
        customer.clock = asked.clock
        await reply(build_clock_set(asked.clock, working_hours(customer)))
    elif isinstance(asked, commands.SetHours):
        hours = stored_hours(asked.start, asked.end, asked.weekdays)
        await store.set_working_hours(customer.id, hours, asked.user_id)
        updated = await store.get_customer(customer.id) or customer
        members = {m.slack_user_id: m for m in await store.list_members(customer.id)}
        shown = working_hours(updated, members.get(asked.user_id or ""))
        await reply(build_hours_set(shown, customer.timezone, clock_of(customer), asked.user_id))
    elif isinstance(asked, commands.SetScheduling):
        minutes = int(asked.duration / timedelta(minutes=1))
        await store.set_scheduling(customer.id, **{f"{asked.what}_minutes": minutes})
        await reply(build_scheduling_set(asked.what, minutes))
    else:
        own = [
            (member, working_hours(customer, member))
            for member in await store.list_members(customer.id)
            if member.work_start
        ]
        await reply(build_settings(customer, working_hours(customer), own, clock_of(customer)))
