"""OAuth states: the `oauth_states` table.

A state is single-use: it is claimed with one conditional UPDATE, so exactly one caller
wins it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update

from storage.models import OAuthState
from storage.repositories.base import Repository


class OAuthStateRepository(Repository):
    """`oauth_states`: the single-use states of the calendar connect flow."""

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
