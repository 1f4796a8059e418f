"""The `/tonomo status` message: every calendar connection of a customer."""

from __future__ import annotations

from datetime import datetime
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
from storage.models import CalendarConnection, ConnectionKind, ConnectionState

STATE_LABEL = {
    ConnectionState.CONNECTED: ":white_check_mark: connected",
    ConnectionState.NEEDS_RECONNECT: ":warning: needs reconnecting",
    ConnectionState.MISSING_PERMISSION: ":no_entry: missing permission",
    ConnectionState.UNREACHABLE: ":grey_question: unreachable",
}

# Slack allows 50 blocks in a message; the rest are summarised in one line.
MAX_STAFF_ROWS = 40


def _when(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%b} {local.day}, {local:%Y}"


def _row(connection: CalendarConnection, timezone: str) -> str:
    who = (
        f"connected by {mention(connection.slack_user_id)}"
        if connection.kind is ConnectionKind.PRIMARY
        else mention(connection.slack_user_id)
    )
    line = (
        f"{STATE_LABEL[connection.state]}: {escape(connection.account_email)}, {who}, "
        f"since {_when(connection.connected_at, timezone)}"
    )
    if connection.state_reason:
        line += f"\n_{escape(connection.state_reason)}_"
    return line


def build_status(connections: list[CalendarConnection], timezone: str) -> Message:
    primary = next((c for c in connections if c.kind is ConnectionKind.PRIMARY), None)
    staff = [c for c in connections if c.kind is ConnectionKind.STAFF]
    blocks: list[Block] = [HeaderBlock(text="Calendar connections")]
    primary_text = (
        f"*Primary calendar*\n{_row(primary, timezone)}"
        if primary
        else "*Primary calendar*\n:hourglass_flowing_sand: not connected yet: `/tonomo connect-calendar primary`"
    )
    blocks.append(SectionBlock(text=MarkdownTextObject(text=primary_text)))
    blocks.append(DividerBlock())
    if staff:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=f"*Staff calendars* ({len(staff)})"))
        )
        blocks.extend(
            SectionBlock(text=MarkdownTextObject(text=_row(c, timezone)))
            for c in staff[:MAX_STAFF_ROWS]
        )
        if len(staff) > MAX_STAFF_ROWS:
            blocks.append(
                ContextBlock(
                    elements=[MarkdownTextObject(text=f"…and {len(staff) - MAX_STAFF_ROWS} more.")]
                )
            )
    else:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text="*Staff calendars*\nNone yet: each photographer runs `/tonomo connect-calendar`."
                )
            )
        )
    blocks.append(
        ContextBlock(
            elements=[MarkdownTextObject(text=f"Times in {escape(timezone)}. Stored state.")]
        )
    )
    summary = f"{len(staff)} staff calendar(s) connected; primary {'connected' if primary else 'not connected'}."
    return Message.of(summary, *blocks)
