"""Where a round's stages run: in the round's own process (default) or as flow runs of deployments on
other work pools (`stages.deployments`), e.g. the committee on a CPU pool and the student on a GPU pool.

    stages:
      deployments:
        student-inference: stage-student-inference/gpu
        teacher-committee: stage-teacher-committee/cpu
        training: stage-training/gpu
        evaluation: stage-evaluation/gpu

A stage named here is started with Prefect's `run_deployment` and the round waits for it; its workers
must reach the same `run.data_dir` (a shared filesystem or object storage) and, for teacher stages, the
same `cache.url`. Where a stage runs cannot change its result, so the section is not part of the run id.

A stage flow run whose worker dies is marked Crashed by the automation in deployments/crashed-stages.yaml
(no heartbeat for 90 s); the round then starts it again, up to `retries` times, on whichever worker of the
pool is alive. What the first attempt finished is not redone: its task results and the teachers' replies
are kept, and the dead process's claims on requests are taken over.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from fair_core.config.base import Section

#: The stages a round can hand to a deployment, in the order the round runs them.
STAGES = ("student-inference", "teacher-committee", "training", "evaluation")
#: Stage -> the flow its deployment must run (flows/stage_pools.py).
STAGE_FLOWS = {stage: f"stage-{stage}" for stage in STAGES}
#: `<flow name>/<deployment name>`, as `prefect deployment run` takes it.
DEPLOYMENT_NAME = re.compile(r"[^/\s]+/[^/\s]+")


class StagesConfig(Section):
    deployments: dict[str, str] = Field(
        default_factory=dict,
        description="Stage -> deployment ('<flow>/<deployment>') that runs it on its work pool; stages "
        f"left out run in the round's process. Stages: {', '.join(STAGES)}.",
    )

    retries: int = Field(
        2,
        ge=0,
        description="How many times the round starts a stage again when its flow run Crashed (its worker "
        "died); a stage that Failed is not retried.",
    )

    @field_validator("deployments")
    @classmethod
    def _check(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(STAGES))
        if unknown:
            raise ValueError(f"unknown stages {unknown}: the stages are {list(STAGES)}")
        bad = {k: v for k, v in value.items() if not DEPLOYMENT_NAME.fullmatch(v)}
        if bad:
            raise ValueError(f"{bad}: name each deployment as '<flow name>/<deployment name>'")
        for stage, name in value.items():
            flow_name = name.split("/", 1)[0]
            if flow_name != STAGE_FLOWS[stage]:
                raise ValueError(
                    f"{stage}: {name!r} is a deployment of flow {flow_name!r}; this stage runs flow "
                    f"{STAGE_FLOWS[stage]!r} (deploy it from deployments/pools.yaml)"
                )
        return dict(value)
