"""Prefect settings for offline use, applied before anything imports prefect (its settings are read once)."""

from __future__ import annotations

import os


def prefect_defaults() -> None:
    """Offline-friendly Prefect settings, unless the user set them."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
