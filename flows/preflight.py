"""Checks of a run before any work (before the Prefect server starts): data dir, SDKs, keys, data, cache."""

from __future__ import annotations

import importlib.util
import tempfile
import uuid
from pathlib import Path
from typing import Any

from fair_core.config import ConfigError, FairConfig, TeacherConfig
from fair_core.store.location import is_remote
from fair_core.teachers.keys import check_api_keys

#: provider -> (module the client imports, what to install)
SDKS: dict[str, tuple[str, str]] = {
    "openai": ("openai", "pip install openai (a dependency of fair-distill: reinstall it)"),
    "gemini": ("google.genai", "pip install 'fair-distill[gemini]' (google-genai)"),
    "mistral": ("mistralai", "pip install 'fair-distill[mistral]' (mistralai)"),
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module without a spec
        return False


def check_sdks(teachers: list[TeacherConfig]) -> None:
    """ConfigError naming every teacher whose provider SDK is not installed, and the pip extra to add."""
    missing: dict[str, list[str]] = {}
    for teacher in teachers:
        if teacher.provider == "replay":  # answered from a recording: no SDK
            continue
        module, _ = SDKS[teacher.provider]
        if not _installed(module):
            missing.setdefault(teacher.provider, []).append(repr(teacher.name))
    if missing:
        raise ConfigError(
            "; ".join(
                f"teacher {', '.join(names)} ({provider}) needs the {SDKS[provider][0]} SDK: "
                f"{SDKS[provider][1]}"
                for provider, names in missing.items()
            )
        )


def check_remote_data_dir(data_dir: str) -> Any:
    """A data dir on object storage: a small object written there and removed again (ConfigError naming
    the URL and the store's reason: no such bucket, access denied, no endpoint, no client installed)."""
    from fair_core.store.location import LocationError, as_path

    try:
        path = as_path(data_dir)
        probe = path / f".fair-write-check-{uuid.uuid4().hex[:12]}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except LocationError as err:
        raise ConfigError(str(err)) from None
    except Exception as err:  # the store's client raises its own kinds (botocore, aiohttp, OSError)
        cause = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(
            f"run.data_dir {data_dir!r}: cannot write to the object store ({type(err).__name__}: {cause}); "
            "check the bucket, the endpoint (AWS_ENDPOINT_URL) and the credentials in the environment"
        ) from None
    return path


def check_data_dir(data_dir: str | Path) -> Path:
    """The data dir, created if needed; ConfigError when it cannot be created or written to."""
    path = Path(data_dir).expanduser()
    hint = "choose another folder with --data-dir or run.data_dir"
    if path.exists() and not path.is_dir():
        raise ConfigError(f"run.data_dir {str(path)!r} is a file, not a folder: {hint}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".fair-write-check-"):
            pass
    except OSError as err:
        cause = err.strerror or type(err).__name__
        raise ConfigError(f"run.data_dir {str(path)!r} is not a writable folder ({cause}): {hint}") from None
    return path


def check_prompts(config: FairConfig) -> None:
    folder = config.prompts.template_dir
    if folder and not Path(folder).expanduser().is_dir():
        raise ConfigError(f"prompts.template_dir {folder!r}: no such folder")


def check_shared_cache(url: str) -> None:
    """`cache.url` reachable: a PostgreSQL server that answers (ConfigError naming the URL without its
    password and the cause), or a SQLite file path that is sound (ReplyCacheDamaged)."""
    from fair_core.teachers.db import database_errors, is_url, open_database, redact
    from fair_core.teachers.integrity import check_reply_cache

    if not is_url(url):
        check_reply_cache(Path(url).expanduser())
        return
    try:
        database = open_database(url, "cache.url", busy_timeout_s=10)
        try:
            database.query("SELECT 1")
        finally:
            database.close()
    except (RuntimeError, *database_errors()) as err:
        cause = str(err).removeprefix(f"cache.url {redact(url)}: ")
        raise ConfigError(f"cache.url {redact(url)}: cannot reach the shared reply cache ({cause})") from None


def preflight(config: FairConfig) -> None:
    """Every user error found before any work, each as one sentence: ConfigError (data dir, SDKs, replay
    recordings, prompts, dataset), MissingAPIKeyError (every missing key at once), ReplyCacheDamaged (the
    reply cache)."""
    from fair_core.datasets.preflight import check_dataset
    from fair_core.teachers.caller import response_cache_path
    from fair_core.teachers.integrity import check_reply_cache
    from fair_core.teachers.replay_provider import check_replay
    from fair_core.training.arguments import check_optimizer, check_report_to

    check_sdks(config.teachers)
    check_replay(config)  # a replayed teacher's recording readable (ConfigError naming it)
    if not config.simulator.enabled:  # the simulator accepts any key; a replayed teacher needs none
        check_api_keys([t for t in config.teachers if t.provider != "replay"])
    check_prompts(config)
    try:
        check_optimizer(config.training)
        check_report_to(config.training)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    check_dataset(config.dataset)
    if is_remote(config.run.data_dir):
        check_remote_data_dir(config.run.data_dir)
    else:
        check_data_dir(config.run.data_dir)  # the first check that creates something
    if config.cache.url:
        check_shared_cache(config.cache.url)
    else:
        check_reply_cache(response_cache_path(config.run.data_dir))
