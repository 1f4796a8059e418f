"""The App Home tab: an onboarder's desk, then a person's own calendar connections in every
channel, and their health.

`build_home` is pure: domain values in, the `home` view for `views.publish` out. Slack allows
100 blocks in a Home tab (https://api.slack.com/reference/block-kit/blocks), so the channels
that need the person get a section each (with its button), the ones that don't are packed
several to a section, and past the limit the rest are counted in one line.

The desk (only for someone who is the onboarder of at least one channel) comes first: one
row per customer, worst first (`desk_order`: something broken, then no primary calendar,
then the most people who never connected), each with a Remind button when someone is
waiting; channels where all is done are packed. It takes at most `DESK_BLOCK_LIMIT` blocks
when the person has calendars of their own to show below it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.checklist import Progress, Reminded, Standing
from bot.customers import clock_of
from bot.messages import SECTION_LIMIT, escape, format_day, mention
from bot.messages.connect import UNVERIFIED_TIP, WORKSPACE_TIP
from bot.messages.health import explain, reconnect_button
from bot.messages.ids import CONNECT_HERE, CONNECT_LINK, DESK_REMIND
from bot.messages.onboarding import build_remind_reply
from bot.messages.status import STATE_LABEL
from bot.when import Clock, format_time
from storage.models import CalendarConnection, ConnectionKind, ConnectionState, Customer

HOME_BLOCK_LIMIT = 100
"""Blocks in a Home tab (Slack's limit)."""

NOT_CONNECTED_LABEL = ":hourglass_flowing_sand: not connected yet"

DESK_REMIND_LABEL = "Remind"
DESK_BLOCK_LIMIT = 70
"""Blocks the desk may take when the person's own calendars are shown below it."""
NEVER_NAMED = 5
"""People who never connected, named in a desk row; the rest are counted."""


@dataclass(frozen=True, kw_only=True)
class Place:
    """A customer (its channel) of the person: their connections there, and whether they
    may connect their own calendar there (a member with none yet)."""

    customer: Customer
    connections: list[CalendarConnection] = field(default_factory=list)
    can_connect: bool = False

    @property
    def needs_them(self) -> bool:
        return self.can_connect or any(c.state.is_broken for c in self.connections)


@dataclass(frozen=True, kw_only=True)
class SignInLink:
    """A fresh consent link, shown where the person clicked for it."""

    customer_id: int | None
    """The place it belongs to; None shows it at the top."""
    kind: ConnectionKind
    url: str
    account_email: str = ""
    """The account to sign in with again, when it reconnects a connection."""


@dataclass(frozen=True, kw_only=True)
class BrokenConnection:
    """A connection of the customer's that needs a person to act, and since when."""

    connection: CalendarConnection
    since: datetime


@dataclass(frozen=True, kw_only=True)
class DeskRow:
    """One channel where the person is the onboarder: how far it has come."""

    customer: Customer
    progress: Progress
    """Its checklist's facts: the primary, the customer's people (no onboarders), the digest."""
    primary: CalendarConnection | None = None
    broken: list[BrokenConnection] = field(default_factory=list)
    digest_sent_at: datetime | None = None
    """When its digest last went; None when it never has."""

    @property
    def waiting(self) -> list[str]:
        """The customer's people in the channel who have never connected a calendar."""
        return self.progress.not_connected

    @property
    def needs_work(self) -> bool:
        return bool(self.broken) or not self.progress.primary_done or bool(self.waiting)


def desk_order(row: DeskRow) -> tuple[int, int, int, datetime, int]:
    """Worst first: something broken (the longest broken first), then no primary calendar,
    then the most people who never connected, then the rest, oldest customer first."""
    oldest = min((b.since for b in row.broken), default=datetime.max.replace(tzinfo=UTC))
    return (
        0 if row.broken else 1,
        0 if row.progress.primary is Standing.NOT_YET else 1,
        -len(row.waiting),
        oldest,
        row.customer.id,
    )


@dataclass(frozen=True, kw_only=True)
class HomeView:
    places: list[Place]
    now: datetime
    check_interval: timedelta
    link: SignInLink | None = None
    notice: str = ""
    """A line (mrkdwn) at the top: why a click gave no link, what a Remind did."""
    desk: Sequence[DeskRow] = ()
    """The channels where the person is the onboarder (none: no desk)."""


def build_home(view: HomeView) -> dict[str, Any]:
    """The Home tab: the onboarder's desk, if any; then what needs the person, then
    everything that is fine."""
    if not view.desk:
        blocks = _overview(view) if view.places else _welcome(view)
    else:
        limit = DESK_BLOCK_LIMIT if view.places else HOME_BLOCK_LIMIT
        blocks = _desk(view, limit)
        if view.places:
            blocks += _overview(replace(view, notice=""), HOME_BLOCK_LIMIT - len(blocks))
    return {"type": "home", "blocks": [b.to_dict() for b in blocks]}


def build_desk_remind_notice(channel_id: str, outcome: Reminded, count: int) -> str:
    """What a Remind in the desk did, in the channel it names."""
    return f"<#{channel_id}>: {build_remind_reply(outcome, count).text}"


NOT_YOUR_DESK = (
    "That channel isn't one where you're the onboarder, so I didn't post anything there. "
    "Your channels are listed below."
)


def build_already_connected(channel_id: str) -> str:
    return (
        f"Your calendar is already connected in <#{channel_id}>. If it stops working, its "
        "*Reconnect* button appears here."
    )


GONE_CHANNEL = (
    "That channel isn't one of yours with me any more. `/tonomo connect-calendar` in a "
    "channel connects your calendar there."
)


# --- the overview ---------------------------------------------------------------------------


def _overview(view: HomeView, limit: int = HOME_BLOCK_LIMIT) -> list[Block]:
    needing = [p for p in view.places if p.needs_them]
    fine = [p for p in view.places if not p.needs_them]
    head: list[Block] = [
        HeaderBlock(text="Your calendars"),
        SectionBlock(
            text=MarkdownTextObject(
                text="The Google calendars you connected through me, in every channel you're in, "
                f"and how each one is doing. I check them {_every(view.check_interval)}."
            )
        ),
    ]
    if view.notice:
        head.append(_notice(view.notice))
    tail: list[Block] = [
        DividerBlock(),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="In a channel, `/tonomo status` shows everyone's calendars there and "
                    "`/tonomo disconnect` removes yours."
                )
            ]
        ),
    ]
    link_blocks = _link_blocks(view.link) if view.link is not None else []
    # Kept for the two groups' headings, their "…and N more" lines and the divider between.
    room = limit - len(head) - len(tail) - len(link_blocks) - 5

    fine_sections = list(_packed(fine, view))
    keep_for_fine = 1 if fine_sections else 0
    needing_blocks: list[Block] = []
    shown_needing = 0
    linked = False
    for place in needing:
        blocks, with_link = _needing_place(place, view, link_blocks)
        cost = len(blocks) - (len(link_blocks) if with_link else 0)
        if room - cost < keep_for_fine:
            break
        room -= cost
        needing_blocks += blocks
        shown_needing += 1
        linked = linked or with_link
    if link_blocks and not linked:
        head += link_blocks
    if shown_needing < len(needing):
        needing_blocks.append(_more(len(needing) - shown_needing, "that need you"))

    fine_blocks = _sections_within(fine_sections, room, len(fine), "where all is well")

    body: list[Block] = []
    if needing:
        body += [_heading(f":point_right: *Needs you* ({len(needing)})"), *needing_blocks]
    if fine:
        if needing:
            body.append(DividerBlock())
        body += [_heading(f"*Nothing for you to do* ({len(fine)})"), *fine_blocks]
    return head + body + tail


