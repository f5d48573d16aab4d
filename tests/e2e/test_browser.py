"""The Prefect UI in headless Chromium: fill a deployment's parameter form, Run, see Completed and the round's
summary artifact. Screenshots go to test-output/browser/ (kept by CI as test outputs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fair_core.config import parse_config
from tests.e2e.prefect_api import Server

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "browser"
SHOT_NAMES = ("1-deployment.png", "2-form.png", "3-completed.png", "4-summary-artifact.png")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


@pytest.fixture()
def page():  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install_chromium.sh (make test does)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def test_run_a_round_from_the_deployment_form(fair_server: Server, page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    ui = fair_server.api.removesuffix("/api")
    deployment = fair_server.deployment("run-round", "fair-round")
    page.goto(f"{ui}/deployments/deployment/{deployment['id']}")
    expect(page.get_by_text("fair-round").first).to_be_visible()
    page.screenshot(path=SHOTS / "1-deployment.png")

    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run").click()
    expect(page.get_by_text("Rounds (Optional)").first).to_be_visible()  # the config's form has rendered
    name = next(box for box in page.locator("textarea").all() if box.input_value() == "served")
    name.fill("browser")  # config.run.name: a new run, so the round really runs
    page.screenshot(path=SHOTS / "2-form.png", full_page=True)
    before = {r["id"] for r in fair_server.runs_of("run-round", "fair-round")}
    page.get_by_role("button", name="Submit").click()

    flow_run = fair_server.new_run("run-round", "fair-round", before)  # from the API, then its page
    page.goto(f"{ui}/runs/flow-run/{flow_run}")
    assert fair_server.wait(flow_run)["state"]["type"] == "COMPLETED", fair_server.tail()
    page.reload()
    expect(page.get_by_text("Completed").first).to_be_visible()
    page.screenshot(path=SHOTS / "3-completed.png", full_page=True)

    data = dict(fair_server.config, run=dict(fair_server.config["run"], name="browser"))
    run_id = parse_config(data).run_id()
    page.goto(f"{ui}/artifacts/key/fair-{run_id}-round-0")
    page.locator("a[href*='/artifacts/artifact/']").first.click()  # the latest version of the summary
    expect(page.get_by_text("test_accuracy_after").first).to_be_visible()
    expect(page.get_by_text("train_questions").first).to_be_visible()
    page.screenshot(path=SHOTS / "4-summary-artifact.png", full_page=True)
    assert all((SHOTS / f"{n}").stat().st_size > 10_000 for n in SHOT_NAMES)
