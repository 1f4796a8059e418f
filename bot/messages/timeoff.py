"""Replies to `timeoff`: time off set (in the channel, for the team to see), listed,
removed, or why not."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from bot.availability import Interval, format_range
from bot.messages import Message, escape, format_day, mention, pack_lines
from bot.timeoff import NOT_FOUND, Added, NotRemoved, Removed
from bot.when import Clock
from storage.models import TimeOff

SET_ONE = "`@Tonomo timeoff @person 2026-12-24..2026-12-26 Holidays`"


def describe_days(time_off: TimeOff, today: date) -> str:
    """`Thu 24 Dec`, or `Thu 24 Dec to Sat 26 Dec`, and the reason when there is one."""
    days = format_day(time_off.first_day, today)
    if time_off.last_day != time_off.first_day:
        days += f" to {format_day(time_off.last_day, today)}"
    return days + (f" ({escape(time_off.reason)})" if time_off.reason else "")


def build_time_off_added(
    added: Added, by: str, zone: ZoneInfo, today: date, clock: Clock
) -> Message:
    """The channel's notice of new time off, and the bookings it leaves to be moved."""
    off = added.time_off
    whose = mention(off.slack_user_id)
    set_by = "" if by == off.slack_user_id else f" Set by {mention(by)}."
    lines = [
        f":palm_tree: {whose} is off {describe_days(off, today)}: not bookable then, and "
        f"shown as away in availability and the digest.{set_by} "
        f"Id `{off.short_id}` (`@Tonomo timeoff cancel {off.short_id}` removes it)."
    ]
    if added.bookings:
        count = len(added.bookings)
        lines.append(
            f":warning: {whose} still has {count} booking{'s' if count > 1 else ''} in those "
            "days, left as they are: move (`@Tonomo move ID DAY TIME`) or cancel them."
        )
        lines += [
            f"• `{b.short_id}` {format_day(b.starts_at.astimezone(zone).date(), today)} "
            f"{format_range(Interval(b.starts_at, b.ends_at), zone, clock)} {escape(b.title)}"
            for b in added.bookings
        ]
    return _sections(lines[0], lines)


def build_time_off_again(added: Added, today: date) -> Message:
    """The same request again (a Slack retry): nothing new was added."""
    off = added.time_off
    return Message.text_only(
        f"That time off is already set: {mention(off.slack_user_id)}, "
        f"{describe_days(off, today)}, id `{off.short_id}`."
    )


def build_time_off_list(time_off: list[TimeOff], today: date) -> Message:
    if not time_off:
        return Message.text_only(f"No time off coming up. Set some with {SET_ONE}.")
    lines = ["*Time off coming up:*"] + [
        f"• {mention(off.slack_user_id)}: {describe_days(off, today)} · `{off.short_id}`"
        for off in time_off
    ]
    lines.append(f"`@Tonomo timeoff cancel ID` removes one; {SET_ONE} adds one.")
    return _sections("Time off coming up", lines)


def build_time_off_removed(removed: Removed, by: str, today: date) -> Message:
    off = removed.time_off
    if removed.again:
        return Message.text_only(f"Time off `{off.short_id}` was already removed.")
    return Message.text_only(
        f":white_check_mark: {mention(off.slack_user_id)}'s time off "
        f"{describe_days(off, today)} was removed by {mention(by)}: bookable again then."
    )


def build_time_off_not_removed(
    not_removed: NotRemoved, short_id: str, owner: str | None
) -> Message:
    if not_removed.reason == NOT_FOUND or not_removed.time_off is None:
        return Message.text_only(
            f"I can't find time off `{escape(short_id)}` here. `@Tonomo timeoff` lists "
            "the time off coming up, with ids."
        )
    who = mention(not_removed.time_off.slack_user_id)
    owner_text = f"the owner ({mention(owner)})" if owner else "the owner"
    return Message.text_only(
        f"That is {who}'s time off: only they, {owner_text} or an onboarder can remove it."
    )


def _sections(text: str, lines: list[str]) -> Message:
    """Lines as sections of at most Slack's length each (a long list splits)."""
    return Message.of(
        text, *(SectionBlock(text=MarkdownTextObject(text=part)) for part in pack_lines(lines))
    )
