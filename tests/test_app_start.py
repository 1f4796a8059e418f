"""Starting `python app.py`: bad configuration is one clear line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]


def start(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "GOOGLE_", "TOKEN_", "DATABASE_"))
    }
    return subprocess.run(  # noqa: S603 - our own entry point
        [sys.executable, str(ROOT / "app.py")],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_configuration_is_one_line(tmp_path: Path) -> None:
    result = start({}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "SLACK_BOT_TOKEN" in result.stderr and "Traceback" not in result.stderr


def test_dotenv_is_read_and_real_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "SLACK_BOT_TOKEN=xoxb-from-dotenv\n"
        "SLACK_SIGNING_SECRET=s\n"
        "GOOGLE_CLIENT_ID=id\n"
        "GOOGLE_CLIENT_SECRET=secret\n"
        f"TOKEN_ENCRYPTION_KEY={Fernet.generate_key().decode()}\n"
        "PORT=3000\n"
    )
    # .env alone is complete; the real environment's malformed PORT must win over it.
    result = start({"PORT": "not-a-port"}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("tonomo: PORT is malformed")
    assert "Traceback" not in result.stderr
