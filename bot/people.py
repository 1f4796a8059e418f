"""Who is who in a customer's channel, and who may do what (CONTRACT: "People of two
organisations").

A customer's channel is usually shared. The vendor's onboarders are full members of the
workspace that installed the app; the business's owner and photographers join from their
own organisation (Slack Connect) or as guests. Slack's own facts tell them apart:

- `users.info` → `user.team_id` is the person's home workspace (for a person of another
  organisation, their own team's id), and `is_restricted` / `is_ultra_restricted` mark a
  multi- or single-channel guest;
- `conversations.info` → `is_ext_shared` says the channel is shared with another
  organisation.

The roles, decided in this order (`decide_role`):

1. set with `settings owner|onboarder|staff @user`: that, whatever Slack says;
2. the customer's owner (the first person of the customer who connects the primary
   calendar, or set with `settings owner`): owner;
3. a full member of the installing workspace, in a channel that also has people of
   another organisation or guests ("mixed"): onboarder;
4. everyone else: staff. In a channel with neither (a business that installed the app
   itself) everyone is staff, and its owner as above.

Permissions (`may`): onboarders may do everything, for anyone; the owner may connect or
replace the primary calendar, change settings, book and cancel for anyone, and set or
remove anyone's time off; staff connect, reconnect and disconnect their own calendar, book
themselves, cancel their own bookings, and set and remove their own time off. Until a
channel has an owner, every person of the customer may do what the owner may, so the first
setup needs no ceremony. Onboarders are never counted as staff.

Pure decisions live in the functions; `People` gathers the facts (Slack, through the
`Directory`'s cache, and the database) and records each decision on the member's row.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from bot import commands
from bot.slack import Directory, SlackUser
from bot.together import together
from storage.models import ConnectionKind, Customer, Member, utcnow
from storage.repositories import ChannelFacts, Store

logger = logging.getLogger(__name__)

CHANNEL_KEPT = timedelta(days=7)
"""How long the channel's members and sharing are trusted as last read (`ChannelFacts`,
kept on the customer's row for every instance). Slack's events say when they change
(`member_joined_channel`, `member_left_channel`, `channel_shared`, `channel_unshared`), on
whichever instance gets them, and the facts are then read afresh; this bounds what an
outage's missed events can leave wrong. Reading them is two calls of Slack's rate tiers 3
and 4 (`conversations.members`, `conversations.info`), which are counted per workspace:
with every customer's channel in the vendor's workspace, asked by every digest, command
and Home tab, they would set the pace (bench/README.md, `digest_run`)."""


class Role(enum.StrEnum):
    ONBOARDER = "onboarder"
    OWNER = "owner"
    STAFF = "staff"


class RoleSource(enum.StrEnum):
    """How a person's role was decided (stored beside it)."""

    SLACK = "slack"
    """From Slack's facts: their workspace, guest flags, the channel's sharing."""
    PRIMARY = "primary"
    """The first person of the customer to connect the primary calendar: the owner."""
    SETTINGS = "settings"
    """Set with `settings owner|onboarder|staff @user`."""


class Act(enum.StrEnum):
    """What only some people may do: the owner and onboarders may do each of them (and,
    until a channel has an owner, every person of the customer)."""

    PRIMARY = "primary"
    """Connect, replace, reconnect or disconnect the primary calendar."""
    SETTINGS = "settings"
    """Change a setting (timezone, hours, digest schedule, roles)."""
    BOOK_OTHERS = "book_others"
    """Book someone other than oneself."""
    CANCEL_OTHERS = "cancel_others"
    """Cancel a booking of someone else's (neither booked for nor by them)."""
    TIME_OFF_OTHERS = "time_off_others"
    """Set or remove someone else's time off."""


def is_guest(user: SlackUser) -> bool:
    return user.is_restricted or user.is_ultra_restricted


def is_full_member(user: SlackUser, install_team: str) -> bool:
    """A full member of the installing workspace: its own team, not a guest."""
    return user.team_id == install_team and not is_guest(user)


