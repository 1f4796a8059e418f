"""What every benchmark reports: the machine it ran on, and percentiles."""

from __future__ import annotations

import contextlib
import math
import os
import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile: the smallest value with at least p% of them at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _first(path: str, key: str, separator: str) -> str:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(separator)
            if name.strip() == key:
                return value.strip().strip('"')
    return "unknown"


def machine() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": _first("/proc/cpuinfo", "model name", ":"),
        "memory": _first("/proc/meminfo", "MemTotal", ":"),
        "python": platform.python_version(),
        "os": f"{_first('/etc/os-release', 'PRETTY_NAME', '=')}, Linux {platform.release()}",
        "load average at start": round(os.getloadavg()[0], 2),
    }
