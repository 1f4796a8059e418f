"""`/tonomo digest on | off | now | at HH:MM`."""

from __future__ import annotations

from bot import commands
from bot.customers import clock_of
from bot.messages import Message
from bot.messages.settings import build_digest_set
from bot.services import Services
from handlers.clicks import Reply
from storage.models import Customer


async def digest_command(
    services: Services, customer: Customer, asked: commands.DigestSetting, reply: Reply
) -> None:
    if asked.action == "now":
        if not await services.digests.post_now(customer):
            await reply(
                Message.text_only(
                    "I couldn't post the digest in this channel: see `/tonomo status` for why."
                )
            )
        return
    enabled = asked.action != "off"
    at = f"{asked.at:%H:%M}" if asked.at is not None else None
    await services.digest_store.set_schedule(customer.id, enabled=enabled, at=at)
    updated = await services.store.get_customer(customer.id) or customer
    await reply(build_digest_set(updated, clock_of(updated)))
    await services.onboarding.refresh(updated)  # "the daily digest is on" is a checklist step
