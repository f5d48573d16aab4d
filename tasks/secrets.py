"""API keys from Prefect Secret blocks, for `fair_core.teachers.keys.resolve_api_key`."""

from __future__ import annotations


def prefect_secret_loader(block_name: str) -> str | None:
    """The value of a Prefect Secret block, or None when no such block exists."""
    from prefect.blocks.system import Secret

    try:
        secret = Secret.load(block_name)
    except ValueError:
        return None
    value = secret.get()
    return value if isinstance(value, str) else None
