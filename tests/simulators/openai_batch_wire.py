"""OpenAI Files and Batches wire of the simulator: /v1/files (upload, get, content), /v1/batches (create, get,
cancel), as `AsyncOpenAI().files` and `.batches` call them; jobs live in openai_batch_jobs.py.

A batch runs in the background on the simulator's loop: validating -> in_progress -> finalizing -> completed,
each line answered like an online chat call (stats, fault hook with `SimCall.wire == "openai_batch"`); a
faulted line is a line of the error file. `batch_store(handle.state)` sets the job delay and makes coming
batches fail or expire (`plan_next`); GET /stats/openai_batch shows the endpoint call counts.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from typing import TYPE_CHECKING

from fair_core.teachers.simulator.openai_wire import bearer_key, error_body, render_fault
from tests.simulators.openai_batch_input import ENDPOINT
from tests.simulators.openai_batch_jobs import SimBatch, batch_store, new_id

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from fair_core.teachers.simulator.protocol import SimulatorState

__all__ = ["PROVIDERS", "batch_store", "parse_multipart", "routes"]

PROVIDERS = ("openai:batch",)

FINAL = frozenset({"completed", "failed", "expired", "cancelled"})


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]] | None:
    """Fields of a multipart/form-data body: name -> (filename, bytes); None when it is not one."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return None
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = (part.get_filename(), payload)
    return fields


def _invalid(message: str, param: str | None = None, status: int = 400, code: str | None = None) -> Response:
    from starlette.responses import JSONResponse

    body = error_body(message, "invalid_request_error", code)
    body["error"]["param"] = param
    return JSONResponse(body, status_code=status)


def _not_found(kind: str, object_id: str) -> Response:
    return _invalid(f"No such {kind} object: {object_id}", "id", 404, "not_found")


def routes(state: SimulatorState) -> list[Route]:
    from starlette.responses import JSONResponse
    from starlette.responses import Response as PlainResponse
    from starlette.routing import Route

    store = batch_store(state)

    async def refused(request: Request, endpoint: str) -> tuple[str | None, Response | None]:
        """The caller's key, or the 401 to answer with; counts the endpoint call."""
        store.count(endpoint)
        api_key = bearer_key(request)
        fault = state.check_key(api_key)
        if fault is not None:
            store.count("auth_failed")
            return None, await render_fault(fault, "")
        return api_key, None

    async def create_file(request: Request) -> Response:
        _, denied = await refused(request, "files.create")
        if denied is not None:
            return denied
        fields = parse_multipart(request.headers.get("content-type", ""), await request.body())
        if fields is None:
            return _invalid("Files are uploaded as multipart/form-data.")
        purpose = fields.get("purpose", (None, b""))[1].decode("utf-8", "replace").strip()
        if "file" not in fields:
            return _invalid("Missing required parameter: 'file'.", "file")
        if not purpose:
            return _invalid("Missing required parameter: 'purpose'.", "purpose")
        filename, data = fields["file"]
        return JSONResponse(store.add_file(filename or "upload.jsonl", purpose, data).to_json())

    async def get_file(request: Request) -> Response:
        _, denied = await refused(request, "files.retrieve")
        if denied is not None:
            return denied
        sim_file = store.files.get(request.path_params["file_id"])
        if sim_file is None:
            return _not_found("File", request.path_params["file_id"])
        return JSONResponse(sim_file.to_json())

    async def file_content(request: Request) -> Response:
        _, denied = await refused(request, "files.content")
        if denied is not None:
            return denied
        sim_file = store.files.get(request.path_params["file_id"])
        if sim_file is None:
            return _not_found("File", request.path_params["file_id"])
        return PlainResponse(sim_file.data, media_type="application/octet-stream")

    async def create_batch(request: Request) -> Response:
        api_key, denied = await refused(request, "batches.create")
        if denied is not None or api_key is None:
            return denied or _invalid("missing key")
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _invalid("The request body must be a JSON object.")
        file_id = body.get("input_file_id")
        sim_file = store.files.get(file_id) if isinstance(file_id, str) else None
        if sim_file is None:
            return _invalid(f"Invalid input_file_id: {file_id!r} is not a known file.", "input_file_id")
        if sim_file.purpose != "batch":
            return _invalid(f"File {file_id} has purpose {sim_file.purpose!r}, not 'batch'.", "input_file_id")
        if body.get("endpoint") != ENDPOINT:
            return _invalid(f"The simulator serves batches of {ENDPOINT} only.", "endpoint")
        if body.get("completion_window") != "24h":
            return _invalid("completion_window must be '24h'.", "completion_window")
        metadata = body.get("metadata")
        batch = SimBatch(
            id=new_id("batch"),
            input_file_id=sim_file.id,
            endpoint=ENDPOINT,
            completion_window="24h",
            metadata={str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else None,
            api_key=api_key,
        )
        store.start(batch)
        return JSONResponse(batch.to_json())

    async def get_batch(request: Request) -> Response:
        _, denied = await refused(request, "batches.retrieve")
        if denied is not None:
            return denied
        batch = store.batches.get(request.path_params["batch_id"])
        if batch is None:
            return _not_found("Batch", request.path_params["batch_id"])
        return JSONResponse(batch.to_json())

    async def cancel_batch(request: Request) -> Response:
        _, denied = await refused(request, "batches.cancel")
        if denied is not None:
            return denied
        batch = store.batches.get(request.path_params["batch_id"])
        if batch is None:
            return _not_found("Batch", request.path_params["batch_id"])
        if batch.status in FINAL:
            return _invalid(f"Cannot cancel a batch with status {batch.status!r}.", status=409)
        if not batch.cancel_requested:
            batch.cancel_requested = True
            batch.set_status("cancelling")
        return JSONResponse(batch.to_json())

    async def stats(request: Request) -> Response:
        return JSONResponse(store.snapshot())

    return [
        Route("/v1/files", create_file, methods=["POST"]),
        Route("/v1/files/{file_id}", get_file, methods=["GET"]),
        Route("/v1/files/{file_id}/content", file_content, methods=["GET"]),
        Route("/v1/batches", create_batch, methods=["POST"]),
        Route("/v1/batches/{batch_id}", get_batch, methods=["GET"]),
        Route("/v1/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
        Route("/stats/openai_batch", stats, methods=["GET"]),
    ]
