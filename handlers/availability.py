"""`availability`, through any door: which days, whose time, the answer, and the nudge.

Which days `this week` names depends on working hours (`Staff.days_and_roster`, which
reads the roster once for both); asked for everyone, the channel's people of the customer
who haven't connected a calendar are named in the answer (`People.staff_in`, listed while
Google answers), and nobody is nudged for it. Asked for people by name, those
who haven't connected are nudged in the channel, by whoever asked: never themselves.
Tokens the reads refreshed are stored once the answer is out.
"""

from __future__ import annotations

from bot import commands, when
from bot.customers import clock_of
from bot.messages.availability import build_availability, build_connect_nudge
from bot.messages.help import build_invalid
from bot.services import Services
from bot.staff import NOT_CONNECTED, local_today
from handlers.clicks import Reply
from storage.models import Customer, utcnow


async def availability(
    services: Services,
    customer: Customer,
    asked: commands.Availability,
    user_id: str,
    reply: Reply,
) -> None:
    now = utcnow()
    today = local_today(customer, now)
    try:
        days, roster = await services.staff.days_and_roster(
            customer, asked.when, user_ids=asked.user_ids, now=now
        )
    except when.WhenError as error:
        await reply(build_invalid(error.problem, commands.USAGE["availability"]))
        return
    report = await services.staff.availability(
        customer,
        user_ids=asked.user_ids,
        days=days,
        duration=asked.duration,
        now=now,
        roster=roster,
        channel_people=(
            None
            if asked.user_ids
            else services.people.staff_in(
                customer, known_people=roster.connected_staff, members=roster.members
            )
        ),
        store_tokens=False,
    )
    unnamed = [p.person.user_id for p in report.people if not p.person.name]
    if len(days) > 1 and unnamed:  # the week's grid shows names, not mentions
        report = report.named({u: await services.directory.name_of(u) for u in unnamed})
    await reply(build_availability(report, today, clock=clock_of(customer)))
    await services.onboarding.availability_asked(customer)
    unconnected = [
        p.person.user_id
        for p in report.people
        if p.problem == NOT_CONNECTED and p.person.user_id != user_id
    ]
    if unconnected:
        await services.poster.post(customer, build_connect_nudge(unconnected, user_id))
    # Last: they only spare the next read a refresh, and a failure to keep them is logged.
    await services.staff.keep_tokens(*report.refreshed)
