"""A few calls to a real Prefect server's REST API (what the UI does), for the server and browser tests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass
class Server:
    """`prefect server start` with `fair serve` attached: its API, the env to reach it, the served config."""

    api: str
    env: dict[str, str]
    config_path: Path
    config: dict[str, Any]
    root: Path
    logs: list[Path] = field(default_factory=list)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One API call. A 503 or a read timeout (SQLite busy, or a round training beside the server on a
        loaded 2-core machine) is retried for up to three minutes; any other answer is final."""
        deadline = time.monotonic() + 180
        while True:
            try:
                reply = httpx.request(method, f"{self.api}{path}", json=body, timeout=30)
            except httpx.TimeoutException:
                if time.monotonic() > deadline:
                    raise
                continue
            if reply.status_code != 503 or time.monotonic() > deadline:
                reply.raise_for_status()
                return reply.json() if reply.content else None
            time.sleep(1)

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("POST", path, body)

    def deployment(self, flow: str, name: str) -> dict[str, Any]:
        return self.get(f"/deployments/name/{flow}/{name}")

    def start(self, flow: str, name: str, parameters: dict[str, Any] | None = None) -> str:
        deployment = self.deployment(flow, name)
        body = {"parameters": parameters} if parameters is not None else {}
        return str(self.post(f"/deployments/{deployment['id']}/create_flow_run", body)["id"])

    def flow_run(self, run_id: str) -> dict[str, Any]:
        return self.get(f"/flow_runs/{run_id}")

    def wait(self, run_id: str, timeout_s: float = 900) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            run = self.flow_run(run_id)
            if run["state"]["type"] in TERMINAL:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"flow run {run_id} still {run['state']['type']} after {timeout_s} s")
            time.sleep(1)

    def runs_of(self, flow: str, name: str) -> list[dict[str, Any]]:
        deployment = self.deployment(flow, name)
        body = {"deployments": {"id": {"any_": [deployment["id"]]}}, "sort": "EXPECTED_START_TIME_ASC"}
        return list(self.post("/flow_runs/filter", body))

    def new_run(self, flow: str, name: str, before: set[str], timeout_s: float = 180) -> str:
        """The one flow run of this deployment not in `before` (the ids seen before a form's Submit), read
        from the API: the UI's toast linking to it may be gone by the time a busy machine renders it."""
        deadline = time.monotonic() + timeout_s
        while not (new := [r["id"] for r in self.runs_of(flow, name) if r["id"] not in before]):
            assert time.monotonic() < deadline, f"the form's Submit created no flow run of {flow}/{name}"
            time.sleep(1)
        (run_id,) = new
        return str(run_id)

    def artifacts(self, key: str) -> list[dict[str, Any]]:
        return list(self.post("/artifacts/filter", {"artifacts": {"key": {"any_": [key]}}}))

    def tail(self, chars: int = 4000) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in self.logs if p.exists()
        )
