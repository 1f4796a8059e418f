"""Tokens at rest: a `TokenSet` sealed with Fernet before it reaches the database."""

from __future__ import annotations

import json
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken

from bot.calendar.port import TokenSet


class TokenCipher:
    """Encrypts token sets and PKCE verifiers with the deployment's `TOKEN_ENCRYPTION_KEY`."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    def seal_tokens(self, tokens: TokenSet) -> bytes:
        payload = {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expiry": tokens.expiry.isoformat() if tokens.expiry else None,
            "scopes": list(tokens.scopes),
        }
        return self._fernet.encrypt(json.dumps(payload).encode())

    def open_tokens(self, sealed: bytes) -> TokenSet:
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
