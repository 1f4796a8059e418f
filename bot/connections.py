"""The connect flow: personal consent links, the callback, token storage, disconnecting.

A consent link carries a random `state`, stored only as its SHA-256 digest with the
PKCE verifier (encrypted), bound to the customer, the Slack user and the kind of
connection, good for ten minutes and claimed exactly once. The callback turns the
code into tokens, learns the account from `calendars/primary`, and stores the tokens
encrypted in the connection's slot, replacing an earlier connection of that slot.
Nothing stored changes unless the whole flow succeeds.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bot.calendar.port import (
    PRIMARY_SCOPES,
    STAFF_SCOPES,
    CalendarError,
    CalendarProvider,
    ConsentFailed,
    MissingPermission,
    TokenSet,
    missing_scopes_reason,
)
from bot.tokens import TokenCipher
from storage.models import (
    ConnectionKind,
    ConnectionState,
    Customer,
    OAuthState,
    utcnow,
)
from storage.repositories import NewConnection, Store

logger = logging.getLogger(__name__)

STATE_TTL = timedelta(minutes=10)
EXPIRED_STATES_KEPT = timedelta(days=1)
CLEANUP_EVERY = timedelta(minutes=15)

GENERIC_MAILBOXES = frozenset(
    {
        "admin", "appointments", "appointment", "book", "booking", "bookings", "calendar",
        "contact", "dispatch", "enquiries", "frontdesk", "hello", "info", "inquiries", "jobs",
        "mail", "media", "office", "operations", "ops", "orders", "photo", "photography",
        "photos", "reception", "sales", "schedule", "scheduler", "scheduling", "service",
        "shoots", "studio", "support", "team",
    }
)  # fmt: skip


def scopes_for(kind: ConnectionKind) -> tuple[str, ...]:
    """The least scopes each kind needs (CONTRACT: Google surface)."""
    return PRIMARY_SCOPES if kind is ConnectionKind.PRIMARY else STAFF_SCOPES


def owner_key(kind: ConnectionKind, slack_user_id: str) -> str:
    """The slot a connection fills: one primary per customer, one staff calendar per person."""
    return "primary" if kind is ConnectionKind.PRIMARY else slack_user_id


def looks_personal(email: str) -> bool:
    """True unless the mailbox name reads like a shared one (info@, bookings@, scheduling@…)."""
    local = email.split("@", 1)[0].lower()
    words = [w for w in re.split(r"[._+\-0-9]+", local) if w]
    return not any(w in GENERIC_MAILBOXES for w in words) and not any(
        local.startswith(g) for g in GENERIC_MAILBOXES if len(g) >= 4
    )


def account_matches_name(email: str, name: str | None) -> bool:
    """True when the address's mailbox carries a word of the person's name (alice.lens@ for
    Alice Lens); False when it doesn't, or the name is not known."""
    local = email.split("@", 1)[0].lower()
    words = re.findall(r"[^\W\d_]{3,}", (name or "").lower())
    return any(word in local for word in words)


def state_digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class Failure(enum.StrEnum):
    """Why a callback did not connect anything."""

    DENIED = "denied"
    GOOGLE_ERROR = "google_error"
    MISSING_STATE = "missing_state"
    UNKNOWN_STATE = "unknown_state"
    EXPIRED_STATE = "expired_state"
    USED_STATE = "used_state"
    MISSING_CODE = "missing_code"
    EXCHANGE_FAILED = "exchange_failed"
    ACCOUNT_UNREADABLE = "account_unreadable"
    PERMISSION_UNTICKED = "permission_unticked"


@dataclass(frozen=True, kw_only=True)
class Connected:
    """A completed connection, with what the person should hear about it."""

    customer: Customer
    kind: ConnectionKind
    slack_user_id: str
    account_email: str
    replaced_email: str | None
    was_broken: bool = False
    missing_scopes: tuple[str, ...] = field(default=())
    person_name: str | None = None
    """The Slack name of the person whose link it was, when Slack says (`with_person`)."""

    @property
    def looks_personal(self) -> bool:
        return self.kind is ConnectionKind.PRIMARY and looks_personal(self.account_email)

    @property
    def may_be_someone_elses(self) -> bool:
        """A staff calendar whose address doesn't look like its person's: a consent link
        forwarded to someone else connects that someone into the link owner's slot."""
        return self.kind is ConnectionKind.STAFF and not account_matches_name(
            self.account_email, self.person_name
        )

    def with_person(self, name: str | None) -> Connected:
        return replace(self, person_name=name or None)