def _needing_place(
    place: Place, view: HomeView, link_blocks: list[Block]
) -> tuple[list[Block], bool]:
    """A place that needs the person: a section per row (two at most), each button beside
    the one row it acts on, and the sign-in link under the row it is for. Whether the link
    is there."""
    blocks: list[Block] = []
    linked = False
    link = view.link
    for index, (line, button, kind) in enumerate(_rows(place, view)):
        blocks.append(
            _section(f"{_channel(place.customer)}\n{line}" if index == 0 else line, button)
        )
        if link is not None and link.customer_id == place.customer.id and link.kind is kind:
            blocks += link_blocks
            linked = True
    return blocks, linked


def _packed(places: list[Place], view: HomeView) -> Iterator[tuple[str, int]]:
    """The places' texts, as few to a section as fit: each text and how many places it holds."""
    text, count = "", 0
    for place in places:
        one = "\n".join([_channel(place.customer), *(line for line, _, _ in _rows(place, view))])
        one = _cut(one)
        if text and len(text) + 2 + len(one) > SECTION_LIMIT:
            yield text, count
            text, count = "", 0
        text, count = (f"{text}\n\n{one}" if text else one), count + 1
    if text:
        yield text, count


def _rows(
    place: Place, view: HomeView
) -> Iterator[tuple[str, ButtonElement | None, ConnectionKind]]:
    """Each line of a place, the button that acts on it, and the kind of calendar it is
    about: their own calendar first."""
    zone, clock = ZoneInfo(place.customer.timezone), clock_of(place.customer)
    ordered = sorted(place.connections, key=lambda c: c.kind is ConnectionKind.PRIMARY)
    if place.can_connect:
        yield (
            f"*Your calendar*: {NOT_CONNECTED_LABEL}. Connect it so the business sees when "
            "you're free (only free or busy, never what your events are).",
            ButtonElement(
                text="Connect my calendar",
                action_id=CONNECT_HERE,
                value=str(place.customer.id),
                style="primary",
            ),
            ConnectionKind.STAFF,
        )
    for connection in ordered:
        yield (
            _connection_line(connection, zone, clock, view),
            reconnect_button(connection) if connection.state.is_broken else None,
            connection.kind,
        )


