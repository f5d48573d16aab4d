"""Push an export to the Hugging Face Hub with `huggingface_hub` (create_repo + upload_folder): the dataset
to a dataset repo, the student to a model repo. The token comes from an environment variable (HF_TOKEN by
default) and is never logged or written; the endpoint is HF_ENDPOINT's (default https://huggingface.co)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TOKEN_ENV = "HF_TOKEN"
DEFAULT_ENDPOINT = "https://huggingface.co"
#: The dataset repo when none is given: the model repo's name with this suffix.
DATASET_SUFFIX = "-data"

_CAUSES = {
    401: "401 Unauthorized: the token is missing, wrong or expired",
    403: "403 Forbidden: the token may not write there (it needs write access to that namespace)",
    404: "404 Not Found: no such namespace or repository",
}


class HubPushError(RuntimeError):
    """A push failed; the message is one line naming the repository and the cause."""


@dataclass(frozen=True)
class Pushed:
    repo_id: str
    repo_type: str
    url: str
    files: int


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def token_from(env: str = DEFAULT_TOKEN_ENV) -> str:
    """The Hub token held by environment variable `env` (HubPushError naming it when unset)."""
    token = os.environ.get(env, "").strip()
    if not token:
        raise HubPushError(
            f"pushing to the Hub needs a write token in the environment variable {env} "
            "(create one at https://huggingface.co/settings/tokens)"
        )
    return token


def dataset_repo_for(model_repo: str) -> str:
    return f"{model_repo}{DATASET_SUFFIX}"


def _cause(err: BaseException) -> str:
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(err, HfHubHTTPError):
        status = err.response.status_code
        known = _CAUSES.get(status)
        if known:
            return known
        detail = (err.server_message or "").strip().splitlines()
        return f"HTTP {status}" + (f": {detail[0]}" if detail else "")
    text = " ".join(str(err).split())
    if type(err).__name__ in ("ConnectError", "ConnectTimeout", "ReadTimeout", "TimeoutException"):
        return f"unreachable ({text or type(err).__name__})"
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _transport_errors() -> tuple[type[BaseException], ...]:
    try:
        import httpx2 as transport
    except ImportError:  # an older huggingface_hub on httpx
        import httpx as transport  # type: ignore[no-redef]
    return (transport.HTTPError, OSError, ValueError, RuntimeError)


def push_folder(
    folder: Path,
    repo_id: str,
    repo_type: str,
    token: str,
    private: bool = False,
    ignore: Sequence[str] = (),
    message: str = "FAIR export",
) -> Pushed:
    """create_repo (exist_ok) then upload_folder of `folder` (minus `ignore` patterns); every failure is a
    HubPushError: `<repo_type> repo <id> at <endpoint>: <cause>`."""
    from huggingface_hub import HfApi
    from huggingface_hub.utils import disable_progress_bars

    where = endpoint()
    api = HfApi(endpoint=where, token=token)
    from fnmatch import fnmatch

    files = [
        p
        for p in Path(folder).rglob("*")
        if p.is_file() and not any(fnmatch(p.relative_to(folder).as_posix(), pattern) for pattern in ignore)
    ]
    try:
        with disable_progress_bars():
            url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
            api.upload_folder(
                repo_id=repo_id,
                repo_type=repo_type,
                folder_path=str(folder),
                ignore_patterns=list(ignore) or None,
                commit_message=message,
            )
    except _transport_errors() as err:
        raise HubPushError(f"push to the Hub: {repo_type} repo {repo_id} at {where}: {_cause(err)}") from None
    return Pushed(repo_id, repo_type, str(url), len(files))
