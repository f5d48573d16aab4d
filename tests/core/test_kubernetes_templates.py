"""The Kubernetes base job templates in deployments/kubernetes/: accepted by Prefect's work-pool schema,
rendered with Prefect's own templating into a Job whose keys come from Secrets (never the file), with
the GPU pool's `nvidia.com/gpu` limit, and the two files alike apart from what makes one a GPU pool."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prefect.server.schemas.actions import WorkPoolCreate
from prefect.utilities.templating import apply_values

TEMPLATES = Path(__file__).resolve().parents[2] / "deployments" / "kubernetes"
GPU_ONLY = {"gpu_count", "node_selector"}


def load(kind: str) -> dict[str, Any]:
    return json.loads((TEMPLATES / f"{kind}-job-template.json").read_text(encoding="utf-8"))


def rendered(template: dict[str, Any], **values: Any) -> dict[str, Any]:
    """The job configuration as a Kubernetes worker fills it: each variable's default, then `values`."""
    defaults = {k: v.get("default") for k, v in template["variables"]["properties"].items()}
    return apply_values(template["job_configuration"], {**defaults, **values})


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
def test_prefect_accepts_the_template_and_it_renders_a_job(kind: str) -> None:
    template = load(kind)
    pool = WorkPoolCreate(name=f"fair-{kind}", type="kubernetes", base_job_template=template)
    assert pool.base_job_template == template
    job = rendered(template, name="stage-run", command="prefect flow-run execute")
    container = job["job_manifest"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"fair-{'cuda' if kind == 'gpu' else 'cpu'}:latest"
    assert container["args"] == "prefect flow-run execute"
    secrets = [ref["secretRef"]["name"] for ref in container["envFrom"]]
    assert secrets == ["fair-api-keys", "fair-storage"]
    assert job["env"]["FAIR_SCRATCH_DIR"] == "/scratch"
    assert {"name": "scratch", "mountPath": "/scratch"} in container["volumeMounts"]
    limits = container["resources"].get("limits", {})
    assert limits == ({"nvidia.com/gpu": 1} if kind == "gpu" else {})
    text = json.dumps(template)
    assert "sk-" not in text and 'SECRET_ACCESS_KEY":' not in text


def test_an_undeclared_placeholder_is_refused() -> None:
    template = load("cpu")
    template["job_configuration"]["job_manifest"]["metadata"]["annotations"] = "{{ owner }}"
    with pytest.raises(ValueError, match="owner"):
        WorkPoolCreate(name="broken", type="kubernetes", base_job_template=template)


def test_the_two_templates_differ_only_in_the_gpu_parts() -> None:
    cpu, gpu = load("cpu"), load("gpu")
    assert set(gpu["variables"]["properties"]) - set(cpu["variables"]["properties"]) == GPU_ONLY
    assert set(cpu["job_configuration"]) == set(gpu["job_configuration"])
    cpu_pod = cpu["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    gpu_pod = gpu["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    assert set(gpu_pod) - set(cpu_pod) == {"nodeSelector", "tolerations"}
    same = [
        {k: v for k, v in c.items() if k != "resources"}
        for c in (*cpu_pod["containers"], *gpu_pod["containers"])
    ]
    assert same[0] == same[1]  # the image is a variable: its default differs, not the container
