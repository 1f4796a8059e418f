"""Tokens at rest: a `TokenSet` sealed with Fernet before it reaches the database.

`TOKEN_ENCRYPTION_KEY` may hold several keys, comma-separated, newest first: the newest
seals, any of them opens (`MultiFernet`). Rotating is adding a new key in front; whatever
is stored again (a refreshed token, a reconnect) is sealed with it, and start-up re-seals
the rest (`reseal_stored_secrets`), so the old key can be dropped after one restart. A key
list that opens none of the stored tokens is a wrong key, not a rotation: start-up stops.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.calendar.port import TokenSet
from bot.config import ConfigError
from storage.db import SEALED_COLUMNS, read_sealed, replace_sealed

logger = logging.getLogger(__name__)


OPENED_KEPT = 4096
"""Token sets kept opened, by their sealed bytes (`TokenCipher.open_tokens`): more than
the calendars one instance reads in a round of answers."""


def fernet_keys(keys: str) -> list[str]:
    """The keys of a `TOKEN_ENCRYPTION_KEY` value, newest first."""
    return [key.strip() for key in keys.split(",") if key.strip()]


class TokenCipher:
    """Encrypts token sets and PKCE verifiers with the deployment's `TOKEN_ENCRYPTION_KEY`
    (one key, or several comma-separated, newest first)."""

    def __init__(self, keys: str) -> None:
        fernets = [Fernet(key.encode()) for key in fernet_keys(keys)]
        if not fernets:
            raise ValueError("TOKEN_ENCRYPTION_KEY holds no key")
        self._newest = fernets[0]
        self._fernet = MultiFernet(fernets)
        # The same sealed bytes always open to the same tokens (sealing anew, as a refresh
        # or a reconnect stores them, gives new bytes), so each is opened once and kept: an
        # answer for 50 staff opened 50 before its first Google call, every time it was asked.
        self.open_tokens: Callable[[bytes], TokenSet] = functools.lru_cache(maxsize=OPENED_KEPT)(
            self._open_tokens
        )

    def seal_tokens(self, tokens: TokenSet) -> bytes:
        payload = {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expiry": tokens.expiry.isoformat() if tokens.expiry else None,
            "scopes": list(tokens.scopes),
        }
        return self._fernet.encrypt(json.dumps(payload).encode())

    def _open_tokens(self, sealed: bytes) -> TokenSet:
        payload = json.loads(self.open_text(sealed))
        expiry = payload.get("expiry")
        return TokenSet(
            access_token=payload["access_token"],
            refresh_token=payload.get("refresh_token"),
            expiry=datetime.fromisoformat(expiry) if expiry else None,
            scopes=tuple(payload.get("scopes", ())),
        )

    def seal_text(self, text: str) -> bytes:
        return self._fernet.encrypt(text.encode())

    def open_text(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken as err:
            raise ValueError("stored secret cannot be decrypted with TOKEN_ENCRYPTION_KEY") from err

    def reseal(self, sealed: bytes) -> bytes | None:
        """`sealed` sealed again with the newest key; None when it already is, and
        ValueError when no key opens it."""
        try:
            self._newest.decrypt(sealed)
        except InvalidToken:
            pass
        else:
            return None
        try:
            return self._fernet.rotate(sealed)
        except InvalidToken as err:
            raise ValueError("stored secret cannot be decrypted with TOKEN_ENCRYPTION_KEY") from err


@dataclass(frozen=True, kw_only=True)
class ResealReport:
    """What the start-up pass found among the stored secrets."""

    stored: int
    resealed: int
    unreadable: int


async def reseal_stored_secrets(engine: AsyncEngine, cipher: TokenCipher) -> ResealReport:
    """Re-seal with the newest key every stored secret an older key sealed.

    Raises `ConfigError` (one line naming TOKEN_ENCRYPTION_KEY) when calendar tokens are
    stored and no key opens any of them. Each row is replaced only if it still holds what
    was read, so a token refreshed meanwhile by another instance is never overwritten.
    """
    stored = resealed = unreadable = 0
    for table in SEALED_COLUMNS:
        rows = await read_sealed(engine, table)
        opened = 0
        for row_key, sealed in rows:
            try:
                fresh = cipher.reseal(sealed)
            except ValueError:
                continue
            opened += 1
            if fresh is not None and await replace_sealed(engine, table, row_key, sealed, fresh):
                resealed += 1
        if table.holds_tokens:
            if rows and not opened:
                raise ConfigError(
                    f"TOKEN_ENCRYPTION_KEY opens none of the {len(rows)} stored calendar "
                    "tokens: it must include the key they were sealed with (several keys are "
                    "comma-separated, newest first)."
                )
            stored += len(rows)
            unreadable += len(rows) - opened
    if unreadable:
        logger.warning(
            "%d of %d stored calendar tokens open with no key of TOKEN_ENCRYPTION_KEY; "
            "those connections need reconnecting",
            unreadable,
            stored,
        )
    if resealed:
        logger.info("re-sealed %d stored secrets with the newest TOKEN_ENCRYPTION_KEY", resealed)
    return ResealReport(stored=stored, resealed=resealed, unreadable=unreadable)
