"""What the Slack and Google emulators share: serving, request recording, fault injection.

Both emulators are `Emulator`s: an aiohttp application served on loopback. `instrument(app)`
adds a middleware that records every request in a `RequestLog` and, before the real
handler runs, applies the first matching `Fault`: added latency, a canned error response,
or both. Each emulator builds its own service-shaped error bodies and hands them to
`Faults.add`. `database_down` takes the bot's own database away, for the tests and
benchmarks of what the bot does meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float
    peer: str = ""
    """The client's end of the connection that carried it (`host:port`)."""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


class RequestLog:
    """Every request an emulator received, oldest first."""

    def __init__(self) -> None:
        self._items: list[RecordedRequest] = []

    def append(self, item: RecordedRequest) -> None:
        self._items.append(item)

    def clear(self) -> None:
        self._items.clear()

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def matching(self, path_pattern: str, method: str | None = None) -> list[RecordedRequest]:
        """Requests whose path matches the regular expression (searched, not anchored)."""
        rx = re.compile(path_pattern)
        return [
            r
            for r in self._items
            if rx.search(r.path) and (method is None or r.method == method.upper())
        ]


@dataclass
class Fault:
    """What to do to requests whose path matches `path_pattern`.

    `times` is how many requests it still applies to (None: until cleared).
    With `status` None, only `latency` is added and the real handler answers.
    """

    path_pattern: str
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    latency: float = 0.0
    times: int | None = None
    method: str | None = None
    body_contains: str | None = None
    """Only requests whose body holds this text (a channel's id, say)."""

    def matches(self, request: web.Request, body: bytes = b"") -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method is not None and request.method != self.method.upper():
            return False
        if self.body_contains is not None and self.body_contains.encode() not in body:
            return False
        return re.search(self.path_pattern, request.path) is not None


class Faults:
    """The faults currently injected into one emulator, first match wins."""

    def __init__(self) -> None:
        self._items: list[Fault] = []
        self.latency = 0.0
        """Added to every request, on top of any fault's own latency."""

    def add(self, fault: Fault) -> Fault:
        self._items.append(fault)
        return fault

    def clear(self) -> None:
        self._items.clear()
        self.latency = 0.0

    def take(self, request: web.Request, body: bytes = b"") -> Fault | None:
        for fault in self._items:
            if fault.matches(request, body):
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None


LOG_KEY = web.AppKey("request_log", RequestLog)
FAULTS_KEY = web.AppKey("faults", Faults)


def instrument(app: web.Application, *, skip_path_prefixes: tuple[str, ...] = ()) -> None:
    """Record requests and apply faults on `app` (paths under the prefixes are left alone)."""
    log = RequestLog()
    faults = Faults()
    app[LOG_KEY] = log
    app[FAULTS_KEY] = faults

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(skip_path_prefixes):
            return await handler(request)
        body = await request.read()
        log.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=body,
                at=time.time(),
                peer=_peer(request),
            )
        )
        fault = faults.take(request, body)
        delay = faults.latency + (fault.latency if fault else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is not None and fault.status is not None:
            if isinstance(fault.body, (dict, list)):
                return web.json_response(fault.body, status=fault.status, headers=fault.headers)
            return web.Response(
                text="" if fault.body is None else str(fault.body),
                status=fault.status,
                headers=fault.headers,
            )
        return await handler(request)

    app.middlewares.append(middleware)


def _peer(request: web.Request) -> str:
    address = request.transport.get_extra_info("peername") if request.transport else None
    return f"{address[0]}:{address[1]}" if address else ""


LISTEN_BACKLOG = 1024
"""Pending connections an emulator accepts, as a real service's front end would."""


class Emulator:
    """An instrumented aiohttp application, served on loopback by `start`."""

    def __init__(self) -> None:
        self.app = web.Application()
        instrument(self.app)
        self.requests: RequestLog = self.app[LOG_KEY]
        self.faults: Faults = self.app[FAULTS_KEY]
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on `host:port` (port 0: a free one); `base_url` says where."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        # Google and Slack take bursts of hundreds of new connections; aiohttp's default
        # listen queue (128) would make the rest wait a second to retry their connect.
        await web.TCPSite(self._runner, host, port, backlog=LISTEN_BACKLOG).start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self._base_url = f"http://{bound_host}:{bound_port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def serve_until_stopped(
        self, host: str, port: int, *, name: str, listening: Callable[[], str]
    ) -> int:
        """Serve as a program until SIGINT or SIGTERM: 0, or 1 (with one line on stderr)
        when the port can't be had. `listening()` is the line printed once it serves.

        The handlers are our own, not Python's KeyboardInterrupt: a process started with
        SIGINT ignored (a shell's background job) must still stop on Ctrl-C's signal."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await self.start(host, port)
        except OSError as err:
            await self.stop()
            reason = os.strerror(err.errno) if err.errno else str(err)
            print(
                f"{name} could not listen on {host}:{port}: {reason} (try another --port)",
                file=sys.stderr,
                flush=True,
            )
            return 1
        print(listening(), flush=True)
        try:
            await stop.wait()
        finally:
            await self.stop()
        print(f"{name} stopped", flush=True)
        return 0

    async def drop_connections(self) -> None:
        """Close every client connection, as a server closes idle keep-alive ones; back
        once their sockets are closed (a client's next request then finds them closed)."""
        server = self._runner.server if self._runner is not None else None
        if server is None:
            return
        for connection in server.connections:
            connection.force_close()
        for _ in range(1000):  # closing takes a turn or two of the event loop
            if not server.connections:
                return
            await asyncio.sleep(0.001)
        raise RuntimeError("the emulator's connections did not close")

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._base_url


@contextlib.asynccontextmanager
async def database_down(
    engine: AsyncEngine, database_url: str, *, admin_url: str
) -> AsyncIterator[None]:
    """The bot's database out of reach until the block ends (the bot's pool is emptied
    first, so its next session has to connect anew).

    SQLite: the file (and its WAL files) moved away and a directory put in its place, so
    nothing opens there. PostgreSQL: the database refuses connections (`ALLOW_CONNECTIONS
    false`, through `admin_url`, a superuser's connection to another database) and its
    open sessions are ended.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(str(url.database))
        await engine.dispose()
        moved = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
        for p in moved:
            os.rename(p, f"{p}.away")
        os.mkdir(path)
        try:
            yield
        finally:
            os.rmdir(path)
            for p in moved:
                os.rename(f"{p}.away", p)
        return
    admin = await asyncpg.connect(
        make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await admin.execute(f'ALTER DATABASE "{url.database}" WITH ALLOW_CONNECTIONS false')
        await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            url.database,
        )
        await engine.dispose()
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{url.database}" WITH ALLOW_CONNECTIONS true')
        await admin.close()
