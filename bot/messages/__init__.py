"""Pure Block Kit builders, one module per surface; plus the callback's HTML pages.

Every builder takes domain values and returns a `Message` (fallback `text` always set,
blocks built with slack_sdk's models so Slack's limits are checked as they are built).
User-supplied text is escaped with `escape` before it goes into mrkdwn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, text: str, *blocks: Block) -> Message:
        return cls(text=text, blocks=[b.to_dict() for b in blocks])

    @classmethod
    def text_only(cls, mrkdwn: str) -> Message:
        """A message of one mrkdwn section, its own fallback text."""
        return cls.of(mrkdwn, SectionBlock(text=MarkdownTextObject(text=mrkdwn)))


def escape(text: str) -> str:
    """Escape user text for mrkdwn: `&`, `<`, `>` (so a typed `<!channel>` pings no one)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(slack_user_id: str) -> str:
    return f"<@{slack_user_id}>"


SECTION_LIMIT = 3000
"""Characters of a section's text (Slack's limit)."""


def pack_lines(lines: list[str], limit: int = SECTION_LIMIT) -> list[str]:
    """Lines joined into as few texts as fit in `limit` characters each, in order.

    A line longer than `limit` on its own is cut, marked with an ellipsis.
    """
    texts: list[str] = []
    current = ""
    for line in lines:
        line = line if len(line) <= limit else line[: limit - 1] + "…"
        if current and len(current) + 1 + len(line) > limit:
            texts.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        texts.append(current)
    return texts


def format_day(day: date, today: date) -> str:
    """`today`, `tomorrow`, or `Tue 1 Dec` (with the year when it isn't this year's)."""
    if day == today:
        return f"today ({day:%a} {day.day} {day:%b})"
    if day == today + timedelta(days=1):
        return f"tomorrow ({day:%a} {day.day} {day:%b})"
    year = f" {day.year}" if day.year != today.year else ""
    return f"{day:%a} {day.day} {day:%b}{year}"
