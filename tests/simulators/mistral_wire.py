"""Mistral wire of the simulator, under /mistral: chat completions, files and batch jobs in Mistral's JSON.

`Mistral(api_key=..., server_url=handle.wire_url("/mistral"))` reaches it: the SDK posts to
`/v1/chat/completions` and `/v1/files` like OpenAI's, hence the prefix. Chat bodies, replies and errors
(Mistral's `{"object": "error", "message", "type", "param", "code"}`, FastAPI-style 422 `{"detail": [...]}`)
are in `mistral_format`; files and batch jobs live in `mistral_jobs`.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from fair_core.teachers.simulator import openai_wire
from fair_core.teachers.simulator.protocol import SimFault
from tests.simulators import mistral_format as fmt
from tests.simulators import mistral_jobs

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.routing import BaseRoute

    from fair_core.teachers.simulator.protocol import SimulatorState

PREFIX = "/mistral"
PROVIDERS = ("mistral", "mistral:batch")
WIRE = fmt.WIRE


def routes(state: SimulatorState) -> list[BaseRoute]:
    from starlette.responses import Response
    from starlette.routing import Route

    jobs = mistral_jobs.MistralJobs(state)

    async def chat_completions(request: Request) -> Any:
        api_key = openai_wire.bearer_key(request)
        call = fmt.parse_call(await fmt.read_json(request), api_key)
        if isinstance(call, str):
            fault = fmt.reject(state, api_key)
            return await fmt.render_fault(fault, "") if fault else fmt.validation_error(call)
        outcome = await state.handle(call)
        if isinstance(outcome, SimFault):
            return await fmt.render_fault(outcome, call.model)
        return fmt.json_response(fmt.reply_body(call.model, outcome))

    def denied(request: Request) -> tuple[str | None, Any]:
        """The caller's key, and the 401 to send instead when it is missing or wrong."""
        key = openai_wire.bearer_key(request)
        fault = state.check_key(key)
        if fault is None:
            return key, None
        status, body, _ = fmt.fault_payload(fault, "")
        return key, fmt.json_response(body, status)

    def not_found(what: str, ident: str) -> Any:
        return fmt.error_response(404, f"{what} {ident} not found", "invalid_request_error", "not_found")

    async def upload(request: Request) -> Any:
        _, refused = denied(request)
        if refused is not None:
            return refused
        fields = mistral_jobs.parse_multipart(request.headers.get("content-type", ""), await request.body())
        if "file" not in fields:
            return fmt.validation_error("a multipart 'file' field is required", ("body", "file"))
        filename, data = fields["file"]
        purpose = fields.get("purpose", (None, b"fine-tune"))[1].decode() or "fine-tune"
        return fmt.json_response(jobs.add_file(filename or "upload.jsonl", data, purpose=purpose).to_json())

    async def file_info(request: Request) -> Any:
        _, refused = denied(request)
        stored = jobs.files.get(request.path_params["file_id"])
        if refused is not None or stored is None:
            return refused or not_found("file", request.path_params["file_id"])
        return fmt.json_response(stored.to_json())

    async def file_content(request: Request) -> Any:
        _, refused = denied(request)
        stored = jobs.files.get(request.path_params["file_id"])
        if refused is not None or stored is None:
            return refused or not_found("file", request.path_params["file_id"])
        return Response(stored.data, media_type="application/octet-stream")

    async def create_job(request: Request) -> Any:
        key, refused = denied(request)
        if refused is not None:
            return refused
        body = await fmt.read_json(request)
        if not isinstance(body, dict):
            return fmt.validation_error("the request body must be a JSON object")
        if body.get("endpoint") != mistral_jobs.ENDPOINT:
            message = f"endpoint {body.get('endpoint')!r} is not simulated (only {mistral_jobs.ENDPOINT})"
            return fmt.error_response(400, message, "invalid_request_error")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return fmt.error_response(400, "a model is required", "invalid_request_error")
        input_files = [str(f) for f in body.get("input_files") or []]
        lines: list[tuple[str | None, Any]] = []
        for file_id in input_files:
            if file_id not in jobs.files:
                return not_found("file", file_id)
            lines.extend(mistral_jobs.parse_lines(jobs.files[file_id].data))
        for row in body.get("requests") or []:
            if isinstance(row, dict):
                lines.append(
                    (row.get("custom_id"), row.get("body") if isinstance(row.get("body"), dict) else None)
                )
        if not lines:
            return fmt.error_response(400, "the batch has no requests", "invalid_request_error")
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
        job = mistral_jobs.SimJob(str(uuid.uuid4()), model, input_files, metadata, key, lines)
        jobs.start(job)
        return fmt.json_response(job.to_json())

    async def get_job(request: Request) -> Any:
        _, refused = denied(request)
        job = jobs.jobs.get(request.path_params["job_id"])
        if refused is not None or job is None:
            return refused or not_found("batch job", request.path_params["job_id"])
        return fmt.json_response(job.to_json())

    async def list_jobs(request: Request) -> Any:
        _, refused = denied(request)
        if refused is not None:
            return refused
        data = [job.to_json() for job in jobs.jobs.values()]
        return fmt.json_response({"object": "list", "data": data, "total": len(data)})

    async def cancel_job(request: Request) -> Any:
        _, refused = denied(request)
        job = jobs.jobs.get(request.path_params["job_id"])
        if refused is not None or job is None:
            return refused or not_found("batch job", request.path_params["job_id"])
        jobs.cancel(job)
        return fmt.json_response(job.to_json())

    return [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/files", upload, methods=["POST"]),
        Route("/v1/files/{file_id}", file_info, methods=["GET"]),
        Route("/v1/files/{file_id}/content", file_content, methods=["GET"]),
        Route("/v1/batch/jobs", create_job, methods=["POST"]),
        Route("/v1/batch/jobs", list_jobs, methods=["GET"]),
        Route("/v1/batch/jobs/{job_id}", get_job, methods=["GET"]),
        Route("/v1/batch/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
    ]
