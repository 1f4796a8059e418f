"""Sealed tokens: opened once for the same sealed bytes, whatever asks again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from unittest import mock

import pytest
from cryptography.fernet import Fernet

from bot.calendar.port import TokenSet
from bot.tokens import TokenCipher

TOKENS = TokenSet(
    access_token="ya29.access",
    refresh_token="1//refresh",
    expiry=datetime(2030, 6, 3, 9, tzinfo=UTC),
    scopes=("https://www.googleapis.com/auth/calendar.freebusy",),
)


def test_the_same_sealed_tokens_are_opened_once() -> None:
    cipher = TokenCipher(Fernet.generate_key().decode())
    sealed = cipher.seal_tokens(TOKENS)
    refreshed = cipher.seal_tokens(replace(TOKENS, access_token="ya29.new"))

    with mock.patch.object(cipher._fernet, "decrypt", wraps=cipher._fernet.decrypt) as decrypt:
        opened = [cipher.open_tokens(s) for s in (sealed, sealed, refreshed, sealed)]

    assert decrypt.call_count == 2, "once for each sealed value"
    assert opened[0] == opened[1] == opened[3] == TOKENS
    assert opened[2].access_token == "ya29.new"
    # Sealed again (a reconnect with the same tokens): new bytes, opened on their own.
    assert cipher.open_tokens(cipher.seal_tokens(TOKENS)) == TOKENS


def test_tokens_no_key_opens_are_refused_every_time() -> None:
    sealed = TokenCipher(Fernet.generate_key().decode()).seal_tokens(TOKENS)
    cipher = TokenCipher(Fernet.generate_key().decode())

    for _ in range(2):
        with pytest.raises(ValueError, match="TOKEN_ENCRYPTION_KEY"):
            cipher.open_tokens(sealed)
