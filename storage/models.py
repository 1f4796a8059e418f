"""SQLAlchemy 2 typed models: customers, members, calendar connections, OAuth states.

Every timestamp is stored in UTC and read back timezone-aware (`UTCDateTime`), on
SQLite as on PostgreSQL. Uniqueness lives in the database: one customer per Slack
channel, one member per person per customer, one connection per slot (`owner_key`:
"primary", or the Slack user id of a staff member).
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC (SQLite keeps no offset of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class ConnectionKind(enum.StrEnum):
    PRIMARY = "primary"
    STAFF = "staff"


class ConnectionState(enum.StrEnum):
    CONNECTED = "connected"
    NEEDS_RECONNECT = "needs_reconnect"
    MISSING_PERMISSION = "missing_permission"
    UNREACHABLE = "unreachable"

    @property
    def is_broken(self) -> bool:
        """Broken until a person acts (reconnects); unreachable is Google's trouble, not theirs."""
        return self in (ConnectionState.NEEDS_RECONNECT, ConnectionState.MISSING_PERMISSION)


class Notice(enum.StrEnum):
    """What the channel is told about a state change."""

    NONE = "none"
    BROKEN = "broken"
    RECOVERED = "recovered"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    # Stored as plain strings (no native ENUM type), so a new value needs no ALTER TYPE.
    return Enum(
        cls, name=name, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e]
    )