def channel_is_mixed(*, ext_shared: bool, people: Sequence[SlackUser], install_team: str) -> bool:
    """A channel with people of another organisation or guests: its full members of the
    installing workspace are the vendor's onboarders."""
    return ext_shared or any(not is_full_member(p, install_team) for p in people)


def decide_role(
    user_id: str,
    *,
    user: SlackUser | None,
    install_team: str,
    mixed: bool,
    owner: str | None,
    set_role: Role | None,
) -> tuple[Role, RoleSource]:
    """One person's role in one channel, and how it was decided (see the module's text).

    `user` is what Slack says of them (None when Slack won't say: they count as staff, the
    role that may least); `set_role` what `settings` set for them, if anything.
    """
    if set_role is not None:
        return set_role, RoleSource.SETTINGS
    if owner is not None and user_id == owner:
        return Role.OWNER, RoleSource.PRIMARY
    if mixed and user is not None and is_full_member(user, install_team):
        return Role.ONBOARDER, RoleSource.SLACK
    return Role.STAFF, RoleSource.SLACK


def may(role: Role, act: Act, *, has_owner: bool) -> bool:
    """May a person of `role` do `act`? (CONTRACT's table.)"""
    if role in (Role.ONBOARDER, Role.OWNER):
        return True
    return not has_owner  # until there is an owner, everyone may do what the owner may


def act_of(command: commands.Command, user_id: str) -> Act | None:
    """What only some may do that `command`, asked by `user_id`, would do (None: anyone
    may). Cancelling or moving a booking is decided with the booking in hand
    (`bot.booking`), and removing time off with its row in hand."""
    if isinstance(command, commands.ConnectCalendar | commands.Disconnect):
        return Act.PRIMARY if command.kind is ConnectionKind.PRIMARY else None
    if isinstance(
        command,
        commands.SetTimezone
        | commands.SetClock
        | commands.SetHours
        | commands.SetScheduling
        | commands.SetRole,
    ):
        return Act.SETTINGS
    if isinstance(command, commands.DigestSetting):
        return None if command.action == "now" else Act.SETTINGS
    if isinstance(command, commands.Book):
        return None if command.user_id == user_id else Act.BOOK_OTHERS
    if isinstance(command, commands.BookAnyone):
        return None if command.user_ids == (user_id,) else Act.BOOK_OTHERS
    if isinstance(command, commands.AddTimeOff):
        return None if command.user_id in (None, user_id) else Act.TIME_OFF_OTHERS
    return None


@dataclass(frozen=True)
class Refusal:
    """Why someone may not do something, and who can."""

    act: Act
    owner: str | None
    """The customer's owner (a Slack user id), who can; None when there is none."""


def refusal_of(role: Role, act: Act | None, customer: Customer) -> Refusal | None:
    """None when a person of `role` may do `act` for this customer; else who can."""
    if act is None or may(role, act, has_owner=customer.owner_user_id is not None):
        return None
    return Refusal(act=act, owner=customer.owner_user_id)


@dataclass(frozen=True)
class Channel:
    """The facts behind a channel's roles, read once for one decision or one list."""

    install_team: str
    mixed: bool
    owner: str | None
    set_roles: dict[str, Role] = field(default_factory=dict)

    def role(self, user_id: str, user: SlackUser | None) -> tuple[Role, RoleSource]:
        return decide_role(
            user_id,
            user=user,
            install_team=self.install_team,
            mixed=self.mixed,
            owner=self.owner,
            set_role=self.set_roles.get(user_id),
        )


def channel_of(customer: Customer, members: Sequence[Member], *, mixed: bool) -> Channel:
    """The customer's channel, its roles set from `members` (the rows that set any)."""
    return Channel(
        install_team=customer.team_id,
        mixed=mixed,
        owner=customer.owner_user_id,
        set_roles=set_roles_of(members),
    )


