"""Messages about who may do what: refusals that name who can, roles set, and the
confirmation before the primary calendar is replaced."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.connections import Replacing
from bot.messages import Message, escape, mention
from bot.messages.ids import REPLACE_PRIMARY
from bot.people import Act, Refusal, Role

_WHAT = {
    Act.PRIMARY: "connect, replace or disconnect the business's primary calendar",
    Act.SETTINGS: "change settings",
    Act.BOOK_OTHERS: "book someone else",
    Act.CANCEL_OTHERS: "cancel someone else's booking",
    Act.TIME_OFF_OTHERS: "set or remove someone else's time off",
}
_INSTEAD = {
    Act.PRIMARY: "You can connect your own calendar: `connect-calendar`.",
    Act.SETTINGS: "You can see them: `settings`.",
    Act.BOOK_OTHERS: "You can book yourself, and see who is free: `availability`.",
    Act.CANCEL_OTHERS: "You can cancel your own bookings.",
    Act.TIME_OFF_OTHERS: "You can set your own, like `timeoff friday`, and see everyone's: "
    "`timeoff`.",
}


def who_can(owner: str | None) -> str:
    if owner is None:
        return "an onboarder"
    return f"{mention(owner)} (the owner) or an onboarder"


def build_refusal(refusal: Refusal) -> Message:
    text = (
        f"Only {who_can(refusal.owner)} can {_WHAT[refusal.act]} here. "
        f"Ask them, please. {_INSTEAD[refusal.act]}"
    )
    return Message.text_only(text)


def build_role_set(user_id: str, role: Role, by: str) -> Message:
    roles = {
        Role.OWNER: "the owner: they connect the primary calendar, change settings, book "
        "and cancel for anyone, and set anyone's time off",
        Role.ONBOARDER: "an onboarder: they can do everything here, and aren't counted as staff",
        Role.STAFF: "staff: they connect their own calendar and book themselves",
    }
    return Message.text_only(f"{mention(by)} set {mention(user_id)} as {roles[role]}.")


def build_replace_primary(current: Replacing) -> Message:
    """Before a connected primary calendar is replaced: what it holds, and a Replace button
    (with Slack's confirm dialog) that gives the sign-in link."""
    current_email, upcoming = current.account_email, current.upcoming_bookings
    email = escape(current_email)
    held = (
        f"which holds {upcoming} upcoming booking{'s' if upcoming != 1 else ''}: "
        f"{'they stay' if upcoming != 1 else 'it stays'} on that calendar"
        if upcoming
        else "which holds no upcoming bookings"
    )
    text = (
        f":warning: The primary calendar is {email}. Connecting another replaces {email}, {held}, "
        "and the bookings you make from then on go to the new one. The channel is told who "
        "replaced it."
    )
    return Message.of(
        f"Replacing the primary calendar ({current_email}) needs your confirmation.",
        SectionBlock(text=MarkdownTextObject(text=text)),
        ActionsBlock(
            elements=[
                ButtonElement(
                    text="Replace the primary calendar",
                    action_id=REPLACE_PRIMARY,
                    value=str(current.connection_id),
                    style="danger",
                    confirm=ConfirmObject(
                        title="Replace the primary calendar?",
                        text=f"{current_email} stops being the business's primary calendar "
                        "once you sign in with another account.",
                        confirm="Replace it",
                        deny="Keep it",
                    ),
                )
            ]
        ),
        ContextBlock(
            elements=[MarkdownTextObject(text="Changed your mind? Just ignore this message.")]
        ),
    )
