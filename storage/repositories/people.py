"""Who is who in a customer's channel: the customer's owner (`customers.owner_user_id`)
and each member's role (`members.role`, `role_source`, `role_set_by`). What the roles mean
and how they are decided is `bot.people`'s; this stores the decisions.
"""

from __future__ import annotations

from sqlalchemy import Select, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Customer, Member
from storage.repositories.base import Repository

SETTINGS = "settings"
PRIMARY = "primary"


def role_members_of(customer_id: int, slack_user_id: str) -> Select[Member]:
    """The member rows a person's role is decided from: the roles the settings set, and
    their own row (not a large team's every row)."""
    return (
        select(Member)
        .where(
            Member.customer_id == customer_id,
            or_(Member.role_source == SETTINGS, Member.slack_user_id == slack_user_id),
        )
        .order_by(Member.id)
    )


class PeopleRepository(Repository):
    """`customers.owner_*` and `members.role*`."""

    async def record_role(
        self, customer_id: int, slack_user_id: str, role: str, source: str
    ) -> None:
        """Keep the role decided for a person (no write when it is what is stored)."""
        async with self._sessions() as session:
            member = await _member(session, customer_id, slack_user_id)
            if member is None:
                session.add(
                    Member(
                        customer_id=customer_id,
                        slack_user_id=slack_user_id,
                        role=role,
                        role_source=source,
                    )
                )
            elif (member.role, member.role_source) != (role, source):
                member.role, member.role_source = role, source
            else:
                return
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()  # a concurrent request added them first: theirs stands

    async def role_members(self, customer_id: int, slack_user_id: str) -> list[Member]:
        """The member rows a person's role is decided from (`role_members_of`)."""
        async with self._sessions() as session:
            return list(await session.scalars(role_members_of(customer_id, slack_user_id)))

    async def set_member_role(
        self, customer_id: int, slack_user_id: str, role: str, *, by: str
    ) -> None:
        """`settings onboarder|staff @user`: kept whatever Slack says from now on."""
        async with self._sessions.begin() as session:
            member = await _member(session, customer_id, slack_user_id)
            if member is None:
                member = Member(customer_id=customer_id, slack_user_id=slack_user_id)
                session.add(member)
            member.role, member.role_source, member.role_set_by = role, SETTINGS, by

    async def set_owner(self, customer_id: int, slack_user_id: str | None, *, by: str) -> None:
        """`settings owner @user` (or, with None, no owner): one owner a channel, so the one
        before goes back to what Slack says of them."""
        async with self._sessions.begin() as session:
            customer = await session.get(Customer, customer_id, with_for_update=True)
            if customer is None:
                return
            before = customer.owner_user_id
            customer.owner_user_id, customer.owner_set_by = slack_user_id, by
            if before is not None and before != slack_user_id:
                await session.execute(
                    update(Member)
                    .where(Member.customer_id == customer_id, Member.slack_user_id == before)
                    .values(role="staff", role_source="slack", role_set_by=None)
                )
            if slack_user_id is not None:
                member = await _member(session, customer_id, slack_user_id)
                if member is None:
                    member = Member(customer_id=customer_id, slack_user_id=slack_user_id)
                    session.add(member)
                member.role, member.role_source, member.role_set_by = "owner", SETTINGS, by

    async def claim_owner(self, customer_id: int, slack_user_id: str) -> bool:
        """The first person to connect the primary calendar becomes the owner, if the
        customer has none yet (one conditional update: of two at once, one wins)."""
        async with self._sessions.begin() as session:
            claimed = await session.execute(
                update(Customer)
                .where(Customer.id == customer_id, Customer.owner_user_id.is_(None))
                .values(owner_user_id=slack_user_id, owner_set_by=PRIMARY)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return False
        await self.record_role(customer_id, slack_user_id, "owner", PRIMARY)
        return True


async def _member(session: AsyncSession, customer_id: int, slack_user_id: str) -> Member | None:
    return await session.scalar(
        select(Member).where(
            Member.customer_id == customer_id, Member.slack_user_id == slack_user_id
        )
    )
