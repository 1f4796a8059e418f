"""`together`, `beside` and `Shared`: awaiting several things at once and leaving none running
behind, whether one fails or the caller is cancelled."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field

import pytest

from bot.together import Shared, beside, paced, together


@dataclass
class Piece:
    """A piece of work that, cancelled, takes a few turns of the loop to put things back
    (as a database session closing its connection does), and counts its interruptions."""

    answer: str
    works_for: float = 10.0
    fails: bool = False
    cancellations: int = 0
    tidied: bool = False
    over: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> str:
        try:
            await asyncio.sleep(self.works_for)
            if self.fails:
                raise LookupError(self.answer)
            return self.answer
        except asyncio.CancelledError:
            self.cancellations += 1
            try:
                for _ in range(5):
                    await asyncio.sleep(0)  # a second cancellation would land here
                self.tidied = True
            except asyncio.CancelledError:
                self.cancellations += 1
            raise
        finally:
            self.over.set()


class Quick:
    """A piece of work that stops at once when cancelled."""

    async def run(self) -> str:
        await asyncio.sleep(10)
        return "never"


async def test_together_answers_in_order() -> None:
    pieces = [Piece("a", works_for=0.02), Piece("b", works_for=0.0), Piece("c", works_for=0.01)]
    assert await together(*(p.run() for p in pieces)) == ("a", "b", "c")
    assert await together(Piece("x", works_for=0).run(), asyncio.sleep(0, 3)) == ("x", 3)


async def test_a_cancelled_caller_returns_only_once_everything_has_tidied_up() -> None:
    # `gather` would return once the quick one stopped, leaving the slow one tidying up.
    slow = Piece("slow")
    caller = asyncio.ensure_future(together(Quick().run(), slow.run()))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert slow.over.is_set() and slow.tidied, "nothing left running behind the caller"
    assert slow.cancellations == 1, "cancelled once, never interrupted while tidying up"


async def test_a_failure_is_raised_as_itself_once_the_others_have_stopped() -> None:
    failing, other = Piece("lost", works_for=0.01, fails=True), Piece("other")
    with pytest.raises(LookupError, match="lost"):
        await together(failing.run(), other.run())
    assert other.over.is_set() and other.tidied and other.cancellations == 1


async def test_beside_waits_for_the_second_when_the_first_fails_or_is_cancelled() -> None:
    first, second = Piece("first", works_for=0.01, fails=True), Piece("second")
    with pytest.raises(LookupError):
        await beside(first.run(), second.run())
    assert second.over.is_set() and second.tidied and second.cancellations == 1

    first, second = Piece("first"), Piece("second")
    caller = asyncio.ensure_future(beside(first.run(), second.run()))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    for piece in (first, second):
        assert piece.over.is_set() and piece.tidied and piece.cancellations == 1


async def test_beside_answers_both_and_raises_the_seconds_failure_after_the_first() -> None:
    assert await beside(Piece("a", works_for=0).run(), Piece("b", works_for=0).run()) == ("a", "b")
    assert await beside(Piece("a", works_for=0).run(), None) == ("a", None)
    first = Piece("first", works_for=0.02)
    with pytest.raises(LookupError, match="second"):
        await beside(first.run(), Piece("second", works_for=0, fails=True).run())
    assert first.over.is_set() and first.cancellations == 0, "the first was let finish"


async def test_paced_lets_each_batch_send_before_the_next_is_prepared() -> None:
    """Each call sends from a task of its own, as aiohttp on Python 3.11 writes a request's
    body: started all at once, nothing is sent before every call is set up."""
    log: list[str] = []

    async def call(n: int) -> int:
        log.append(f"set up {n}")

        async def send() -> None:
            log.append(f"sent {n}")

        await asyncio.create_task(send())
        return n * 10

    assert await paced((call(n) for n in range(6)), batch=2) == (0, 10, 20, 30, 40, 50)
    assert log.index("sent 0") < log.index("set up 2")
    assert log.index("sent 3") < log.index("set up 4")

    log.clear()
    await together(*(call(n) for n in range(6)))
    assert log.index("set up 5") < log.index("sent 0"), "what pacing is for"


async def test_paced_cancelled_while_starting_leaves_none_running() -> None:
    pieces = [Piece(str(n)) for n in range(10)]
    caller = asyncio.ensure_future(paced((p.run() for p in pieces), batch=3))
    await asyncio.sleep(0)  # the first batch started, the rest not yet
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    started = [p for p in pieces if p.over.is_set()]
    assert started and len(started) < len(pieces), "cut off part-way through starting"
    assert all(p.tidied and p.cancellations == 1 for p in started)


async def test_shared_starts_one_task_for_everyone_asking_at_once() -> None:
    shared: Shared[str, str] = Shared()
    started: list[str] = []

    async def ask(key: str) -> str:
        started.append(key)
        await asyncio.sleep(0.01)
        return key.upper()

    answers = await together(*(shared.get(k, functools.partial(ask, k)) for k in "aab"))
    assert answers == ("A", "A", "B") and sorted(started) == ["a", "b"]
    assert len(shared) == 0, "nothing kept once answered"
    assert await shared.get("a", lambda: ask("a")) == "A" and started.count("a") == 2


async def test_shared_goes_on_when_a_caller_stops_waiting_and_its_failure_reaches_all(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shared: Shared[str, str] = Shared()
    piece = Piece("gone", works_for=0.02, fails=True)
    impatient = asyncio.ensure_future(shared.get("k", piece.run))
    patient = asyncio.ensure_future(shared.get("k", Quick().run))
    await asyncio.sleep(0)
    impatient.cancel()
    with pytest.raises(LookupError, match="gone"):
        await patient
    assert piece.cancellations == 0, "the shared work went on"

    alone = Piece("nobody waits", works_for=0.01, fails=True)
    waiter = asyncio.ensure_future(shared.get("j", alone.run))
    await asyncio.sleep(0)
    waiter.cancel()
    await alone.over.wait()
    await asyncio.sleep(0)
    assert len(shared) == 0
    assert "never retrieved" not in caplog.text, "the failure was seen"


async def test_shared_cancel_stops_what_is_under_way_and_waits_for_it() -> None:
    shared: Shared[str, str] = Shared()
    piece = Piece("slow")
    waiter = asyncio.ensure_future(shared.get("k", piece.run))
    await asyncio.sleep(0.01)  # the piece at work
    await shared.cancel()
    assert piece.tidied and piece.cancellations == 1 and len(shared) == 0
    with pytest.raises(asyncio.CancelledError):
        await waiter