def _connection_line(
    connection: CalendarConnection, zone: ZoneInfo, clock: Clock, view: HomeView
) -> str:
    what = (
        "*Your calendar*"
        if connection.kind is ConnectionKind.STAFF
        else "*The business's primary calendar* (you connected it)"
    )
    line = f"{what}: {STATE_LABEL[connection.state]}, {escape(connection.account_email)}."
    words = explain(connection.state, connection.state_reason)
    if words:
        line += f" {words}"
    checked = connection.last_checked_at
    if checked is None:
        return line + " Not checked yet."
    line += f" Checked {_when(checked, zone, clock, view.now)}"
    if connection.state is ConnectionState.UNREACHABLE:
        line += f"; next try {_when(checked + view.check_interval, zone, clock, view.now)}"
    return line + f" ({_zone_words(zone)})."


# --- the desk ---------------------------------------------------------------------------------


def _desk(view: HomeView, limit: int) -> list[Block]:
    """The onboarder's channels, worst first, within `limit` blocks."""
    rows = sorted(view.desk, key=desk_order)
    needing = [r for r in rows if r.needs_work]
    done = [r for r in rows if not r.needs_work]
    head: list[Block] = [
        HeaderBlock(text="Your desk"),
        SectionBlock(
            text=MarkdownTextObject(
                text=f"The {_channels(len(rows))} where you're the onboarder, worst first: "
                "what is broken and since when, who has never connected, and the daily digest. "
                f"*{DESK_REMIND_LABEL}* posts a friendly reminder in that channel."
            )
        ),
    ]
    if view.notice:
        head.append(_notice(view.notice))
    tail: list[Block] = [DividerBlock()]
    # Kept for the two groups' headings and their "…and N more" lines.
    room = limit - len(head) - len(tail) - 4
    done_sections = list(_pack(_desk_text(r, view.now) for r in done))
    keep_for_done = 1 if done_sections else 0

    needing_blocks: list[Block] = []
    for row in needing:
        if room - 1 < keep_for_done:
            break
        room -= 1
        needing_blocks.append(_section(_desk_text(row, view.now), _remind_button(row)))
    if len(needing_blocks) < len(needing):
        needing_blocks.append(_more(len(needing) - len(needing_blocks), "that need work"))

    done_blocks = _sections_within(done_sections, room, len(done), "where all is done")

    body: list[Block] = []
    if needing:
        body += [_heading(f":point_right: *Needs work* ({len(needing)})"), *needing_blocks]
    if done:
        body += [_heading(f"*All done* ({len(done)})"), *done_blocks]
    return head + body + tail


