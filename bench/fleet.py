"""The processes of a benchmark: the emulators, the bot and the framework's floor.

Each runs alone on loopback, with its output in a log file, and is found ready by polling
its `/healthz`. `start_fleet` registers every process it starts on an `ExitStack`, which
stops them all (SIGTERM, then SIGKILL) however the benchmark ends. The bot is started as
a deployment starts it, `python app.py` configured from the environment, from the
benchmark's temporary directory (so no developer's .env is read), with SQLite there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import aiohttp
from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
BOT_TOKEN = "xoxb-bench-token"  # noqa: S105 - the emulators' own credentials guard nothing
SIGNING_SECRET = "bench-signing-secret"  # noqa: S105
CLIENT_ID = "tonomo-bench.apps.googleusercontent.com"
CLIENT_SECRET = "tonomo-bench-secret"  # noqa: S105
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
# What the bot's process does with Python's cyclic garbage collector after its imports,
# to see what the collector's pauses cost; "on" runs app.py untouched.
BOT_GC_MODES = {"on": "", "freeze": "gc.collect(); gc.freeze()", "off": "gc.disable()"}


# --- the processes ----------------------------------------------------------------------


@dataclass
class Child:
    """A process this benchmark started, with its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    health_url: str

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Ports:
    slack: int
    google: int
    control: int
    bot: int
    floor: int


@dataclass(frozen=True)
class Fleet:
    emulators: Child
    floor: Child
    bot: Child
    ports: Ports

    @property
    def control_url(self) -> str:
        return f"http://{HOST}:{self.ports.control}"

    def server(self, target: str) -> Child:
        return self.bot if target == "bot" else self.floor

    def events_url(self, target: str) -> str:
        port = self.ports.bot if target == "bot" else self.ports.floor
        return f"http://{HOST}:{port}/slack/events"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def start_child(
    name: str, argv: list[str], env: dict[str, str], *, cwd: Path, logs: Path, health_url: str
) -> Child:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Child(name=name, process=process, log=log, health_url=health_url)


def stop_child(child: Child) -> None:
    """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT."""
    if child.process.poll() is not None:
        return
    child.process.send_signal(signal.SIGTERM)
    try:
        child.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.process.kill()
        child.process.wait()


async def wait_ready(session: aiohttp.ClientSession, child: Child) -> None:
    """Poll the child's health URL until it answers 200; fail if it exits or takes too long."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited at start-up:\n{child.log_tail()}")
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.get(child.health_url) as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{child.name} was not ready in {READY_TIMEOUT:.0f} s:\n{child.log_tail()}")


def base_env() -> dict[str, str]:
    return dict(os.environ) | {
        "PYTHONPATH": str(REPO),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "GOOGLE_CLIENT_ID": CLIENT_ID,
        "GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
        "LOG_LEVEL": "WARNING",
    }


def emulators_argv(ports: Ports, *, channels: int, users: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bench.emulators",
        f"--slack-port={ports.slack}",
        f"--google-port={ports.google}",
        f"--control-port={ports.control}",
        f"--channels={channels}",
        f"--users={users}",
    ]


def bot_argv(*, bot_gc: str = "on", profile: Path | None = None) -> list[str]:
    """`python app.py`; under cProfile into `profile`, or with its collector per `bot_gc`."""
    if bot_gc != "on":
        setup = BOT_GC_MODES[bot_gc]
        return [sys.executable, "-c", f"import gc, sys, app; {setup}; sys.exit(app.main([]))"]
    profiling = ["-m", "cProfile", "-o", str(profile.resolve())] if profile else []
    return [sys.executable, *profiling, str(REPO / "app.py")]


def bot_env(ports: Ports, data: Path) -> dict[str, str]:
    google = f"http://{HOST}:{ports.google}"
    return base_env() | {
        "SLACK_API_URL": f"http://{HOST}:{ports.slack}/api/",
        "GOOGLE_AUTH_URI": f"{google}/o/oauth2/auth",
        "GOOGLE_TOKEN_URI": f"{google}/token",
        "GOOGLE_REVOKE_URI": f"{google}/revoke",
        "GOOGLE_API_URL": f"{google}/calendar/v3/",
        "PUBLIC_URL": f"http://{HOST}:{ports.bot}",
        "DATABASE_URL": f"sqlite:///{data / 'tonomo.db'}",
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "HOST": HOST,
        "PORT": str(ports.bot),
        "HEALTH_CHECK_MINUTES": "30",
    }


def start_fleet(
    stack: contextlib.ExitStack, work: Path, *, channels: int, users: int, bot: list[str]
) -> Fleet:
    """Start every process; each is stopped when `stack` closes, whatever happened."""
    ports = Ports(*(free_port() for _ in range(5)))

    def start(name: str, argv: list[str], env: dict[str, str], cwd: Path, port: int) -> Child:
        health_url = f"http://{HOST}:{port}/healthz"
        child = start_child(name, argv, env, cwd=cwd, logs=work, health_url=health_url)
        stack.callback(stop_child, child)
        return child

    slack_api = {"SLACK_API_URL": f"http://{HOST}:{ports.slack}/api/"}
    floor_argv = [sys.executable, "-m", "bench.floor_app", f"--port={ports.floor}"]
    return Fleet(
        emulators=start(
            "emulators",
            emulators_argv(ports, channels=channels, users=users),
            base_env(),
            REPO,
            ports.control,
        ),
        floor=start("floor", floor_argv, base_env() | slack_api, REPO, ports.floor),
        # From the temporary directory, so no developer's .env is read.
        bot=start("bot", bot, bot_env(ports, work), work, ports.bot),
        ports=ports,
    )


# --- what /proc says ----------------------------------------------------------------------


@dataclass(frozen=True)
class RssSample:
    moment: str
    commands: int
    rss_mb: float
    peak_mb: float


def read_rss(pid: int, moment: str, commands: int) -> RssSample:
    """VmRSS and VmHWM (its peak so far) of `pid`, from /proc/PID/status."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024  # kB -> MB
    return RssSample(moment, commands, round(fields["VmRSS"], 1), round(fields["VmHWM"], 1))


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of `pid` so far, from /proc/PID/stat."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    utime, stime = int(after_name[11]), int(after_name[12])  # fields 14 and 15 in proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def tcp_ports(pid: int, remote_port: int) -> set[int]:
    """The local ports of `pid`'s TCP connections to `remote_port` (on any address), from
    /proc: its sockets' inodes (/proc/PID/fd) looked up in the connection tables. Empty
    when the process is gone. An emulator records each request's peer `host:port`, so
    these say which process sent it."""
    inodes = set()
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return set()
    for fd in descriptors:
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()  # sl local_address rem_address st … uid timeout inode
            if fields[9] in inodes and int(fields[2].rpartition(":")[2], 16) == remote_port:
                ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


def machine_cpu() -> tuple[float, float]:
    """Seconds of CPU time the machine's CPUs have spent busy, and in all, since boot (all
    CPUs together, from /proc/stat): the difference of two readings is how busy every core
    was in between, whoever ran on it (this benchmark, PostgreSQL, other people's work)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle, iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    return (total - idle) / ticks, total / ticks


def exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds, so the emulators and the database are cleaned up