def set_roles_of(members: Sequence[Member]) -> dict[str, Role]:
    return {
        m.slack_user_id: Role(m.role)
        for m in members
        if m.role_source == RoleSource.SETTINGS and m.role in Role.__members__.values()
    }


def kept_facts(customer: Customer, now: datetime) -> ChannelFacts | None:
    """The channel's facts kept on the customer's row, if still to be trusted: read within
    `CHANNEL_KEPT`, and after the last change an event reported."""
    read_at = customer.channel_read_at
    if customer.channel_members is None or customer.channel_ext_shared is None or not read_at:
        return None
    changed_at = customer.channel_changed_at
    if (changed_at is not None and changed_at >= read_at) or now - read_at > CHANNEL_KEPT:
        return None
    return ChannelFacts(
        tuple(customer.channel_members.split()), customer.channel_ext_shared, read_at
    )


class People:
    """Roles and permissions for the bot's doors, from Slack's facts and the database."""

    def __init__(
        self,
        *,
        store: Store,
        directory: Directory,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._directory = directory
        self._clock = clock

    async def channel_changed(self, team_id: str, channel_id: str, at: datetime) -> None:
        """Someone joined or left the channel, or its sharing changed (`team_id` the
        installing workspace): its people are read afresh next time, by every instance
        (the facts kept on the customer's row are dropped)."""
        await self._store.channel_changed(team_id, channel_id, at)

    async def facts(self, customer: Customer) -> ChannelFacts | None:
        """The channel's members and sharing: as kept on the customer's row while they are
        trusted (`kept_facts`), else read from Slack now and kept there, for the rest of
        this request and every instance's later ones. None when Slack won't list the
        channel's members."""
        now = self._clock()
        facts = kept_facts(customer, now)
        if facts is None:
            facts = await self.read_facts(customer, now)
            if facts is not None and facts.ext_shared is not None:
                await self._keep(customer, facts)
        return facts

    async def _keep(self, customer: Customer, facts: ChannelFacts) -> None:
        """Keep facts just read, in the database (unless an event said meanwhile that the
        channel changed) and on this `customer`. They only spare Slack later reads: if the
        database can't take them, that is logged, and the next request reads them again."""
        customer.channel_members = " ".join(facts.members)
        customer.channel_ext_shared = facts.ext_shared
        customer.channel_read_at = facts.read_at
        try:
            await self._store.keep_channel_facts(customer.id, facts)
        except (SQLAlchemyError, OSError):
            logger.warning("the channel's facts not kept: the database failed", exc_info=True)

    async def read_facts(self, customer: Customer, at: datetime) -> ChannelFacts | None:
        """The channel's facts from Slack now (asked at `at`); None if Slack won't list its
        members (and whether it is shared None if Slack won't say)."""
        members, info = await together(
            self._directory.members_of(customer.channel_id),
            self._directory.channel_info(customer.channel_id),
        )
        if members is None:
            return None
        return ChannelFacts(tuple(members), None if info is None else info.ext_shared, at)

    async def channel(
        self,
        customer: Customer,
        *,
        members: Sequence[Member] | None = None,
        facts: ChannelFacts | None = None,
    ) -> Channel:
        """The facts of the customer's channel that roles are decided from. `members` are
        the customer's member rows (at least those whose role the settings set), and
        `facts` the channel's (`facts`), when the caller has them."""
        if members is None:
            members = await self._store.list_members(customer.id)
        mixed = await self._mixed(customer, facts or await self.facts(customer))
        return channel_of(customer, members, mixed=mixed)

    async def _mixed(self, customer: Customer, facts: ChannelFacts | None) -> bool:
        """Whether the channel has people of another organisation or guests. A channel
        shared with another organisation is mixed whoever is in it, so its people are
        looked at only when it is not (a guest, or a person of another organisation, would
        make it mixed). Without its members (Slack won't list them), only its sharing
        counts."""
        if facts is None:
            info = await self._directory.channel_info(customer.channel_id)
            return info is not None and info.ext_shared
        if facts.ext_shared:
            return True
        people = await self._directory.people_among(facts.members)
        users = await self._directory.users(people)
        return channel_is_mixed(
            ext_shared=False,
            people=[u for u in users.values() if u is not None],
            install_team=customer.team_id,
        )

    async def role_of(
        self, customer: Customer, user_id: str, *, members: Sequence[Member] | None = None
    ) -> Role:
        """The person's role in the customer's channel, recorded on their member row (no
        write when it is what is stored). Only the rows that decide it are read (unless the
        caller has just read them as `members`): the roles the settings set, and theirs."""
        if members is None:
            members = await self._store.role_members(customer.id, user_id)
        user = await self._directory.user(user_id)
        # Whether the channel is mixed only tells a full member of the installing workspace
        # an onboarder (or staff): for anyone else the channel's people needn't be read.
        role, source = channel_of(customer, members, mixed=False).role(user_id, user)
        if channel_of(customer, members, mixed=True).role(user_id, user) != (role, source):
            channel = await self.channel(customer, members=members)
            role, source = channel.role(user_id, user)
        stored = next((m for m in members if m.slack_user_id == user_id), None)
        if stored is None or (stored.role, stored.role_source) != (role.value, source.value):
            await self._store.record_role(customer.id, user_id, role.value, source.value)
        return role

    async def refusal(self, customer: Customer, user_id: str, act: Act) -> Refusal | None:
        """None when the person may do `act` in this channel; else who can."""
        return refusal_of(await self.role_of(customer, user_id), act, customer)

    async def has_home(self, customer: Customer, user_id: str) -> bool:
        """People of another organisation have no App Home for this app (Slack gives them
        none); a member of the installing workspace has one."""
        user = await self._directory.user(user_id)
        return user is not None and user.team_id == customer.team_id

    async def staff_in(
        self,
        customer: Customer,
        *,
        known_people: Collection[str] = (),
        members: Sequence[Member] | None = None,
        facts: ChannelFacts | None = None,
    ) -> list[str] | None:
        """The channel's people who are the customer's (owner and staff: no onboarders, no
        bots), in channel order; None when Slack won't list the channel. `members` are the
        customer's member rows and `facts` the channel's, when the caller has them (else
        `facts`: as kept, or from Slack).

        Members in `known_people` are taken as the customer's people without asking Slack
        about them: callers pass those they leave out of what they show anyway (the staff
        with a calendar connected, when naming those without one), so an onboarder among
        them does no harm, and a process's first digest run asks Slack about a channel's
        few others, not about everyone in it."""
        facts = facts or await self.facts(customer)
        if facts is None:
            return None
        people, channel = await together(
            self._directory.people_among(facts.members, known_people=known_people),
            self.channel(customer, members=members, facts=facts),
        )
        users = await self._directory.users([p for p in people if p not in known_people])
        return [
            person
            for person in people
            if person in known_people
            or channel.role(person, users[person])[0] is not Role.ONBOARDER
        ]

    async def set_role(self, customer: Customer, user_id: str, role: Role, *, by: str) -> None:
        """`settings owner|onboarder|staff @user`: fixed whatever Slack says. One owner a
        channel: a new owner replaces the old one, who becomes staff."""
        if role is Role.OWNER:
            await self._store.set_owner(customer.id, user_id, by=by)
        else:
            if customer.owner_user_id == user_id:
                await self._store.set_owner(customer.id, None, by=by)
            await self._store.set_member_role(customer.id, user_id, role.value, by=by)

    async def primary_connected_by(self, customer: Customer, user_id: str) -> bool:
        """The primary calendar was connected by `user_id`: the first person of the customer
        to do so becomes its owner (True when they did)."""
        if customer.owner_user_id is not None:
            return False
        if await self.role_of(customer, user_id) is Role.ONBOARDER:
            return False  # an onboarder helping out is not the business's owner
        return await self._store.claim_owner(customer.id, user_id)
