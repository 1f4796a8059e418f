"""An onboarder's desk: every customer a person is a member of, with what the Home tab
shows of it, read together.

`desk_of` reads `customers`, `members`, `calendar_connections`, `connection_events`
(when each broken connection broke) and `digests` (when each digest last went): five
queries in one session, whatever the number of customers. Which of these customers the
person is the onboarder of is `bot.people`'s to decide, from Slack's facts; this only
reads what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, select

from storage.models import (
    CalendarConnection,
    ConnectionEvent,
    ConnectionState,
    Customer,
    Digest,
    Member,
)
from storage.repositories.base import Repository

BROKEN_STATES = (ConnectionState.NEEDS_RECONNECT, ConnectionState.MISSING_PERMISSION)


@dataclass(frozen=True)
class DeskFacts:
    """One customer of the person's, as stored (`Store.desk_of`)."""

    customer: Customer
    members: list[Member] = field(default_factory=list)
    """Every member row of the customer (roles set with `settings` are on them)."""
    connections: list[CalendarConnection] = field(default_factory=list)
    """Primary first, then staff, each kind in the order they connected."""
    broken_since: dict[int, datetime] = field(default_factory=dict)
    """Per broken connection (by id): when it went into the state it is in."""
    digest_sent_at: datetime | None = None
    """When the customer's digest last went; None when it never has."""


class DeskRepository(Repository):
    """The desk's reads across `customers`, `members`, connections, events and digests."""

    async def desk_of(self, team_id: str, slack_user_id: str) -> list[DeskFacts]:
        """Every customer of the workspace where the person is a member, oldest first."""
        theirs = (
            select(Member.customer_id)
            .join(Customer, Customer.id == Member.customer_id)
            .where(Customer.team_id == team_id, Member.slack_user_id == slack_user_id)
            .scalar_subquery()
        )
        async with self._sessions() as session:
            customers = list(
                await session.scalars(
                    select(Customer).where(Customer.id.in_(theirs)).order_by(Customer.id)
                )
            )
            if not customers:
                return []
            desk = {c.id: DeskFacts(c) for c in customers}
            for member in await session.scalars(
                select(Member).where(Member.customer_id.in_(theirs)).order_by(Member.id)
            ):
                desk[member.customer_id].members.append(member)
            for connection in await session.scalars(
                select(CalendarConnection)
                .where(CalendarConnection.customer_id.in_(theirs))
                .order_by(CalendarConnection.kind, CalendarConnection.connected_at)
            ):
                desk[connection.customer_id].connections.append(connection)
            # The last change into the state a broken connection is in now, made since it
            # was (re)connected; a connection saved already broken has none: its connect time.
            broke = await session.execute(
                select(CalendarConnection.customer_id, ConnectionEvent.connection_id)
                .add_columns(func.max(ConnectionEvent.at))
                .join(
                    ConnectionEvent,
                    and_(
                        ConnectionEvent.connection_id == CalendarConnection.id,
                        ConnectionEvent.to_state == CalendarConnection.state,
                        ConnectionEvent.at >= CalendarConnection.connected_at,
                    ),
                )
                .where(
                    CalendarConnection.customer_id.in_(theirs),
                    CalendarConnection.state.in_(BROKEN_STATES),
                )
                .group_by(CalendarConnection.customer_id, ConnectionEvent.connection_id)
            )
            for customer_id, connection_id, at in broke:
                desk[customer_id].broken_since[connection_id] = at
            for facts in desk.values():
                for connection in facts.connections:
                    if connection.state.is_broken:
                        facts.broken_since.setdefault(connection.id, connection.connected_at)
            sent = await session.execute(
                select(Digest.customer_id, func.max(Digest.sent_at))
                .where(Digest.customer_id.in_(theirs), Digest.sent_at.is_not(None))
                .group_by(Digest.customer_id)
            )
            last_sent = {customer_id: at for customer_id, at in sent if at is not None}
        return [
            DeskFacts(
                f.customer,
                f.members,
                f.connections,
                f.broken_since,
                last_sent.get(f.customer.id),
            )
            for f in desk.values()
        ]
