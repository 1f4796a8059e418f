"""The text of a `/tonomo` command -> a typed command.

Pure: no Slack payloads, no I/O. Words are case-insensitive and extra spaces are
ignored. Anything that is not a command gets an `Invalid` that says what was wrong
and shows the right form; `parse` never raises.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from storage.models import ConnectionKind


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class ConnectCalendar:
    kind: ConnectionKind


@dataclass(frozen=True)
class Disconnect:
    kind: ConnectionKind


@dataclass(frozen=True)
class Status:
    pass


@dataclass(frozen=True)
class Invalid:
    """Not a command the bot can run: why, and the form to use instead."""

    problem: str
    usage: str | None = None


Command = Help | ConnectCalendar | Disconnect | Status | Invalid

USAGE = {
    "help": "/tonomo help",
    "connect-calendar": "/tonomo connect-calendar [primary]",
    "disconnect": "/tonomo disconnect [primary]",
    "status": "/tonomo status",
}

# Commands of the contract that this version does not run yet: they get an honest answer.
LATER = ("availability", "book", "cancel", "digest", "settings", "onboard")


def parse(text: str) -> Command:
    words = text.split()
    if not words:
        return Help()
    verb, args = words[0].lower(), [w.lower() for w in words[1:]]
    if verb == "help":
        return Help()
    if verb == "status":
        return Status() if not args else _extra(verb, args)
    if verb in ("connect-calendar", "disconnect"):
        kind = _kind(args)
        if kind is None:
            return _extra(verb, args)
        return ConnectCalendar(kind) if verb == "connect-calendar" else Disconnect(kind)
    if verb in LATER:
        return Invalid(problem=f"`{verb}` is not available in this version of the bot yet.")
    return _unknown(words[0])


def _kind(args: list[str]) -> ConnectionKind | None:
    if not args:
        return ConnectionKind.STAFF
    if args == ["primary"]:
        return ConnectionKind.PRIMARY
    return None


def _extra(verb: str, args: list[str]) -> Invalid:
    return Invalid(
        problem=f"`{verb}` doesn't take `{' '.join(args)}`.",
        usage=USAGE[verb],
    )


def _unknown(word: str) -> Invalid:
    shown = word if len(word) <= 40 else word[:40] + "…"
    close = difflib.get_close_matches(word.lower(), list(USAGE), n=1, cutoff=0.6)
    if close:
        return Invalid(problem=f"I don't know `{shown}`. Did you mean this?", usage=USAGE[close[0]])
    return Invalid(problem=f"I don't know `{shown}`.")
