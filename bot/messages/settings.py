"""Replies to `settings`: what the business's settings are, and what was just changed."""

from __future__ import annotations

from datetime import time

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from bot.availability import WorkingHours
from bot.messages import Message, mention, pack_lines
from bot.staff import working_hours
from bot.when import format_time_24h
from storage.models import Customer, Member

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def describe_days(weekdays: frozenset[int]) -> str:
    """`Mon–Fri`, `Tue–Sat`, `Mon, Wed, Fri`, `every day`."""
    days = sorted(weekdays)
    if len(days) == 7:
        return "every day"
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return f"{_DAY_NAMES[days[0]]}–{_DAY_NAMES[days[-1]]}"
    return ", ".join(_DAY_NAMES[d] for d in days)


def describe_hours(hours: WorkingHours) -> str:
    return (
        f"{format_time_24h(hours.start)}–{format_time_24h(hours.end)}, "
        f"{describe_days(hours.weekdays)}"
    )


HOW_TO_CHANGE = (
    "Change them with `@Tonomo settings timezone Area/City` and "
    "`@Tonomo settings hours 9:00-17:00 mon-fri` (add `@person` for one person's own hours)."
)


def build_settings(
    customer: Customer, hours: WorkingHours, own: list[tuple[Member, WorkingHours]]
) -> Message:
    lines = [
        f"*Timezone:* {customer.timezone}",
        f"*Working hours:* {describe_hours(hours)}",
        f"*Daily digest:* {describe_digest(customer)}",
    ]
    lines += [f"• {mention(member.slack_user_id)}: {describe_hours(h)}" for member, h in own]
    lines.append(HOW_TO_CHANGE)
    # Many people's own hours don't fit in one section: one per 3000 characters.
    sections = [SectionBlock(text=MarkdownTextObject(text=text)) for text in pack_lines(lines)]
    return Message.of("\n".join(lines[:2]), *sections)


def build_timezone_set(timezone: str, hours: WorkingHours) -> Message:
    return Message.text_only(
        f":white_check_mark: The timezone is now *{timezone}*. Working hours "
        f"({describe_hours(hours)}), availability and bookings are in this timezone from now on."
    )


def build_hours_set(hours: WorkingHours, timezone: str, user_id: str | None) -> Message:
    whose = f"{mention(user_id)}'s own working hours are" if user_id else "Working hours are"
    return Message.text_only(
        f":white_check_mark: {whose} now *{describe_hours(hours)}* ({timezone})."
    )


def describe_digest(customer: Customer) -> str:
    if not customer.digest_enabled:
        return "off (`@Tonomo digest on` turns it on)"
    at = format_time_24h(time.fromisoformat(customer.digest_time))
    days = describe_days(working_hours(customer).weekdays)
    return f"on, at {at} on working days ({days}), {customer.timezone}"


def build_digest_set(customer: Customer) -> Message:
    return Message.text_only(
        f":white_check_mark: The daily digest is {describe_digest(customer)}. "
        "`@Tonomo digest now` posts today's at once."
    )
