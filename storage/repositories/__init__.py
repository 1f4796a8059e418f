"""Repositories: every query the bot makes, one short transaction each.

One module per aggregate, each owning its tables' queries:

- `customers`: customers and members, and where the bot may post (a channel's problem, a
  workspace's posting pause); also `roster`/`rosters`, a customer's people read together.
- `oauth`: the single-use OAuth states of the connect flow.
- `connections`: calendar connections, their health checks' leases and outcomes, and the
  events those record with the notices (alerts) they post.
- `bookings`: bookings, the claim a booking of one person is made under, and how much
  each person has been booked (`booking_loads`, to choose fairly).
- `timeoff`: people's time off, whole local days.
- `digests`: `DigestStore`, the daily digests' settings, candidates and claims.
- `base`: the session factory they share and the query builders more than one uses.

`Store` (in `store`) is all of them but `digests` at once, over one session factory.

Races between instances are settled by the database: inserts that may collide rely
on the unique constraints and re-read on `IntegrityError`; the single-use OAuth state
is claimed with one conditional UPDATE, and a day's digest with one upsert, so exactly
one caller wins each.
"""

from storage.repositories.bookings import BookingLoad, BookingRepository, BookingTransaction
from storage.repositories.connections import (
    RECONNECTED,
    CheckOutcome,
    ConnectionRepository,
    NewConnection,
    PersonsPlace,
    RecordedChecks,
    RefreshedTokens,
)
from storage.repositories.customers import (
    Arrival,
    ChannelFacts,
    CustomerRepository,
    Roster,
    connected_staff,
)
from storage.repositories.digests import DigestStore
from storage.repositories.oauth import OAuthStateRepository
from storage.repositories.store import Store
from storage.repositories.timeoff import TimeOffRepository

__all__ = [
    "RECONNECTED",
    "Arrival",
    "BookingLoad",
    "BookingRepository",
    "BookingTransaction",
    "ChannelFacts",
    "CheckOutcome",
    "ConnectionRepository",
    "CustomerRepository",
    "DigestStore",
    "NewConnection",
    "OAuthStateRepository",
    "PersonsPlace",
    "RecordedChecks",
    "RefreshedTokens",
    "Roster",
    "Store",
    "TimeOffRepository",
    "connected_staff",
]
