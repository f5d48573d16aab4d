"""Offline teacher simulator: `from fair_core.teachers.simulator import start_simulator` (see server.py)."""

from __future__ import annotations

from typing import Any

__all__ = ["start_simulator"]


def __getattr__(name: str) -> Any:
    if name == "start_simulator":
        from fair_core.teachers.simulator.server import start_simulator

        return start_simulator
    raise AttributeError(name)
