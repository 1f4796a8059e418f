"""Requests from Slack already taken on (`handled_requests`): Slack redelivers an event it
thinks was lost (https://api.slack.com/apis/connections/events-api#retries), with the same
`event_id`, to whichever instance; the first to claim it answers it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from storage.models import HandledRequest, utcnow
from storage.repositories.base import Repository

KEPT = timedelta(hours=2)
"""Slack's last retry comes about 5 minutes after the first delivery: two hours is plenty."""


class RequestRepository(Repository):
    async def first_delivery(self, key: str, now: datetime | None = None) -> bool:
        """True for the first claim of `key`, False for every later one (anywhere)."""
        now = now or utcnow()
        try:
            async with self._sessions.begin() as session:
                await session.execute(delete(HandledRequest).where(HandledRequest.at < now - KEPT))
                session.add(HandledRequest(key=key, at=now))
        except IntegrityError:
            return False
        return True
