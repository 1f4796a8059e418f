"""`settings buffer|notice|step`: how bookings are spaced, for the whole business."""

from __future__ import annotations

from datetime import timedelta

from bot import commands
from bot.messages.settings import build_scheduling_set
from bot.services import Services
from handlers.clicks import Reply
from storage.models import Customer


async def scheduling(
    services: Services, customer: Customer, asked: commands.SetScheduling, reply: Reply
) -> None:
    minutes = int(asked.duration / timedelta(minutes=1))
    await services.store.set_scheduling(customer.id, **{f"{asked.what}_minutes": minutes})
    await reply(build_scheduling_set(asked.what, minutes))
