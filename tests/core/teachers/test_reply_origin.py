"""Simulated replies carry the simulator's reply-shaping settings in their keys (`reply_origin`)."""

from __future__ import annotations

from pathlib import Path

from fair_core.config import FairConfig, SimulatorConfig, parse_config
from fair_core.identity import reply_origin
from fair_core.prompts.builder import PromptSet
from fair_core.teachers.base import ChatRequest
from fair_core.teachers.caller import PlannedCall, TeacherCaller
from fair_core.teachers.simulator import start_simulator
from tests.simulators.fixtures import EXAMPLES, teacher

PROMPTS = PromptSet()
TEACHERS = [{"name": "gpt", "model": "m"}, {"name": "gem", "model": "g"}]


def _config(**simulator: object) -> FairConfig:
    return parse_config({"teachers": TEACHERS, "simulator": {"enabled": True, **simulator}})


def _key(config: FairConfig) -> str:
    request = ChatRequest.for_teacher(config.teachers[0], PROMPTS.rationale(EXAMPLES[0]))
    origin = reply_origin(config)
    return ChatRequest(**{**request.__dict__, "origin": origin}).key()


def test_settings_that_shape_simulated_replies_change_the_request_keys() -> None:
    base = _config()
    assert reply_origin(base).startswith("simulator:")
    for changed in (
        {"wrong_rate": 0.5},
        {"unparseable_rate": 0.3},
        {"fail_teacher": "gem"},
        {"fail_attempts": 2},
    ):
        assert _key(_config(**changed)) != _key(base), changed
    assert _key(_config(latency_ms=250.0)) == _key(base)  # how fast it answers, not what
    assert _key(_config()) == _key(base)
    real = parse_config({"teachers": TEACHERS})
    assert reply_origin(real) == ""  # real teachers: keys as they always were, never a simulated reply
    plain = ChatRequest.for_teacher(real.teachers[0], PROMPTS.rationale(EXAMPLES[0]))
    assert _key(real) == plain.key() != _key(base)


def test_a_changed_simulator_setting_gets_no_cached_reply(tmp_path: Path) -> None:
    sim = SimulatorConfig(wrong_rate=0.0, unparseable_rate=0.0)
    with start_simulator(EXAMPLES, sim) as handle:
        cfg = teacher("gpt", "m", handle.base_url, api_key_secret="k")
        planned = [
            PlannedCall(ChatRequest.for_teacher(cfg, PROMPTS.rationale(e)), "rationale", e.id)
            for e in EXAMPLES
        ]

        def call(origin: str) -> list[bool]:
            caller = TeacherCaller(
                cfg, data_dir=str(tmp_path), run_id="r", secret_loader=lambda name: "key", origin=origin
            )
            return [row["cached"] for row in caller.call(planned, "rationale-gpt").calls]

        first, other = reply_origin(_config()), reply_origin(_config(wrong_rate=0.4))
        assert not any(call(first))
        assert all(call(first))  # the same simulator settings: every reply reused
        assert not any(call(other))  # another error rate: asked again
        assert not any(call(""))  # a real teacher of the same model never gets a simulated reply
