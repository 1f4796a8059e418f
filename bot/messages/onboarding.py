"""Messages of onboarding: the checklist, the welcome, the staff reminder and its replies.

The checklist lists everyone in the channel; with hundreds of people their lines are
packed into as few sections as fit, and past `PEOPLE_SHOWN` the rest are counted, so the
message stays within Slack's 50 blocks whatever the channel's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.checklist import STEPS, PersonStanding, Progress, Reminded, Standing
from bot.messages import SECTION_LIMIT, Message, escape, mention, pack_lines
from bot.messages.connect import GENERIC_ACCOUNT_ADVICE
from bot.messages.ids import (
    CONNECT_MINE,
    CONNECT_PRIMARY,
    OPEN_AVAILABILITY_FORM,
    OPEN_BOOK_FORM,
    REMIND_STAFF,
    SHOW_STATUS,
)
from bot.when import Clock, format_time

DONE = ":white_check_mark:"
TO_DO = ":white_large_square:"
BROKEN = ":warning:"
WAITING = ":hourglass_flowing_sand:"

PEOPLE_SHOWN = 300
"""People listed one by one in the checklist (at most 8 sections); the rest are counted."""
REMINDED_SHOWN = 300
"""People named in one reminder; the rest are counted."""

CONNECT_PRIMARY_LABEL = "Connect primary calendar"
CONNECT_MINE_LABEL = "Connect my calendar"
REMIND_LABEL = "Remind staff"
PANEL_ACTIONS = (
    CONNECT_PRIMARY,
    CONNECT_MINE,
    REMIND_STAFF,
    OPEN_AVAILABILITY_FORM,
    OPEN_BOOK_FORM,
    SHOW_STATUS,
)
"""The checklist's buttons, in order: it is also the channel's panel."""
AVAILABILITY_LABEL = "Availability"
BOOK_LABEL = "Book"
STATUS_LABEL = "Status"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text))


def _hhmm(value: str, clock: Clock) -> str:
    """`07:00` → `7:00` (or `7am`); anything unreadable as it is."""
    try:
        return format_time(time.fromisoformat(value), clock)
    except ValueError:
        return value


def _person_line(person: PersonStanding) -> str:
    who = mention(person.user_id)
    if person.standing is Standing.CONNECTED:
        return f"{DONE} {who}"
    if person.standing is Standing.NEEDS_RECONNECT:
        return f"{BROKEN} {who}: needs reconnecting"
    return f"{WAITING} {who}"


def _primary_step(progress: Progress) -> str:
    title = "*1. Connect the primary calendar*"
    email = escape(progress.primary_email or "")
    if progress.primary is Standing.CONNECTED:
        by = f" by {mention(progress.primary_by)}" if progress.primary_by else ""
        return f"{DONE} {title}\nConnected{by}: {email}. Every booking goes on this calendar."
    if progress.primary is Standing.NEEDS_RECONNECT:
        return (
            f"{BROKEN} {title}\n{email} needs reconnecting: click *{CONNECT_PRIMARY_LABEL}* "
            "below and sign in to it again."
        )
    return (
        f"{TO_DO} {title}\nThe account that will own every booking: I'll see its free and busy "
        f"times and create the events I book. Click *{CONNECT_PRIMARY_LABEL}* below.\n"
        + GENERIC_ACCOUNT_ADVICE
    )


def _staff_step(progress: Progress) -> list[Block]:
    title = "*2. Everyone connects their own calendar*"
    intro = (
        f"{DONE if progress.staff_done else TO_DO} {title}\nEach person clicks "
        f"*{CONNECT_MINE_LABEL}* below and signs in with their own Google account, from their "
        "own Slack account. I only ever see when they're busy, never what their events are."
    )
    people = progress.people
    if not progress.everyone_known:
        summary = (
            "I can't see who is in this channel right now, so this lists only those who have "
            "connected."
        )
    elif not people:
        summary = "No one else is in this channel yet: invite your team, and each connects here."
    else:
        summary = f"{progress.connected_count} of {len(people)} connected."
    blocks: list[Block] = [_section(f"{intro}\n{summary}")]
    lines = [_person_line(p) for p in people[:PEOPLE_SHOWN]]
    if len(people) > PEOPLE_SHOWN:
        lines.append(f"…and {len(people) - PEOPLE_SHOWN} more: `@Tonomo status` lists everyone.")
    blocks += [_section(text) for text in pack_lines(lines)]
    return blocks


def _availability_step(progress: Progress) -> str:
    title = "*3. Try `@Tonomo availability`*"
    if progress.availability_asked:
        return f"{DONE} {title}\nDone: you've seen who is free, live from their calendars."
    return (
        f"{TO_DO} {title}\nType it here to see who is free today, read live from their "
        "calendars; `@Tonomo availability this week` shows the week."
    )


def _digest_step(progress: Progress, clock: Clock) -> str:
    at = f"{_hhmm(progress.digest_time, clock)} ({progress.timezone})"
    moved = format_time(time(8, 0), clock)
    if progress.digest_on:
        return (
            f"{DONE} *4. The daily digest is on*\nEvery working day at {at} I post who is free "
            "that day. `@Tonomo digest off` turns it off; "
            f"`@Tonomo digest at {moved}` moves it."
        )
    return (
        f"{TO_DO} *4. Turn on the daily digest*\nIt's off. `@Tonomo digest on` has me post who "
        f"is free every working day at {at}."
    )


def build_checklist(progress: Progress, *, clock: Clock) -> Message:
    """The onboarding checklist, posted in the channel and updated in place."""
    done = progress.steps_done
    if progress.complete:
        tally = f":tada: All {STEPS} steps done: this channel is ready to schedule."
    else:
        tally = f"*{done} of {STEPS} steps done.* I tick them off here as they get done."
    return Message.of(
        f"Getting started with Tonomo: {done} of {STEPS} steps done.",
        HeaderBlock(text="Getting started with Tonomo"),
        _section(
            "Four steps, and this channel is ready to see who is free and book them.\n" + tally
        ),
        _section(_primary_step(progress)),
        *_staff_step(progress),
        _section(_availability_step(progress)),
        _section(_digest_step(progress, clock)),
        ActionsBlock(
            elements=[
                ButtonElement(text=CONNECT_PRIMARY_LABEL, action_id=CONNECT_PRIMARY),
                ButtonElement(text=CONNECT_MINE_LABEL, action_id=CONNECT_MINE, style="primary"),
                ButtonElement(text=REMIND_LABEL, action_id=REMIND_STAFF),
            ]
        ),
        # The channel's panel: everything, for people who have no /tonomo (another
        # organisation's people, guests), answered to whoever clicks.
        ActionsBlock(
            elements=[
                ButtonElement(text=AVAILABILITY_LABEL, action_id=OPEN_AVAILABILITY_FORM),
                ButtonElement(text=BOOK_LABEL, action_id=OPEN_BOOK_FORM),
                ButtonElement(text=STATUS_LABEL, action_id=SHOW_STATUS),
            ]
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="Every button answers whoever clicks, visible only to them; the connect "
                    "buttons give your own personal link. For anything else, mention me: "
                    "`@Tonomo help`."
                )
            ]
        ),
    )


def build_checklist_not_posted() -> Message:
    return Message.text_only(
        "I couldn't post the checklist in this channel. `@Tonomo status` says why."
    )


def build_welcome(user_id: str, standing: Standing, email: str | None = None) -> Message:
    """What a person joining the channel sees, only them: their connect button."""
    who = mention(user_id)
    if standing is Standing.CONNECTED:
        return Message.text_only(
            f"Welcome back, {who}! Your calendar ({escape(email or '')}) is still connected here."
        )
    if standing is Standing.NEEDS_RECONNECT:
        ask = (
            f"Welcome back, {who}! Your calendar ({escape(email or '')}) needs reconnecting: "
            "click below and sign in to it again."
        )
    else:
        ask = (
            f"Welcome, {who}! I'm Tonomo: I keep this team's Google calendars in one place, so "
            "everyone can see who is free and book them. Connect your calendar so the team can "
            "see when you're free: I only ever see when you're busy, never what your events are."
        )
    return Message.of(
        ask,
        _section(ask),
        ActionsBlock(
            elements=[
                ButtonElement(text=CONNECT_MINE_LABEL, action_id=CONNECT_MINE, style="primary")
            ]
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="The link is just for you: connect from your own Slack account, with "
                    "your own Google account. Only you can see this message."
                )
            ]
        ),
    )


def _pack_mentions(mentions: Sequence[str], limit: int = SECTION_LIMIT) -> list[str]:
    """Mentions joined with commas into as few texts of at most `limit` characters as fit."""
    texts: list[str] = []
    current = ""
    for item in mentions:
        if current and len(current) + 2 + len(item) > limit:
            texts.append(current + ",")
            current = ""
        current = f"{current}, {item}" if current else item
    if current:
        texts.append(current)
    return texts


def build_reminder(user_ids: Sequence[str], by: str) -> Message:
    """Posted in the channel: the people who haven't connected, asked to, with the button."""
    mentions = [mention(u) for u in user_ids[:REMINDED_SHOWN]]
    if len(user_ids) > REMINDED_SHOWN:
        mentions.append(f"and {len(user_ids) - REMINDED_SHOWN} more")
    # Whoever reminds is left out of those asked; reminding only themselves, nobody asks.
    asker = "" if by in user_ids else f"{mention(by)} asks you to connect"
    ask = (
        f"{asker or 'Please connect'} your Google calendar, so the team can see when "
        f"you're free. Click *{CONNECT_MINE_LABEL}* and sign in with your own Google account: "
        "I only ever see when you're busy, never what your events are."
    )
    named = _pack_mentions(mentions, SECTION_LIMIT - 1)  # room for the closing colon
    named[-1] += ":"
    return Message.of(
        f"{', '.join(mentions)}: please connect your Google calendar.",
        *(_section(text) for text in named),
        _section(ask),
        ActionsBlock(
            elements=[
                ButtonElement(text=CONNECT_MINE_LABEL, action_id=CONNECT_MINE, style="primary")
            ]
        ),
    )


def build_remind_reply(outcome: Reminded, count: int = 0) -> Message:
    """The answer, only the person who clicked sees it."""
    if outcome is Reminded.POSTED:
        people = "1 person who hasn't" if count == 1 else f"{count} people who haven't"
        text = f"Done: I reminded {people} connected a calendar yet."
    elif outcome is Reminded.NO_ONE_WAITING:
        text = "Everyone in this channel has connected a calendar: there's no one to remind."
    elif outcome is Reminded.MEMBERS_UNKNOWN:
        text = (
            "I can't see who is in this channel right now, so I can't tell who to remind. "
            "Please try again in a minute."
        )
    elif outcome is Reminded.JUST_DONE:
        text = "I reminded them a moment ago; once is enough for now."
    else:
        text = "I couldn't post the reminder in this channel. `@Tonomo status` says why."
    return Message.text_only(text)
