"""Alembic environment: migrations run on the connection the app hands over.

From the command line (`alembic upgrade head`, `alembic revision --autogenerate`) it
connects with `DATABASE_URL` itself.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from storage.models import Base

target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_environment() -> None:
    from storage.db import create_engine

    engine = create_engine(os.environ.get("DATABASE_URL", "sqlite:///tonomo.db"))
    async with engine.begin() as connection:
        await connection.run_sync(run_on)
    await engine.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    run_on(given)
else:
    asyncio.run(run_from_environment())
