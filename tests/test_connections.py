"""Pure pieces of the connect flow."""

from __future__ import annotations

import pytest

from bot.calendar.port import CALENDARS_READONLY, EVENTS_OWNED, FREEBUSY
from bot.connections import looks_personal, owner_key, scopes_for, state_digest
from storage.models import ConnectionKind


@pytest.mark.parametrize(
    "email",
    [
        "info@acme.com",
        "bookings@acme.com",
        "booking@acme.com",
        "scheduling@acme.com",
        "acme.bookings@gmail.com",
        "studio-calendar@acme.com",
        "Info@Acme.com",
        "hello@acme.com",
    ],
)
def test_shared_mailboxes_do_not_look_personal(email: str) -> None:
    assert not looks_personal(email)


@pytest.mark.parametrize(
    "email", ["olivia.smith@gmail.com", "john@acme.com", "j.doe+cal@acme.com", "marketa@acme.com"]
)
def test_personal_addresses_look_personal(email: str) -> None:
    assert looks_personal(email)


def test_least_scopes_per_kind() -> None:
    assert scopes_for(ConnectionKind.STAFF) == (FREEBUSY, CALENDARS_READONLY)
    assert scopes_for(ConnectionKind.PRIMARY) == (FREEBUSY, CALENDARS_READONLY, EVENTS_OWNED)


def test_slots() -> None:
    assert owner_key(ConnectionKind.PRIMARY, "U1") == "primary"
    assert owner_key(ConnectionKind.STAFF, "U1") == "U1"


def test_the_state_is_stored_only_as_a_digest() -> None:
    digest = state_digest("abc")
    assert len(digest) == 64 and "abc" not in digest
