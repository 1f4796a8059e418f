"""The `@Tonomo status` message: every calendar connection of a customer, checked live.

A live check that Google did not answer (a timeout, a rate limit, an error on its side)
changes no verdict: the connection keeps the state it had, and counts the failure in
`check_failures`. So a connection still "connected" whose last check failed was not
confirmed just now, and the row says so instead of "checked at".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.messages import Message, escape, mention
from bot.messages.health import explain, reconnect_button
from bot.when import Clock, format_time
from storage.models import CalendarConnection, ConnectionKind, ConnectionState

STATE_LABEL = {
    ConnectionState.CONNECTED: ":white_check_mark: connected",
    ConnectionState.NEEDS_RECONNECT: ":warning: needs reconnecting",
    ConnectionState.MISSING_PERMISSION: ":no_entry: missing permission",
    ConnectionState.UNREACHABLE: ":grey_question: unreachable",
}
NOT_CHECKED_LABEL = ":grey_question: couldn't be checked just now"

CHANNEL_PROBLEM_WORDS = {
    "not_in_channel": "I'm not a member of this channel, so I can't post alerts or the daily digest here: `/invite @Tonomo`.",
    "channel_not_found": "Slack says I can't see this channel, so I can't post alerts or the daily digest here: `/invite @Tonomo`.",
    "is_archived": "This channel is archived, so I can't post alerts or the daily digest here.",
}

# Slack allows 50 blocks in a message; staff rows past this are summarised in one line.
MAX_STAFF_ROWS = 36


@dataclass(frozen=True, kw_only=True)
class StatusView:
    connections: list[CalendarConnection]
    timezone: str
    check_interval: timedelta
    not_connected: list[str] | None = None
    """Channel members with no calendar connected; None when Slack would not list them."""
    channel_problem: str = ""


def _date(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%b} {local.day}, {local:%Y}"


def _time(moment: datetime, zone: ZoneInfo, clock: Clock) -> str:
    return format_time(moment.astimezone(zone).time(), clock)


def _unanswered(connection: CalendarConnection) -> bool:
    """Connected as far as anyone knows, but the last check got no answer from Google."""
    return connection.state is ConnectionState.CONNECTED and bool(connection.check_failures)


def _row(connection: CalendarConnection, view: StatusView, clock: Clock) -> SectionBlock:
    zone = ZoneInfo(view.timezone)
    who = (
        f"connected by {mention(connection.slack_user_id)}"
        if connection.kind is ConnectionKind.PRIMARY
        else mention(connection.slack_user_id)
    )
    label = NOT_CHECKED_LABEL if _unanswered(connection) else STATE_LABEL[connection.state]
    line = f"{label}: {escape(connection.account_email)}, {who}"
    checked = connection.last_checked_at
    if _unanswered(connection) and checked is not None:
        retry = checked + view.check_interval
        line += (
            f"\nGoogle didn't answer when I tried at {_time(checked, zone, clock)} (too slow or too busy). It was "
            f"connected at the last check Google answered, so nothing is marked broken; "
            f"next try at {_time(retry, zone, clock)}. Connected since {_date(connection.connected_at, zone)}."
        )
    elif connection.state is ConnectionState.CONNECTED and checked is not None:
        line += f"\nChecked at {_time(checked, zone, clock)}; connected since {_date(connection.connected_at, zone)}."
    elif connection.state is ConnectionState.UNREACHABLE and checked is not None:
        retry = checked + view.check_interval
        line += f"\n{explain(connection.state, connection.state_reason)} Next try at {_time(retry, zone, clock)}."
    elif connection.state.is_broken:
        line += f"\n{explain(connection.state, connection.state_reason)}"
    accessory = reconnect_button(connection) if connection.state.is_broken else None
    return SectionBlock(text=MarkdownTextObject(text=line), accessory=accessory)


def build_status(view: StatusView, *, clock: Clock) -> Message:
    primary = next((c for c in view.connections if c.kind is ConnectionKind.PRIMARY), None)
    staff = [c for c in view.connections if c.kind is ConnectionKind.STAFF]
    blocks: list[Block] = [HeaderBlock(text="Calendar connections")]
    blocks.append(SectionBlock(text=MarkdownTextObject(text="*Primary calendar*")))
    if primary is not None:
        blocks.append(_row(primary, view, clock))
    else:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=":hourglass_flowing_sand: not connected yet: `@Tonomo connect-calendar primary`"
                )
            )
        )
    blocks.append(DividerBlock())
    blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*Staff calendars* ({len(staff)})")))
    blocks.extend(_row(c, view, clock) for c in staff[:MAX_STAFF_ROWS])
    if len(staff) > MAX_STAFF_ROWS:
        more = f"…and {len(staff) - MAX_STAFF_ROWS} more."
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=more)]))
    if not staff:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text="None yet: each photographer runs `@Tonomo connect-calendar`."
                )
            )
        )
    if view.not_connected:
        names = ", ".join(mention(u) for u in view.not_connected[:60])
        extra = f" and {len(view.not_connected) - 60} more" if len(view.not_connected) > 60 else ""
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f":hourglass_flowing_sand: Not connected yet: {names}{extra}. "
                    "Each of them runs `@Tonomo connect-calendar`."
                )
            )
        )
    notes = [f"Checked live. Times in {escape(view.timezone)}."]
    if view.channel_problem:
        notes.append(
            CHANNEL_PROBLEM_WORDS.get(
                view.channel_problem, "I can't post in this channel right now."
            )
        )
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=n) for n in notes]))
    unanswered = sum(_unanswered(c) for c in view.connections)
    working = sum(c.state is ConnectionState.CONNECTED for c in view.connections) - unanswered
    summary = f"{working} of {len(view.connections)} calendar connection(s) working."
    if unanswered:
        summary += f" {unanswered} couldn't be checked just now."
    return Message.of(summary, *blocks)
