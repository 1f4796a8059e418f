"""Pure Block Kit builders, one module per surface; plus the callback's HTML pages.

Every builder takes domain values and returns a `Message` (fallback `text` always set,
blocks built with slack_sdk's models so Slack's limits are checked as they are built).
User-supplied text is escaped with `escape` before it goes into mrkdwn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
