"""The help message and the reply to a command the bot does not understand."""

from __future__ import annotations

from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from bot.messages import Message, escape

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
        "`/tonomo book` alone opens a form",
    ),
    ("/tonomo cancel BOOKING", "cancel a booking by its id, e.g. `cancel K7Q2MX`"),
    (
        "/tonomo settings [timezone Area/City | hours 9:00-17:00 mon-fri [@person]]",
        "the business's timezone and working hours (alone: show them)",
    ),
    ("/tonomo disconnect [primary]", "remove your calendar (or the primary one) and revoke access"),
    ("/tonomo help", "this message"),
)


def build_help() -> Message:
    lines = "\n".join(f"• `{cmd}`: {what}" for cmd, what in COMMANDS)
    return Message.of(
        "Tonomo connects your team's Google calendars to this channel.",
        HeaderBlock(text="Tonomo calendar bot"),
        SectionBlock(
            text=MarkdownTextObject(
                text="I connect your team's Google calendars to this channel, so you can see "
                "who is free, book them, and keep every connection healthy."
            )
        ),
        SectionBlock(text=MarkdownTextObject(text=lines)),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="Each person connects their own calendar from their own Slack account; "
                    "the links I send are personal."
                )
            ]
        ),
    )


def build_invalid(problem: str, usage: str | None) -> Message:
    text = escape(problem)
    if usage:
        text += f"\nTry: `{usage}`"
    text += "\n`/tonomo help` lists everything I can do."
    return Message.text_only(text)


def build_not_in_channel() -> Message:
    text = (
        "I work inside your company's channel with your onboarder: "
        "type `/tonomo` there, and I'll take it from there."
    )
    return Message.text_only(text)


def build_checking() -> Message:
    text = ":hourglass_flowing_sand: Checking every calendar connection with Google…"
    return Message.text_only(text)


def build_checking_calendars() -> Message:
    return Message.text_only(":hourglass_flowing_sand: Checking the calendars…")
