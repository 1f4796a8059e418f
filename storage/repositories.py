"""Repositories: every query the bot makes, one short transaction each.

Races between instances are settled by the database: inserts that may collide rely
on the unique constraints and re-read on `IntegrityError`; the single-use OAuth state
is claimed with one conditional UPDATE, so exactly one caller wins it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import (
    CalendarConnection,
    ConnectionKind,
    ConnectionState,
    Customer,
    Member,
    OAuthState,
)


@dataclass(frozen=True, kw_only=True)
class NewConnection:
    customer_id: int
    kind: ConnectionKind
    owner_key: str
    slack_user_id: str
    account_email: str
    token_ciphertext: bytes
    scopes: str
    state: ConnectionState
    state_reason: str
    at: datetime


class Store:
    """The bot's storage, over an async session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def ping(self) -> None:
        async with self._sessions() as session:
            await session.execute(text("SELECT 1"))

    # --- customers and members -----------------------------------------------------

    async def find_customer(self, team_id: str, channel_id: str) -> Customer | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(Customer).where(
                    Customer.team_id == team_id, Customer.channel_id == channel_id
                )
            )

    async def get_customer(self, customer_id: int) -> Customer | None:
        async with self._sessions() as session:
            return await session.get(Customer, customer_id)

    async def add_customer(
        self, *, team_id: str, channel_id: str, timezone: str, registered_by: str
    ) -> Customer:
        """Register a channel; if another request registered it first, theirs is returned."""
        try:
            async with self._sessions.begin() as session:
                customer = Customer(
                    team_id=team_id,
                    channel_id=channel_id,
                    timezone=timezone,
                    registered_by=registered_by,
                )
                session.add(customer)
            return customer
        except IntegrityError:
            existing = await self.find_customer(team_id, channel_id)
            if existing is None:
                raise
            return existing

    async def remember_member(
        self, customer_id: int, slack_user_id: str, display_name: str
    ) -> None:
        async with self._sessions() as session:
            member = await session.scalar(
                select(Member).where(
                    Member.customer_id == customer_id, Member.slack_user_id == slack_user_id
                )
            )
            if member is not None:
                if display_name and member.display_name != display_name:
                    member.display_name = display_name
                    await session.commit()
                return
            session.add(
                Member(
                    customer_id=customer_id, slack_user_id=slack_user_id, display_name=display_name
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()  # a concurrent request remembered them first

    # --- OAuth states -------------------------------------------------------------

    async def add_oauth_state(self, state: OAuthState) -> None:
        async with self._sessions.begin() as session:
            session.add(state)

    async def find_oauth_state(self, digest: str) -> OAuthState | None:
        async with self._sessions() as session:
            return await session.get(OAuthState, digest)

    async def claim_oauth_state(self, digest: str, now: datetime) -> bool:
        """Mark an unused, unexpired state used; True for the one caller that did."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(OAuthState)
                .where(
                    OAuthState.digest == digest,
                    OAuthState.used_at.is_(None),
                    OAuthState.expires_at > now,
                )
                .values(used_at=now)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def forget_expired_oauth_states(self, before: datetime) -> int:
        async with self._sessions.begin() as session:
            result = await session.execute(delete(OAuthState).where(OAuthState.expires_at < before))
            return int(result.rowcount)  # type: ignore[attr-defined]

    # --- connections --------------------------------------------------------------

    async def find_connection(self, customer_id: int, owner_key: str) -> CalendarConnection | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(CalendarConnection).where(
                    CalendarConnection.customer_id == customer_id,
                    CalendarConnection.owner_key == owner_key,
                )
            )

    async def list_connections(self, customer_id: int) -> list[CalendarConnection]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(CalendarConnection)
                .where(CalendarConnection.customer_id == customer_id)
                .order_by(CalendarConnection.kind, CalendarConnection.connected_at)
            )
            return list(rows)

    async def save_connection(self, new: NewConnection) -> CalendarConnection:
        """Insert the connection of a slot, or replace the one it has (a reconnect)."""
        for _ in range(2):
            async with self._sessions() as session:
                row = await session.scalar(
                    select(CalendarConnection).where(
                        CalendarConnection.customer_id == new.customer_id,
                        CalendarConnection.owner_key == new.owner_key,
                    )
                )
                if row is None:
                    row = CalendarConnection(
                        customer_id=new.customer_id, kind=new.kind, owner_key=new.owner_key
                    )
                    session.add(row)
                row.slack_user_id = new.slack_user_id
                row.account_email = new.account_email
                row.token_ciphertext = new.token_ciphertext
                row.scopes = new.scopes
                row.state = new.state
                row.state_reason = new.state_reason
                row.connected_at = new.at
                row.updated_at = new.at
                try:
                    await session.commit()
                    return row
                except IntegrityError:
                    await session.rollback()  # a concurrent insert won the slot: update it
        raise RuntimeError("could not save the connection after a concurrent insert")

    async def delete_connection(self, connection_id: int) -> bool:
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(CalendarConnection).where(CalendarConnection.id == connection_id)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]
