"""Messages of the connect flow: the personal link, the channel notice, disconnecting."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.connections import Connected, Disconnected
from bot.messages import Message, escape, mention
from bot.messages.health import SCOPE_WORDS
from bot.messages.ids import CONNECT_LINK
from storage.models import ConnectionKind

UNVERIFIED_TIP = (
    "If Google warns that the app isn't verified, click *Show Advanced*, then *Go to … (unsafe)*, "
    "then *Allow*."
)
WORKSPACE_TIP = (
    "On Google Workspace, an admin may have to allow the app first: Admin console → Security → "
    "API controls."
)
PERMISSIONS_URL = "https://myaccount.google.com/permissions"
GENERIC_ACCOUNT_ADVICE = (
    "Use a shared account such as info@, booking@ or scheduling@ rather than a person's. "
    "If that person leaves or loses access, scheduling stops, and whoever covers for them in an "
    "emergency gets more than the calendar. No shared account? Use a senior person who will stay."
)


def build_connect_link(kind: ConnectionKind, url: str) -> Message:
    if kind is ConnectionKind.PRIMARY:
        intro = (
            "*Connect the business's primary calendar.* It will own every booking I make: I'll see "
            "its free/busy times and create and delete the events I book.\n"
            + GENERIC_ACCOUNT_ADVICE
        )
        label = "Connect primary calendar"
    else:
        intro = (
            "*Connect your Google calendar.* I'll see only when you're busy or free, never what "
            "your events are. Connect from your own Slack account, never on someone else's behalf."
        )
        label = "Connect my calendar"
    return Message.of(
        "Here is your personal link to connect a Google calendar.",
        SectionBlock(
            text=MarkdownTextObject(text=intro),
            accessory=ButtonElement(text=label, url=url, action_id=CONNECT_LINK, style="primary"),
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="This link is just for you. It works once and expires in 10 minutes."
                ),
                MarkdownTextObject(text=UNVERIFIED_TIP),
                MarkdownTextObject(text=WORKSPACE_TIP),
            ]
        ),
    )


def build_connected_notice(done: Connected) -> Message:
    who = mention(done.slack_user_id)
    email = escape(done.account_email)
    verb = "reconnected" if done.was_broken else "connected"
    if done.kind is ConnectionKind.PRIMARY:
        line = f":white_check_mark: {who} {verb} the primary calendar ({email})."
        if done.replaced_email:
            line += f" It replaces {escape(done.replaced_email)}."
    else:
        line = f":white_check_mark: {who} {verb} their calendar ({email})."
    blocks: list[SectionBlock | ContextBlock] = [SectionBlock(text=MarkdownTextObject(text=line))]
    if done.missing_scopes:
        boxes = " and ".join(f"“{SCOPE_WORDS.get(s, s)}”" for s in done.missing_scopes)
        again = (
            "`@Tonomo connect-calendar primary`"
            if done.kind is ConnectionKind.PRIMARY
            else "`@Tonomo connect-calendar`"
        )
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f":no_entry: A permission was left unticked on Google's page ({boxes}), "
                    f"so I can't use this calendar yet. {again} gives a fresh link: sign in "
                    "again and tick every box."
                )
            )
        )
    if done.kind is ConnectionKind.STAFF:
        undo = (
            f"Connected for {who} with the Google account {email}. {who}, that address doesn't "
            "look like yours: if it isn't your account, someone else signed in with your link. "
            "`@Tonomo disconnect` removes it, then connect your own."
            if done.may_be_someone_elses
            else f"Not your account, {who}? `@Tonomo disconnect` removes it."
        )
        if done.may_be_someone_elses:
            blocks.append(SectionBlock(text=MarkdownTextObject(text=":grey_question: " + undo)))
        else:
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=undo)]))
    if done.looks_personal:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f":bulb: {email} looks like a person's address. " + GENERIC_ACCOUNT_ADVICE
                )
            )
        )
    return Message.of(line, *blocks)


def build_disconnected_notice(
    slack_user_id: str, kind: ConnectionKind, done: Disconnected
) -> Message:
    whose = "the primary calendar" if kind is ConnectionKind.PRIMARY else "their calendar"
    line = f"{mention(slack_user_id)} disconnected {whose} ({escape(done.account_email)})."
    return Message.text_only(line)


def build_disconnect_reply(kind: ConnectionKind, done: Disconnected | None) -> Message:
    whose = "The primary calendar" if kind is ConnectionKind.PRIMARY else "Your calendar"
    if done is None:
        text = (
            "There is no primary calendar connected here."
            if kind is ConnectionKind.PRIMARY
            else "You have no calendar connected in this channel."
        )
    elif done.revoked_at_google:
        text = (
            f"{whose} ({escape(done.account_email)}) is disconnected, and Google access is revoked."
        )
    else:
        text = (
            f"{whose} ({escape(done.account_email)}) is disconnected here, but Google couldn't be "
            "reached to revoke access. You can remove it yourself at "
            f"<{PERMISSIONS_URL}|your Google account's permissions page>."
        )
    return Message.text_only(text)


def build_reconnect_refusal(owner: str | None) -> Message:
    if owner is None:
        text = "That connection no longer exists. `@Tonomo connect-calendar` connects a calendar afresh."
    else:
        text = (
            f"Only {mention(owner)} can reconnect their calendar: each person connects from their "
            "own Slack account, with their own Google sign-in."
        )
    return Message.text_only(text)