@dataclass(frozen=True, kw_only=True)
class NotConnected:
    failure: Failure
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class Disconnected:
    account_email: str
    revoked_at_google: bool


@dataclass(frozen=True, kw_only=True)
class Reconnect:
    """The answer to a Reconnect click: a link, or why there is none."""

    kind: ConnectionKind | None
    """None when the connection no longer exists."""
    url: str | None = None
    owner: str | None = None
    """Set when someone else's staff calendar was clicked: whose it is."""


@dataclass(frozen=True, kw_only=True)
class Replacing:
    """The connected primary calendar that connecting another would replace."""

    connection_id: int
    account_email: str
    upcoming_bookings: int
    """Bookings from now on whose events it holds (they stay there)."""


class Connections:
    """Connect, complete, list and disconnect calendar connections."""

    def __init__(
        self,
        *,
        store: Store,
        calendar: CalendarProvider,
        cipher: TokenCipher,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._calendar = calendar
        self._cipher = cipher
        self._clock = clock
        self._last_cleanup = datetime.min.replace(tzinfo=UTC)

    async def consent_link(
        self, customer: Customer, slack_user_id: str, kind: ConnectionKind
    ) -> str:
        """A fresh, personal, single-use consent URL for this person and kind."""
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters: within PKCE's 43-128
        now = self._clock()
        if now - self._last_cleanup > CLEANUP_EVERY:
            # Expired states are kept a day, so a late click still hears "expired", then dropped.
            self._last_cleanup = now
            await self._store.forget_expired_oauth_states(now - EXPIRED_STATES_KEPT)
        await self._store.add_oauth_state(
            OAuthState(
                digest=state_digest(state),
                customer_id=customer.id,
                slack_user_id=slack_user_id,
                kind=kind,
                verifier_ciphertext=self._cipher.seal_text(verifier),
                created_at=now,
                expires_at=now + STATE_TTL,
            )
        )
        return self._calendar.consent_url(
            scopes=scopes_for(kind), state=state, code_verifier=verifier
        )

    async def complete(
        self, *, state: str | None, code: str | None, error: str | None
    ) -> Connected | NotConnected:
        """Finish a consent from Google's redirect. Changes nothing stored unless it connects."""
        if not state:
            return NotConnected(failure=Failure.MISSING_STATE)
        digest = state_digest(state)
        pending = await self._store.find_oauth_state(digest)
        now = self._clock()
        if pending is None:
            return NotConnected(failure=Failure.UNKNOWN_STATE)
        if not await self._store.claim_oauth_state(digest, now):
            expired = pending.used_at is None and pending.expires_at <= now
            return NotConnected(failure=Failure.EXPIRED_STATE if expired else Failure.USED_STATE)
        if error:
            failure = Failure.DENIED if error == "access_denied" else Failure.GOOGLE_ERROR
            return NotConnected(failure=failure, detail=error)
        if not code:
            return NotConnected(failure=Failure.MISSING_CODE)
        customer = await self._store.get_customer(pending.customer_id)
        if customer is None:  # the channel was removed meanwhile
            return NotConnected(failure=Failure.UNKNOWN_STATE)

        wanted = scopes_for(pending.kind)
        try:
            tokens = await self._calendar.exchange_code(
                code=code,
                code_verifier=self._cipher.open_text(pending.verifier_ciphertext),
                scopes=wanted,
            )
        except ConsentFailed as err:
            logger.info("code exchange failed for customer %s: %s", customer.id, err)
            return NotConnected(failure=Failure.EXCHANGE_FAILED)
        try:
            account, tokens = await self._calendar.fetch_account(tokens)
        except MissingPermission:
            await self._revoke_quietly(tokens)
            return NotConnected(failure=Failure.PERMISSION_UNTICKED)
        except CalendarError as err:
            logger.info("could not read the account for customer %s: %s", customer.id, err)
            await self._revoke_quietly(tokens)
            return NotConnected(failure=Failure.ACCOUNT_UNREADABLE)
        return await self._store_connection(customer, pending, account.email, tokens, wanted)

    async def _store_connection(
        self,
        customer: Customer,
        pending: OAuthState,
        email: str,
        tokens: TokenSet,
        wanted: tuple[str, ...],
    ) -> Connected:
        slot = owner_key(pending.kind, pending.slack_user_id)
        previous = await self._store.find_connection(customer.id, slot)
        if tokens.refresh_token is None and previous is not None:
            # Google sends no refresh token when it reuses an earlier grant: keep the stored one.
            kept = self._cipher.open_tokens(previous.token_ciphertext).refresh_token
            tokens = TokenSet(
                access_token=tokens.access_token,
                refresh_token=kept,
                expiry=tokens.expiry,
                scopes=tokens.scopes,
            )
        missing = tuple(s for s in wanted if s not in tokens.scopes)
        await self._store.save_connection(
            NewConnection(
                customer_id=customer.id,
                kind=pending.kind,
                owner_key=slot,
                slack_user_id=pending.slack_user_id,
                account_email=email,
                token_ciphertext=self._cipher.seal_tokens(tokens),
                scopes=" ".join(tokens.scopes),
                state=ConnectionState.MISSING_PERMISSION if missing else ConnectionState.CONNECTED,
                state_reason=missing_scopes_reason(missing) if missing else "",
                at=self._clock(),
            )
        )
        return Connected(
            customer=customer,
            kind=pending.kind,
            slack_user_id=pending.slack_user_id,
            account_email=email,
            replaced_email=previous.account_email
            if previous is not None and previous.account_email != email
            else None,
            was_broken=previous is not None and previous.state.is_broken,
            missing_scopes=missing,
        )

    async def reconnect_link(
        self, customer: Customer | None, connection_id: int, slack_user_id: str
    ) -> Reconnect:
        """A fresh consent link to reconnect one of `customer`'s connections, if this person
        may reconnect it.

        The connection is looked up within the customer the click came from: an id that
        belongs to another customer is as good as none. A staff calendar is reconnected
        only by its owner, because a staff member connects from their own Slack account;
        who may reconnect the primary calendar is `bot.people`'s to say, before this.
        """
        connection = await self._store.get_connection(connection_id)
        if customer is None or connection is None or connection.customer_id != customer.id:
            return Reconnect(kind=None)
        if connection.kind is ConnectionKind.STAFF and connection.owner_key != slack_user_id:
            return Reconnect(kind=connection.kind, owner=connection.owner_key)
        url = await self.consent_link(customer, slack_user_id, connection.kind)
        return Reconnect(kind=connection.kind, url=url)

    async def primary_to_replace(self, customer: Customer, now: datetime) -> Replacing | None:
        """The customer's primary calendar, when it works (or Google is only slow): connecting
        another would replace it, so the person confirms first. None when there is none, or
        it is broken (connecting again is then a reconnect)."""
        primary = await self._store.find_connection(customer.id, "primary")
        if primary is None or primary.state.is_broken:
            return None
        return Replacing(
            connection_id=primary.id,
            account_email=primary.account_email,
            upcoming_bookings=await self._store.count_upcoming_bookings(customer.id, now),
        )

    async def disconnect(
        self, customer: Customer, slack_user_id: str, kind: ConnectionKind
    ) -> Disconnected | None:
        """Remove the slot's connection and revoke its grant; None when there is none."""
        connection = await self._store.find_connection(customer.id, owner_key(kind, slack_user_id))
        if connection is None or not await self._store.delete_connection(connection.id):
            return None
        tokens = self._cipher.open_tokens(connection.token_ciphertext)
        revoked = await self._revoke_quietly(tokens)
        return Disconnected(account_email=connection.account_email, revoked_at_google=revoked)

    async def _revoke_quietly(self, tokens: TokenSet) -> bool:
        """Revoke the grant; False (logged) when Google could not be reached."""
        try:
            await self._calendar.revoke(tokens.refresh_token or tokens.access_token)
        except CalendarError as err:
            logger.warning("revocation failed: %s", err)
            return False
        return True
