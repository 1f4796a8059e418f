"""Health messages: what a broken connection means in plain words, alerts and all-clears."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, MarkdownTextObject, SectionBlock

from bot.calendar.port import (
    ACCOUNT_DELETED,
    CALENDARS_READONLY,
    CREDENTIALS_REJECTED,
    EVENTS,
    EVENTS_OWNED,
    FREEBUSY,
    GOOGLE_UNREACHABLE,
    GRANT_REVOKED,
    MISSING_SCOPES,
)
from bot.messages import Message, escape, mention
from bot.messages.ids import RECONNECT
from storage.models import CalendarConnection, ConnectionKind, ConnectionState

# The boxes on Google's consent page, as Google words them.
SCOPE_WORDS = {
    FREEBUSY: "See the availability on Google Calendars you have access to",
    CALENDARS_READONLY: "See the title, description, default time zone, and other properties of Google calendars you have access to",
    EVENTS_OWNED: "See, create, change, and delete events on Google calendars you own",
    EVENTS: "View and edit events on all your calendars",
}

REVOKED_WORDS = (
    "Google no longer accepts this connection. That happens when access is removed on the "
    "Google account's security page, after a password change, after six months without use, "
    'or every 7 days while the Google app is still in "Testing" publishing status.'
)


def explain(state: ConnectionState, reason: str) -> str:
    """A connection's state and reason in words a non-technical person understands."""
    if state is ConnectionState.NEEDS_RECONNECT:
        if reason == ACCOUNT_DELETED:
            return "The Google account was deleted. Connect a calendar of an account that exists."
        if reason == CREDENTIALS_REJECTED:
            return "Google refused this connection's credentials. Reconnecting fixes it."
        if reason == GRANT_REVOKED:
            return REVOKED_WORDS + " Reconnecting fixes it."
        return "Google no longer accepts this connection. Reconnecting fixes it."
    if state is ConnectionState.MISSING_PERMISSION:
        scopes = reason.split()[1:] if reason.startswith(MISSING_SCOPES) else []
        boxes = "; ".join(f"“{SCOPE_WORDS.get(s, s)}”" for s in scopes)
        tick = f"tick {boxes}" if boxes else "tick every box"
        return f"A permission was left unticked on Google's page. Reconnect and {tick}."
    if state is ConnectionState.UNREACHABLE or reason == GOOGLE_UNREACHABLE:
        return "Google isn't answering for this calendar right now. I'll keep trying."
    return ""


def _whose(connection: CalendarConnection) -> str:
    email = escape(connection.account_email)
    if connection.kind is ConnectionKind.PRIMARY:
        return f"The primary calendar ({email})"
    return f"{mention(connection.slack_user_id)}'s calendar ({email})"


def reconnect_button(connection: CalendarConnection) -> ButtonElement:
    return ButtonElement(
        text="Reconnect", action_id=RECONNECT, value=str(connection.id), style="primary"
    )


def build_alert(connection: CalendarConnection) -> Message:
    verdict = (
        "is missing a permission"
        if connection.state is ConnectionState.MISSING_PERMISSION
        else "needs reconnecting"
    )
    line = f":warning: {_whose(connection)} {verdict}."
    who = (
        "Anyone here can reconnect the primary calendar with the account that owns it."
        if connection.kind is ConnectionKind.PRIMARY
        else f"{mention(connection.slack_user_id)}, the button gives you a fresh personal link."
    )
    return Message.of(
        line,
        SectionBlock(
            text=MarkdownTextObject(
                text=f"{line}\n{explain(connection.state, connection.state_reason)}"
            )
        ),
        SectionBlock(text=MarkdownTextObject(text=who)),
        ActionsBlock(elements=[reconnect_button(connection)]),
    )


def build_alert_resolved(connection: CalendarConnection) -> Message:
    """The alert, edited in place once the connection works again: no button left."""
    line = f":white_check_mark: Fixed: {_whose(connection)} is working again."
    return Message.text_only(line)


def build_all_clear(connection: CalendarConnection) -> Message:
    line = f":white_check_mark: {_whose(connection)} is working again."
    return Message.text_only(line)
