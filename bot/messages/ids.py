"""Action ids of every interactive element, in one place."""

from __future__ import annotations

CONNECT_LINK = "connect_link"
"""A button that opens a consent URL; Slack still sends its click, which is acknowledged."""

RECONNECT = "reconnect"
"""Reconnect a broken connection; the button's value is the connection id."""
