"""Teacher committee settings: provider, model, endpoint, key location, sampling, limits."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from fair_core.config.base import Section
from fair_core.identity import teacher_identity

ProviderName = Literal["openai", "gemini", "mistral", "replay"]

DEFAULT_KEY_ENV: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY",
}


class TeacherConfig(Section):
    name: str = Field(description="Short unique name of the teacher in tables, e.g. 'gpt'.")
    provider: ProviderName = Field(
        "openai",
        description="Wire protocol: openai (or compatible), gemini, mistral; or replay: answers from a "
        "recording (replay_source), no network, no key, no cost.",
    )
    model: str = Field(description="Provider model id.")
    base_url: str | None = Field(
        None, description="Endpoint (OpenAI-compatible servers, DeepInfra, vLLM, Ollama)."
    )
    api_key_env: str | None = Field(
        None, description="Environment variable with the API key (empty: default)."
    )
    api_key_secret: str | None = Field(None, description="Prefect Secret block holding the API key.")
    temperature: float = Field(0.8, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int = Field(512, ge=1, description="Reply budget in tokens.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling (empty: provider default).")
    max_concurrency: int = Field(16, ge=1, description="Requests in flight at once for this teacher.")
    shared_concurrency: int | None = Field(
        None,
        ge=1,
        description="Requests in flight for this teacher across every worker sharing a PostgreSQL cache.url "
        "(empty: only max_concurrency, per process).",
    )
    timeout_s: float = Field(120.0, gt=0, description="Per-request timeout in seconds.")
    max_retries: int = Field(5, ge=0, description="Retries of a retryable error (429, 5xx, timeout).")
    rpm: int | None = Field(
        None, ge=1, description="Requests per minute for this teacher, shared by every task of the run."
    )
    tpm: int | None = Field(
        None, ge=1, description="Tokens per minute (prompt estimate + max_tokens), shared by every task."
    )
    mode: Literal["online", "batch"] = Field(
        "online", description="'batch': send through the provider's batch API (about 50% cheaper, slower)."
    )
    batch_poll_s: float = Field(30.0, gt=0, description="Seconds between two polls of a batch job.")
    batch_timeout_s: float = Field(
        86400.0, gt=0, description="Give up waiting for a batch job after this long; the rest goes online."
    )
    price_input_per_mtok: float | None = Field(
        None, ge=0, description="USD per million prompt tokens (empty: the built-in price table)."
    )
    price_output_per_mtok: float | None = Field(
        None, ge=0, description="USD per million completion tokens (empty: the built-in price table)."
    )
    safety_settings: dict[str, str] = Field(
        default_factory=dict,
        description="Gemini only: harm category -> threshold, e.g. HARM_CATEGORY_HARASSMENT: BLOCK_NONE.",
    )
    note: str | None = Field(None, description="Free text, e.g. what replaces a retired model.")
    replay_source: str | None = Field(
        None,
        description="provider replay: where the recorded replies are: a FAIR paper-code reference folder "
        "(*_feedback_round0.json, *_rationale_round0.json), a run folder (<data_dir>/runs/<run id>: its "
        "teacher_calls, or the tables `fair import-reference` wrote) or a run id in run.data_dir. "
        "Relative paths: from the working directory.",
    )
    replay_teacher: str | None = Field(
        None,
        description="provider replay: the recorded teacher whose replies this one gives (the reference: "
        "gpt, gemini, mixtral); empty: this teacher's name.",
    )
    replay_round: int | None = Field(
        None,
        ge=0,
        description="provider replay from a run's teacher_calls: only that round's replies (empty: any "
        "round: the same request first, else the earliest round's reply about the same question).",
    )

    @model_validator(mode="after")
    def _replay_has_a_source(self) -> TeacherConfig:
        if self.provider == "replay" and not self.replay_source:
            raise ValueError(
                f"teacher {self.name!r}: provider replay needs replay_source (a reference folder, a run "
                "folder or a run id)"
            )
        return self

    def key_env(self) -> str:
        return self.api_key_env or DEFAULT_KEY_ENV.get(self.provider, "")  # replay: no key

    def identity(self) -> dict[str, Any]:
        """What makes two teachers' replies interchangeable (the endpoint and limits are not part of it)."""
        return teacher_identity(self)
