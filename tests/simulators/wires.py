"""Every wire format of the simulator, in serving order: `start_simulator(..., wires=ALL_WIRES)`."""

from __future__ import annotations

from fair_core.teachers.simulator import openai_wire
from fair_core.teachers.simulator.protocol import Wire
from tests.simulators import gemini_batch_wire, gemini_wire, mistral_wire, openai_batch_wire

#: Gemini and OpenAI batch routes first, as the simulator served them when it discovered its wires by name.
ALL_WIRES: tuple[Wire, ...] = (gemini_batch_wire, gemini_wire, mistral_wire, openai_batch_wire, openai_wire)
MISTRAL_PREFIX = mistral_wire.PREFIX