def _sections_within(
    sections: list[tuple[str, int]], room: int, total: int, which: str
) -> list[Block]:
    """Sections of packed rows (text, rows in it) in at most `room` blocks, and a line that
    counts the rows left out of `total`."""
    blocks: list[Block] = []
    shown = 0
    for text, count in sections:
        if len(blocks) >= room:
            break
        blocks.append(SectionBlock(text=MarkdownTextObject(text=text)))
        shown += count
    if shown < total:
        blocks.append(_more(total - shown, which))
    return blocks


def _remind_button(row: DeskRow) -> ButtonElement | None:
    if not row.waiting:
        return None
    return ButtonElement(text=DESK_REMIND_LABEL, action_id=DESK_REMIND, value=str(row.customer.id))


def _desk_text(row: DeskRow, now: datetime) -> str:
    """A channel's row: its progress, what is broken and since when, who never connected,
    and the digest; times in the customer's own timezone."""
    zone, clock = ZoneInfo(row.customer.timezone), clock_of(row.customer)
    progress = row.progress
    mark = (
        ":red_circle:"
        if row.broken
        else ":large_orange_circle:"
        if row.needs_work
        else ":large_green_circle:"
    )
    lines = [f"{mark} {_channel(row.customer)}", f"Primary calendar: {_primary_words(row)}."]
    if not progress.everyone_known:
        lines.append(
            f"Staff: {progress.connected_count} connected; I can't see who is in the channel "
            "right now."
        )
    else:
        lines.append(
            f"Staff: {progress.connected_count} of {len(progress.people)} connected."
            if progress.people
            else "Staff: no one of the business is in the channel yet."
        )
    for broken in row.broken:
        connection = broken.connection
        what = (
            f"the primary calendar ({escape(connection.account_email)})"
            if connection.kind is ConnectionKind.PRIMARY
            else f"{mention(connection.owner_key)}'s calendar"
        )
        lines.append(
            f":warning: Broken: {what}, {STATE_LABEL[connection.state].split(' ', 1)[1]} "
            f"since {_on(broken.since, zone, clock, now)}."
        )
    if row.waiting:
        named = ", ".join(mention(u) for u in row.waiting[:NEVER_NAMED])
        more = len(row.waiting) - NEVER_NAMED
        if more > 0:
            named += f" and {more} more"
        lines.append(f"Never connected: {named}.")
    lines.append(_digest_words(row, zone, clock, now))
    return _cut("\n".join(lines))


def _primary_words(row: DeskRow) -> str:
    if row.primary is None:
        return NOT_CONNECTED_LABEL
    return f"{STATE_LABEL[row.primary.state]}, {escape(row.primary.account_email)}"


def _digest_words(row: DeskRow, zone: ZoneInfo, clock: Clock, now: datetime) -> str:
    state = "off"
    if row.progress.digest_on:
        state = f"on, at {_clock(row.progress.digest_time, clock)} on working days"
    if row.digest_sent_at is None:
        return f"Daily digest: {state}; it hasn't gone yet. _({_zone_words(zone)})_"
    last = _on(row.digest_sent_at, zone, clock, now)
    return f"Daily digest: {state}; last went {last}. _({_zone_words(zone)})_"


def _clock(hhmm: str, clock: Clock) -> str:
    """`07:00` → `7am` (or `7:00`); anything unreadable as it is."""
    try:
        return format_time(time.fromisoformat(hhmm), clock)
    except ValueError:
        return hhmm


def _on(moment: datetime, zone: ZoneInfo, clock: Clock, now: datetime) -> str:
    """`today at 3:15pm`, or `Tue 1 Dec at 3:15pm`, in the zone's wall-clock time."""
    local = moment.astimezone(zone)
    today = now.astimezone(zone).date()
    day = "today" if local.date() == today else format_day(local.date(), today)
    return f"{day} at {format_time(local.time(), clock)}"


