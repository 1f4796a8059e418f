"""How soon `/tonomo status` for 200 staff is answered, Google slow, beside the floor.

    python -m bench.status_answer [--staff 200] [--rounds 20] [--warmup 2] [--latency 0.15]
        [--database-url postgresql://…] [--json FILE]

The issue's target: `status` for 200 staff, with the Google emulator answering each call
in 150 ms, within 1.3 × the floor of the same calls (`bench.floor_client`: a bare asyncio
client checking every connection at once, one `calendars/primary` call each, after a
token refresh with expired tokens), and never more than 1.3 × the round trips where the
floor is below them; its results written in one transaction.

The same benchmark as `bench.availability_answer` (its processes, connect flow, scenarios,
floor, split and report), asking `/tonomo status` instead: every connection is checked
live, the owner's primary calendar's and each staff member's, so the floor calls each of
those accounts. Every answer must say that all of them work (`201 of 201 calendar
connection(s) working.` for 200 staff) and count the staff's, and the database must show
every connection checked since the command was sent, within `RECORDED_WITHIN` of the
answer (the bot records the checks once it has answered); on PostgreSQL, their rows must
all have been last written by one transaction (one `xmin`). Each timed answer must have made
one `calendars/primary` call per connection (and one refresh each with expired tokens).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.availability_answer import Asked, Question, run
from bench.floor_client import CALENDAR_PATH, Call
from sandbox.fake_slack import text_of
from storage.db import async_url
from storage.models import CalendarConnection

RECORDED_WITHIN = 5.0
"""Seconds after an answer by which its checks must be recorded."""


async def status_check(asked: Asked) -> list[str]:
    """Every connection said to work, and checked (and recorded) since the command."""
    connections = asked.staff + 1
    shown = text_of(asked.message)
    problems = []
    for wanted in (
        f"{connections} of {connections} calendar connection(s) working.",
        f"*Staff calendars* ({asked.staff})",
    ):
        if wanted not in shown:
            problems.append(f"the answer lacks {wanted!r}: {shown[:200]!r}")
    since = datetime.fromtimestamp(asked.sent_at, UTC)
    url = asked.processes.database_url
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as connection:
            deadline = time.monotonic() + RECORDED_WITHIN
            while True:
                checked = await connection.scalar(
                    select(func.count())
                    .select_from(CalendarConnection)
                    .where(CalendarConnection.last_checked_at >= since)
                )
                await connection.rollback()  # the next look sees what was committed since
                if checked == connections or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.01)
            if checked != connections:
                problems.append(f"{checked} of {connections} connections recorded as checked")
            if url.startswith("postgresql"):
                writers = await connection.scalar(
                    text("SELECT count(DISTINCT xmin::text) FROM calendar_connections")
                )
                if writers != 1:
                    problems.append(
                        f"the connections' rows were last written by {writers} transactions"
                    )
    finally:
        await engine.dispose()
    return problems


STATUS = Question(
    name="status",
    text="status",
    call=Call("GET", CALENDAR_PATH),
    with_primary=True,
    check=status_check,
    default_staff=(200,),
)


def main(argv: Sequence[str] | None = None) -> int:
    return run(STATUS, argv, "bench.status_answer")


if __name__ == "__main__":
    sys.exit(main())
