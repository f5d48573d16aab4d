"""The deployment forms in headless Chromium: the short form (fair-demo) filled and run to Completed, the
full form (fair-pipeline) with readable labels and no null toggles, and a flow run page whose task runs are
named by stage, teacher and shard. Screenshots: test-output/browser/form-short.png, form-advanced.png,
run-named-tasks.png."""

from __future__ import annotations

import pytest

from flows.short_form import short_config
from tests.e2e.prefect_api import Server
from tests.e2e.test_browser import SHOTS, page  # noqa: F401 - the Chromium page fixture

pytestmark = pytest.mark.slow
NULL_TOGGLE = 'Property is type "None"'


def _custom_run(server: Server, page, flow: str, name: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    ui = server.api.removesuffix("/api")
    deployment = server.deployment(flow, name)
    page.goto(f"{ui}/deployments/deployment/{deployment['id']}")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run").click()


def test_short_form_runs_to_completed(fair_server: Server, page) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from playwright.sync_api import expect

    _custom_run(fair_server, page, "run-fair", "fair-demo")
    expect(page.get_by_text("Preset").first).to_be_visible()
    expect(page.get_by_text("Rounds (0: the preset's)").first).to_be_visible()
    expect(page.get_by_text("Advanced: the full configuration (overrides)").first).to_be_visible()
    assert NULL_TOGGLE not in page.content()
    page.get_by_role("spinbutton").first.fill("1")  # Rounds: the form's first number
    page.set_viewport_size({"width": 1400, "height": 2400})  # the UI scrolls inside its own panel
    page.screenshot(path=SHOTS / "form-short.png")
    page.set_viewport_size({"width": 1400, "height": 1000})
    before = {r["id"] for r in fair_server.runs_of("run-fair", "fair-demo")}
    page.get_by_role("button", name="Submit").click()

    flow_run = fair_server.new_run("run-fair", "fair-demo", before)
    page.goto(f"{fair_server.api.removesuffix('/api')}/runs/flow-run/{flow_run}")
    run = fair_server.wait(flow_run)
    assert run["state"]["type"] == "COMPLETED", fair_server.tail()
    assert run["parameters"]["rounds"] == 1, run["parameters"]  # what was typed reached the run
    form = {k: v for k, v in run["parameters"].items() if k != "refresh"}
    run_id = short_config(**form).run_id()
    assert run["name"] == run_id  # the flow run is named after the FAIR run

    rounds_ = fair_server.post("/flow_runs/filter", {"flow_runs": {"name": {"like_": f"{run_id} round 0"}}})
    (round_run,) = [r for r in rounds_ if r["name"] == f"{run_id} round 0"]
    ui = fair_server.api.removesuffix("/api")
    page.goto(f"{ui}/runs/flow-run/{round_run['id']}?tab=Task+Runs")
    expect(page.get_by_text("Completed").first).to_be_visible()
    expect(page.get_by_text("rationales gpt").first).to_be_visible()
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.screenshot(path=SHOTS / "run-named-tasks.png")


def test_full_form_reads_well(fair_server: Server, page) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from playwright.sync_api import expect

    _custom_run(fair_server, page, "run-pipeline", "fair-pipeline")
    expect(page.get_by_text("LoRA rank").first).to_be_visible()
    expect(page.get_by_text("KV cache (GB)").first).to_be_visible()
    text = page.content()
    assert NULL_TOGGLE not in text and "Lora R" not in text and "Vllm Kv Cache Gb" not in text
    page.set_viewport_size({"width": 1400, "height": 4000})
    page.screenshot(path=SHOTS / "form-advanced.png")
