"""Input files of the simulator's OpenAI batches: JSONL lines checked as OpenAI checks them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ENDPOINT = "/v1/chat/completions"
MAX_LINES = 50_000


@dataclass(frozen=True)
class BatchLine:
    """One request line of an input file."""

    number: int
    custom_id: str
    body: dict[str, Any]


def line_error(number: int | None, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": number}


def parse_input(data: bytes, endpoint: str) -> tuple[list[BatchLine], list[dict[str, Any]]]:
    """The lines of a batch input file, or the validation errors that fail the batch (OpenAI's checks)."""
    lines: list[BatchLine] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    models: set[str] = set()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [], [line_error(None, "invalid_file_format", "The input file is not UTF-8 encoded JSONL.")]
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError:
            item = None
        if not isinstance(item, dict):
            errors.append(line_error(number, "invalid_json_line", "This line is not parseable as JSON."))
            continue
        custom_id, body = item.get("custom_id"), item.get("body")
        if not isinstance(custom_id, str) or not custom_id:
            errors.append(
                line_error(number, "missing_required_parameter", "custom_id is missing", "custom_id")
            )
        elif custom_id in seen:
            errors.append(line_error(number, "duplicate_custom_id", f"custom_id {custom_id!r} is repeated"))
        elif item.get("method") != "POST" or item.get("url") != endpoint:
            message = f"The request must be POST {endpoint}, the batch endpoint."
            errors.append(line_error(number, "invalid_url", message, "url"))
        elif not isinstance(body, dict) or not isinstance(body.get("model"), str):
            errors.append(line_error(number, "missing_required_parameter", "body.model is missing", "body"))
        else:
            seen.add(custom_id)
            models.add(body["model"])
            lines.append(BatchLine(number, custom_id, body))
    if not errors and not lines:
        errors.append(line_error(None, "empty_file", "The input file has no requests."))
    if len(models) > 1:
        message = f"Every request of a batch must use the same model (found {', '.join(sorted(models))})."
        errors.append(line_error(None, "mismatched_model", message, "body.model"))
    if len(lines) > MAX_LINES:
        errors.append(line_error(None, "too_many_requests", f"A batch holds at most {MAX_LINES} requests."))
    return lines, errors[:20]