def _pack(texts: Iterator[str]) -> Iterator[tuple[str, int]]:
    """Texts, as few to a section as fit: each section's text and how many it holds."""
    packed, count = "", 0
    for one in texts:
        if packed and len(packed) + 2 + len(one) > SECTION_LIMIT:
            yield packed, count
            packed, count = "", 0
        packed, count = (f"{packed}\n\n{one}" if packed else one), count + 1
    if packed:
        yield packed, count


def _channels(count: int) -> str:
    return "channel" if count == 1 else f"{count} channels"


# --- the sign-in link, where they clicked -----------------------------------------------------


def _link_blocks(link: SignInLink) -> list[Block]:
    what = "your calendar" if link.kind is ConnectionKind.STAFF else "the primary calendar"
    text = (
        f":link: *Your sign-in link for {what} is ready.* It's just for you, works once and "
        "expires in 10 minutes."
    )
    if link.account_email:
        text += f"\nSign in with {escape(link.account_email)}, the account it was connected with."
    return [
        SectionBlock(
            text=MarkdownTextObject(text=text),
            accessory=ButtonElement(
                text="Open Google sign-in", url=link.url, action_id=CONNECT_LINK, style="primary"
            ),
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(text=UNVERIFIED_TIP),
                MarkdownTextObject(text=WORKSPACE_TIP),
            ]
        ),
    ]


# --- nothing yet --------------------------------------------------------------------------------


def _welcome(view: HomeView) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text="Welcome to Tonomo")]
    if view.notice:
        blocks.append(_notice(view.notice))
    if view.link is not None:
        blocks += _link_blocks(view.link)
    blocks += [
        SectionBlock(
            text=MarkdownTextObject(
                text="I connect a business's Google calendars, keep them healthy, and answer who "
                "is free and when. Each business has a Slack channel with its onboarder, and I "
                "work there."
            )
        ),
        SectionBlock(
            text=MarkdownTextObject(
                text="*To start*, type `/tonomo connect-calendar` in your company's channel: you "
                "get a personal Google sign-in link that only you see. I'll only ever see when "
                "you're busy or free, never what your events are.\n"
                "The business connects its *primary calendar*, which owns every booking, with "
                "`/tonomo connect-calendar primary`."
            )
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="Once you're connected, this tab shows your calendars in every channel "
                    "and tells you when one needs reconnecting. `/tonomo help` lists everything "
                    "I do. Not in your company's channel yet? Ask your onboarder to add you."
                )
            ]
        ),
    ]
    return blocks


# --- small pieces -------------------------------------------------------------------------------


def _channel(customer: Customer) -> str:
    return f"*<#{customer.channel_id}>*"


def _section(text: str, button: ButtonElement | None) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=_cut(text)), accessory=button)


def _heading(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text))


def _notice(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=f":information_source: {text}"))


def _more(count: int, which: str) -> ContextBlock:
    noun = "channel" if count == 1 else "channels"
    return ContextBlock(
        elements=[
            MarkdownTextObject(
                text=f"…and {count} more {noun} {which}. `/tonomo status` in a channel shows "
                "its calendars."
            )
        ]
    )


def _cut(text: str) -> str:
    return text if len(text) <= SECTION_LIMIT else text[: SECTION_LIMIT - 1] + "…"


def _when(moment: datetime, zone: ZoneInfo, clock: Clock, now: datetime) -> str:
    """`at 3:15pm`, or `Tue 1 Dec at 3:15pm` on another day, in the zone's wall-clock time."""
    local = moment.astimezone(zone)
    today = now.astimezone(zone).date()
    at = f"at {format_time(local.time(), clock)}"
    return at if local.date() == today else f"{format_day(local.date(), today)} {at}"


def _zone_words(zone: ZoneInfo) -> str:
    """`New York time`, `Kolkata time`, `UTC`: how a timezone reads in a sentence."""
    name = zone.key
    if "/" not in name:
        return name
    return name.rsplit("/", 1)[1].replace("_", " ") + " time"


def _every(interval: timedelta) -> str:
    minutes = int(interval / timedelta(minutes=1))
    if minutes % 60 == 0:
        hours = minutes // 60
        return "every hour" if hours == 1 else f"every {hours} hours"
    return "every minute" if minutes == 1 else f"every {minutes} minutes"
