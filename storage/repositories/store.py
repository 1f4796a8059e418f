"""`Store`: the one storage object the bot uses, every aggregate's repository at once."""

from __future__ import annotations

from sqlalchemy import text

from storage.repositories.bookings import BookingRepository
from storage.repositories.connections import ConnectionRepository
from storage.repositories.customers import CustomerRepository
from storage.repositories.desk import DeskRepository
from storage.repositories.oauth import OAuthStateRepository
from storage.repositories.people import PeopleRepository
from storage.repositories.requests import RequestRepository
from storage.repositories.timeoff import TimeOffRepository


class Store(
    CustomerRepository,
    PeopleRepository,
    OAuthStateRepository,
    ConnectionRepository,
    BookingRepository,
    RequestRepository,
    DeskRepository,
    TimeOffRepository,
):
    """The bot's storage, over an async session factory."""

    async def ping(self) -> None:
        async with self._sessions() as session:
            await session.execute(text("SELECT 1"))
