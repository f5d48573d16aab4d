"""`StudentBackend` on a running `vllm serve`, reached through the OpenAI client (student.vllm.base_url).

Completions API (default): prompts are formatted and tokenized here with `encode_prompt`, exactly as the
other backends do, and sent as token ids; the generated ids come back (`return_token_ids`) and are decoded
here, so the answers match the worker's. Chat API: the server applies its own chat template. The round's
LoRA adapter is served by name: loaded at run time through `/v1/load_lora_adapter` (start the server with
`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True` and `--enable-lora`), or pre-loaded with `--lora-modules NAME=PATH`
under the name `fair-<adapter hash>`. The server must see the adapter folder at the same path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fair_core.hashing import file_hash
from fair_core.students.base import BackendUnavailableError, Generation, GenerationParams, ProgressFn
from fair_core.students.formatting import encode_prompt
from fair_core.students.stopping import cut_at_stop
from fair_core.teachers.keys import redact

#: Prompts per completions request; a few requests are in flight at once (the server batches them).
CHUNK = 32
IN_FLIGHT = 4


def adapter_name(adapter: Path | str) -> str:
    """The name an adapter is served under: `fair-` + the first 12 hex digits of its content hash."""
    return f"fair-{file_hash(Path(adapter))[:12]}"


class VLLMServerStudent:
    """A student answered by `vllm serve` at `base_url` (the OpenAI-compatible `/v1` root)."""

    def __init__(
        self,
        base_url: str,
        model_path: Path | str,
        adapter_path: Path | str | None = None,
        *,
        api: str = "completions",
        served_model: str | None = None,
        api_key_env: str = "VLLM_API_KEY",
        chat_template: bool | None = None,
        system_prompt: str | None = None,
        timeout_s: float = 600.0,
    ) -> None:
        from openai import OpenAI

        self.base_url = base_url.rstrip("/")
        self.api = api
        self.chat_template = chat_template
        self.system_prompt = system_prompt
        self._key = os.environ.get(api_key_env) or "EMPTY"
        self.client = OpenAI(base_url=self.base_url, api_key=self._key, timeout=timeout_s, max_retries=2)
        self.tokenizer: Any = None
        self.eos_ids: list[int] = []
        if api == "completions":
            self._load_tokenizer(model_path)
        self.model = served_model or self._first_model()
        if adapter_path is not None:
            self.model = self._ensure_adapter(Path(adapter_path))

    def _load_tokenizer(self, model_path: Path | str) -> None:
        from transformers import AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(model_path))
        except (OSError, ValueError) as err:
            raise BackendUnavailableError(
                f"vllm.api 'completions' formats prompts here and needs the student's tokenizer at "
                f"{model_path} ({err}); use student.vllm.api 'chat' when the model is only on the server"
            ) from None
        self.eos_ids = [self.tokenizer.eos_token_id] if self.tokenizer.eos_token_id is not None else []

    def _fail(self, what: str, err: Exception) -> BackendUnavailableError:
        return BackendUnavailableError(redact(f"vllm serve at {self.base_url}: {what}: {err}", [self._key]))

    def _served(self) -> list[str]:
        try:
            return [m.id for m in self.client.models.list()]
        except Exception as err:
            raise self._fail("cannot list its models", err) from None

    def _first_model(self) -> str:
        served = self._served()
        if not served:
            raise BackendUnavailableError(f"vllm serve at {self.base_url} serves no model")
        return served[0]

    def _ensure_adapter(self, adapter: Path) -> str:
        """Serve `adapter` under its content name: already loaded, or loaded now at run time."""
        import httpx

        if not (adapter / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{adapter}: not a peft adapter folder (no adapter_config.json)")
        name = adapter_name(adapter)
        if name in self._served():
            return name
        try:
            reply = httpx.post(
                f"{self.base_url}/load_lora_adapter",
                json={"lora_name": name, "lora_path": str(adapter.resolve())},
                headers={"Authorization": f"Bearer {self._key}"},
                timeout=120,
            )
        except httpx.HTTPError as err:
            raise self._fail("cannot load the LoRA adapter", err) from None
        if reply.status_code != 200:
            raise BackendUnavailableError(
                redact(
                    f"vllm serve at {self.base_url} refused to load the LoRA adapter {adapter} "
                    f"(HTTP {reply.status_code}: {reply.text[:300]}); start it with --enable-lora and "
                    f"VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, or with --lora-modules {name}={adapter}",
                    [self._key],
                )
            )
        return name

    def _sampling(self, params: GenerationParams) -> dict[str, Any]:
        sampling: dict[str, Any] = {"max_tokens": params.max_new_tokens, "stop": list(params.stop) or None}
        if params.greedy:
            sampling["temperature"] = 0.0
        else:
            sampling.update(temperature=params.temperature, top_p=params.top_p, seed=params.seed)
        return sampling

    def _complete(self, chunk: list[list[int]], params: GenerationParams) -> list[Generation]:
        reply = self.client.completions.create(
            model=self.model,
            prompt=chunk,
            **self._sampling(params),
            extra_body={
                "return_token_ids": True,
                "stop_token_ids": self.eos_ids,
                "skip_special_tokens": True,
            },
        )
        out: list[Generation] = []
        for choice in sorted(reply.choices, key=lambda c: c.index):
            ids = list((choice.model_extra or {}).get("token_ids") or [])
            if ids:
                text = self.tokenizer.decode(ids, skip_special_tokens=True)
                out.append(Generation(cut_at_stop(text, params.stop)[0], len(ids), tuple(ids)))
            else:  # an older server: no ids, count the text's tokens
                tokens = self.tokenizer(choice.text, add_special_tokens=False)["input_ids"]
                out.append(Generation(choice.text, len(tokens)))
        return out

    def _chat(self, prompt: str, params: GenerationParams) -> Generation:
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        messages.append({"role": "user", "content": prompt})
        reply = self.client.chat.completions.create(
            model=self.model, messages=messages, **self._sampling(params)
        )
        text = reply.choices[0].message.content or ""
        return Generation(text, int(reply.usage.completion_tokens) if reply.usage else 0)

    def generate(
        self,
        prompts: Sequence[str],
        params: GenerationParams,
        progress: ProgressFn | None = None,
    ) -> list[Generation]:
        """Answer `prompts` (in input order); a few requests in flight, the server batches them."""
        if self.api == "completions":
            encoded = [
                encode_prompt(self.tokenizer, p, self.chat_template, self.system_prompt) for p in prompts
            ]
            jobs = [encoded[i : i + CHUNK] for i in range(0, len(encoded), CHUNK)]
            call: Any = lambda chunk: self._complete(chunk, params)  # noqa: E731
        else:
            jobs = [list(prompts[i : i + 1]) for i in range(len(prompts))]
            call = lambda chunk: [self._chat(chunk[0], params)]  # noqa: E731
        results: list[Generation] = []
        try:
            with ThreadPoolExecutor(max_workers=IN_FLIGHT if self.api == "completions" else 16) as pool:
                for answers in pool.map(call, jobs):
                    results.extend(answers)
                    if progress is not None:
                        progress(len(results), len(prompts))
        except BackendUnavailableError:
            raise
        except Exception as err:  # the OpenAI SDK's errors: connection, HTTP status, timeouts
            raise self._fail("generation failed", err) from None
        return results

    def close(self) -> None:
        self.client.close()
