"""The help message and the reply to a command the bot does not understand."""

from __future__ import annotations

from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from bot.messages import Message, escape, pack_lines

COMMANDS = (
    (
        "/tonomo connect-calendar",
        "connect your own Google calendar, so the team can see when you're free",
    ),
    (
        "/tonomo connect-calendar primary",
        "connect the business's booking calendar (a shared account like bookings@ is best)",
    ),
    ("/tonomo status", "see whose calendars are connected"),
    (
        "/tonomo digest on | off | now | at 7:30",
        "the daily availability digest in this channel (on at 7:00 on working days by default)",
    ),
    (
        "/tonomo onboard",
        "post the getting-started checklist here, kept up to date as steps get done",
    ),
    (
        "/tonomo availability [@person …] [today | friday | 2026-12-01 | this week | next week] [2h]",
        "who is free, from their live calendars (everyone, today, by default)",
    ),
    (
        "/tonomo book @person DAY TIME LENGTH TITLE",
        "book someone, e.g. `book @alex tomorrow 13:00 1h30m Shoot at 12 Main St`; "
        "`book` alone opens a form",
    ),
    (
        "/tonomo book anyone [@person …] DAY TIME LENGTH TITLE",
        "book whoever is free among them (everyone by default), chosen fairly",
    ),
    ("/tonomo move BOOKING DAY TIME", "move a booking to another time; it keeps its length"),
    ("/tonomo cancel BOOKING", "cancel a booking by its id, e.g. `cancel K7Q2MX`"),
    (
        "/tonomo why @person DAY TIME [LENGTH]",
        "why someone is or isn't free at that time",
    ),
    (
        "/tonomo timeoff [@person] DAY[..DAY] [REASON]",
        "whole days off, e.g. `timeoff @alex 2026-12-24..2026-12-26 Holidays`",
    ),
    ("/tonomo timeoff | timeoff cancel ID", "list the upcoming time off; remove one by its id"),
    (
        "/tonomo settings [timezone Area/City | hours 9:00-17:00 mon-fri [@person]]",
        "the business's timezone and working hours (alone: show them)",
    ),
    (
        "/tonomo settings clock 12h | 24h",
        "how every message writes times: `2:30pm` or `14:30` (by default, as people do "
        "in the timezone's country)",
    ),
    (
        "/tonomo settings buffer | notice | step LENGTH",
        "free time kept around bookings, the least notice a booking needs, and the grid "
        "slots start on (every 15m by default)",
    ),
    ("/tonomo disconnect [primary]", "remove your calendar (or the primary one) and revoke access"),
    (
        "/tonomo settings owner | onboarder | staff @person",
        "correct who is who: the owner (settings, the primary calendar, booking anyone), "
        "the vendor's onboarders, and the staff",
    ),
    ("/tonomo help", "this message"),
)


SLASH = "/tonomo"
MENTION = "@Tonomo"
"""How a person of another organisation (no slash commands) talks to the bot."""


def in_door(text: str, door: str) -> str:
    """A command's form as typed at that door: `/tonomo …` or `@Tonomo …`."""
    return text.replace(SLASH, door)


def build_help(door: str = SLASH) -> Message:
    lines = [f"• `{in_door(cmd, door)}`: {what}" for cmd, what in COMMANDS]
    return Message.of(
        "Tonomo connects your team's Google calendars to this channel.",
        HeaderBlock(text="Tonomo calendar bot"),
        SectionBlock(
            text=MarkdownTextObject(
                text="I connect your team's Google calendars to this channel, so you can see "
                "who is free, book them, and keep every connection healthy."
            )
        ),
        *(SectionBlock(text=MarkdownTextObject(text=text)) for text in pack_lines(lines)),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="Each person connects their own calendar from their own Slack account; "
                    "the links I send are personal."
                ),
                MarkdownTextObject(
                    text=f"No `{SLASH}` where you are (you joined from another organisation)? "
                    f"Mention me with the same words, like `{MENTION} availability tomorrow`, "
                    "or use the buttons on my checklist message in this channel."
                ),
            ]
        ),
    )


def build_invalid(problem: str, usage: str | None, door: str = SLASH) -> Message:
    text = escape(problem)
    if usage:
        text += f"\nTry: `{in_door(usage, door)}`"
    text += f"\n`{door} help` lists everything I can do."
    return Message.text_only(text)


def build_not_in_channel(door: str = SLASH) -> Message:
    text = (
        "I work inside your company's channel with your onboarder: "
        f"type `{door}` there, and I'll take it from there."
    )
    return Message.text_only(text)


def build_checking() -> Message:
    text = ":hourglass_flowing_sand: Checking every calendar connection with Google…"
    return Message.text_only(text)


def build_checking_calendars() -> Message:
    return Message.text_only(":hourglass_flowing_sand: Checking the calendars…")
