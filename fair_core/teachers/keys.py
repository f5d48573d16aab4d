"""Teacher API keys: resolve one from a secret store or the environment, and redact keys from any text."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping

from fair_core.config import TeacherConfig

SecretLoader = Callable[[str], str | None]

REDACTED = "[REDACTED]"
#: Shorter strings are not redacted (they would blank out ordinary words); real keys are far longer.
MIN_SECRET_LEN = 6


class MissingAPIKeyError(RuntimeError):
    """A teacher has no API key; the message names the teacher and where the key is looked for."""


def describe_teacher(cfg: TeacherConfig) -> str:
    return f"teacher {cfg.name!r} ({cfg.provider}, {cfg.model})"


def resolve_api_key(
    cfg: TeacherConfig,
    secret_loader: SecretLoader | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The teacher's API key: the secret `cfg.api_key_secret` (via `secret_loader`), else `cfg.key_env()`.

    The orchestration layer passes a loader reading Prefect Secret blocks; fair_core never imports Prefect.
    """
    env = os.environ if environ is None else environ
    if cfg.api_key_secret:
        if secret_loader is None:
            raise MissingAPIKeyError(
                f"{describe_teacher(cfg)} names the secret {cfg.api_key_secret!r} in api_key_secret, "
                "but no secret loader was given: run it through the Prefect flow or set "
                f"the environment variable {cfg.key_env()} and clear api_key_secret."
            )
        try:
            value = secret_loader(cfg.api_key_secret)
        except Exception as err:
            raise MissingAPIKeyError(
                f"{describe_teacher(cfg)} could not read its API key from the secret "
                f"{cfg.api_key_secret!r} ({type(err).__name__}: {err})."
            ) from None
        if value and value.strip():
            return value.strip()
        raise MissingAPIKeyError(
            f"{describe_teacher(cfg)} needs an API key: "
            f"the secret {cfg.api_key_secret!r} is empty or missing."
        )
    value = env.get(cfg.key_env(), "")
    if value.strip():
        return value.strip()
    raise MissingAPIKeyError(
        f"{describe_teacher(cfg)} needs an API key: set the environment variable {cfg.key_env()} "
        "or name a Prefect Secret block in api_key_secret."
    )


def check_api_keys(teachers: Iterable[TeacherConfig], environ: Mapping[str, str] | None = None) -> None:
    """Raise one MissingAPIKeyError naming every teacher whose key variable is unset (all at once, so one
    fix covers them); teachers reading a Secret block are checked where the block is read."""
    env = os.environ if environ is None else environ
    missing = [t for t in teachers if not t.api_key_secret and not env.get(t.key_env(), "").strip()]
    if missing:
        raise MissingAPIKeyError(
            "; ".join(
                f"{describe_teacher(t)} needs an API key: set the environment variable {t.key_env()}"
                for t in missing
            )
            + " (or name a Prefect Secret block in api_key_secret)."
        )


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret replaced by [REDACTED]; applied to every message leaving a provider."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