class Customer(Base):
    """One customer: a Slack channel shared with its onboarder."""

    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("team_id", "channel_id", name="uq_customers_channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    timezone: Mapped[str] = mapped_column(String(64))
    registered_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    channel_problem: Mapped[str] = mapped_column(String(64), default="")
    """Slack's error when posting here last failed for good (not_in_channel, …); "" when fine."""
    channel_problem_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    work_start: Mapped[str] = mapped_column(String(5), default="09:00")
    """Working hours, wall-clock `HH:MM` in `timezone`, on `work_days` (digits, Monday is 0)."""
    work_end: Mapped[str] = mapped_column(String(5), default="17:00")
    work_days: Mapped[str] = mapped_column(String(7), default="01234")
    digest_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    digest_time: Mapped[str] = mapped_column(String(5), default="07:00")
    """When the daily digest is posted, wall-clock `HH:MM` in `timezone`, on working days."""
    checklist_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The onboarding checklist's message, updated in place as its steps get done."""
    availability_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """The first time anyone asked for availability here (a checklist step)."""
    owner_user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The business's owner: the first of its people to connect the primary calendar, or
    set with `settings owner`. None until then (everyone may then do what the owner may)."""
    owner_set_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """"primary" when connecting the primary calendar made them owner; else who set it."""
    clock: Mapped[str | None] = mapped_column(String(3), nullable=True)
    """How messages write times, "12h" or "24h" (`settings clock`); None: the timezone's
    country convention (`bot.customers.clock_of`)."""
    buffer_minutes: Mapped[int] = mapped_column(Integer, default=0)
    """Free time kept before and after each booking and busy block (`settings buffer`)."""
    notice_minutes: Mapped[int] = mapped_column(Integer, default=0)
    """The least lead time a booking needs: nothing starts sooner than this from now
    (`settings notice`)."""
    step_minutes: Mapped[int] = mapped_column(Integer, default=15)
    """The grid on which suggested and counted slots start (`settings step`)."""
    channel_members: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The channel's members as Slack last listed them for a digest (user ids, space
    separated), kept between digests (`bot.people.ChannelFacts`); None when not kept."""
    channel_ext_shared: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    """Whether Slack said then that the channel is shared with another organisation."""
    channel_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When Slack was asked for the kept facts (before the answer)."""
    channel_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When an event last said the channel's people or sharing changed: facts read
    before then are not kept."""

    members: Mapped[list[Member]] = relationship(
        back_populates="customer", cascade="all, delete-orphan"
    )
    connections: Mapped[list[CalendarConnection]] = relationship(
        back_populates="customer", cascade="all, delete-orphan"
    )


class Member(Base):
    """A person of a customer's channel who has used the bot."""

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("customer_id", "slack_user_id", name="uq_members_person"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    slack_user_id: Mapped[str] = mapped_column(String(32))
    display_name: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    work_start: Mapped[str | None] = mapped_column(String(5), nullable=True)
    """Their own working hours, when they differ from the customer's (all three set, or none)."""
    work_end: Mapped[str | None] = mapped_column(String(5), nullable=True)
    work_days: Mapped[str | None] = mapped_column(String(7), nullable=True)
    role: Mapped[str] = mapped_column(String(16), default="staff")
    """onboarder, owner or staff, as last decided (`bot.people`)."""
    role_source: Mapped[str] = mapped_column(String(16), default="slack")
    """How: "slack" (their workspace, guest flags, the channel's sharing), "primary" (the
    owner by connecting the primary calendar) or "settings" (set by `role_set_by`, and
    then kept whatever Slack says)."""
    role_set_by: Mapped[str | None] = mapped_column(String(32), nullable=True)

    customer: Mapped[Customer] = relationship(back_populates="members")


class CalendarConnection(Base):
    """A Google calendar connected for a customer, as its primary or a staff member's."""

    __tablename__ = "calendar_connections"
    __table_args__ = (UniqueConstraint("customer_id", "owner_key", name="uq_connections_slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[ConnectionKind] = mapped_column(_enum(ConnectionKind, "connection_kind"))
    owner_key: Mapped[str] = mapped_column(String(32))
    """"primary", or the Slack user id whose staff calendar this is."""
    slack_user_id: Mapped[str] = mapped_column(String(32))
    """Who connected it (for staff, always the staff member themself)."""
    account_email: Mapped[str] = mapped_column(String(320))
    token_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    scopes: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[ConnectionState] = mapped_column(
        _enum(ConnectionState, "connection_state"), default=ConnectionState.CONNECTED
    )
    state_reason: Mapped[str] = mapped_column(Text, default="")
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    check_failures: Mapped[int] = mapped_column(Integer, default=0)
    """Consecutive checks that Google could not answer (rate limits, 5xx, timeouts)."""
    check_claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """A periodic check holds this lease, so one instance checks it per round."""

    customer: Mapped[Customer] = relationship(back_populates="connections")

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class OAuthState(Base):
    """A single-use consent `state`, stored by its SHA-256 digest, with its PKCE verifier."""

    __tablename__ = "oauth_states"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    slack_user_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[ConnectionKind] = mapped_column(_enum(ConnectionKind, "connection_kind"))
    verifier_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConnectionEvent(Base):
    """A change of a connection's state, and the channel notice it calls for (an outbox row)."""

    __tablename__ = "connection_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("calendar_connections.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    from_state: Mapped[ConnectionState] = mapped_column(_enum(ConnectionState, "connection_state"))
    to_state: Mapped[ConnectionState] = mapped_column(_enum(ConnectionState, "connection_state"))
    reason: Mapped[str] = mapped_column(Text, default="")
    notice: Mapped[Notice] = mapped_column(_enum(Notice, "notice"), default=Notice.NONE)
    notice_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    notice_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    notice_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The alert message's ts, so the all-clear can update it in place."""


class SlackTeam(Base):
    """A Slack workspace whose tokens were revoked or that uninstalled the app: no posting."""

    __tablename__ = "slack_teams"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    posting_stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    posting_stopped_reason: Mapped[str] = mapped_column(String(64), default="")


class BookingStatus(enum.StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"


class Booking(Base):
    """A staff member booked by the bot: exactly one event on the customer's primary calendar.

    `request_key` names the Slack request that asked for it (a command's trigger, a clicked
    button's message and value), so a retried request or a double click finds this row
    instead of booking again; `event_id` is derived from it for the same reason at Google.
    `event_account` and `event_calendar` say where that event is: the primary calendar's
    account when it was booked. The primary may be replaced by another account later;
    cancelling acts on the event's own account, never on whichever is primary now.
    """

    __tablename__ = "bookings"
    __table_args__ = (
        UniqueConstraint("customer_id", "short_id", name="uq_bookings_short_id"),
        Index("ix_bookings_staff_time", "customer_id", "staff_user_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    short_id: Mapped[str] = mapped_column(String(8))
    request_key: Mapped[str] = mapped_column(String(64), unique=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    staff_user_id: Mapped[str] = mapped_column(String(32))
    staff_email: Mapped[str] = mapped_column(String(320))
    title: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    booked_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[BookingStatus] = mapped_column(
        _enum(BookingStatus, "booking_status"), default=BookingStatus.BOOKED
    )
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    event_account: Mapped[str] = mapped_column(String(320), default="")
    """The Google account whose calendar holds the event; "" when unknown (booked before
    this was kept, with no primary calendar connected to tell)."""
    event_calendar: Mapped[str] = mapped_column(String(320), default="primary")
    """That account's calendar holding the event (the bot books on its `primary`)."""
    message_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The booking's message in the channel, updated in place when it is cancelled."""


class BookingClaim(Base):
    """Who is booking one staff member right now: one booking of a person at a time, with
    no transaction open while it reads their calendar and writes its event at Google.

    A booking claims the person's row (`claimed_until` set, `holder` its own), works, then
    frees it (`claimed_until` None); a crashed booker's claim lapses at `claimed_until`.
    The row is kept once made: the short transaction that saves a booking locks it, which
    is what makes that transaction's check for overlapping bookings safe.
    """

    __tablename__ = "booking_claims"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    staff_user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Digest(Base):
    """A customer's daily digest for one local date: claimed before it is sent, so it is
    sent once however many instances run, and sent late rather than never."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("customer_id", "local_date", name="uq_digests_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """A sender holds it until then; a crashed sender's claim lapses and another sends it."""
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    message_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)


class HandledRequest(Base):
    """A request from Slack the bot has taken on (an event's id): a redelivery of it, on any
    instance, finds this row and is not answered again."""

    __tablename__ = "handled_requests"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class TimeOff(Base):
    """Whole local days a person is away (`timeoff`): not free then, whatever their calendar
    says.

    `first_day` and `last_day` are dates in the customer's timezone, both included, so the
    days stay the same days when the timezone's offset changes; readers turn them into
    instants in that zone. `request_key` names the Slack request that added it, so a retried
    request finds this row instead of adding another. Cancelled rows are kept, marked.
    """

    __tablename__ = "time_off"
    __table_args__ = (
        UniqueConstraint("customer_id", "short_id", name="uq_time_off_short_id"),
        Index("ix_time_off_customer_last_day", "customer_id", "last_day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    slack_user_id: Mapped[str] = mapped_column(String(32))
    """Who is away."""
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200), default="")
    short_id: Mapped[str] = mapped_column(String(8))
    """How people name it (`timeoff cancel ID`): unique among the customer's time off."""
    request_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
