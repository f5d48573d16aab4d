"""`fair view` in headless Chromium: the served page (filter, search, open a question, its rationales and
reviews), a clean Ctrl-C, and the static share folder opened from file://. Screenshots go to
test-output/browser/view-*.png."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fair_core.view import Filters, RunView
from tests.core.view.run_builder import EVIL, build_run
from tests.e2e.helpers import FAIR
from tests.e2e.test_browser import SHOTS, page  # noqa: F401 - the Chromium page fixture

pytestmark = pytest.mark.slow
RUN = "view-run"


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    build_run(tmp_path / "data", RUN, n_train=60, n_test=18)  # 78 questions: two pages of 50
    return tmp_path / "data"


@pytest.fixture()
def served(data_dir: Path, cli_env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`fair view RUN --no-open --port 0` as a subprocess; yields its URL (from its first line)."""
    process = subprocess.Popen(
        [FAIR, "view", RUN, "--data-dir", str(data_dir), "--no-open", "--port", "0"],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line, line + (
            process.stderr.read() if process.poll() is not None else ""
        )
        yield line.split(" at ")[1].split()[0], process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _rows(browser_page) -> int:  # type: ignore[no-untyped-def]
    return browser_page.locator("#questions tbody tr").count()


def test_filter_search_and_open_a_question(served, page) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from playwright.sync_api import expect

    url, process = served
    page.goto(url)
    expect(page.locator("#count")).to_contain_text("of 78 questions match")
    assert _rows(page) == 50
    expect(page.locator("#pageinfo")).to_have_text("page 1 of 2")
    page.screenshot(path=SHOTS / "view-1-list.png", full_page=True)

    page.locator("#filters input[name=accepted]").check()
    page.select_option("#teacher", "gpt")
    expect(page.locator("#count")).not_to_contain_text("78 of 78")
    accepted_by_gpt = _rows(page)
    assert 0 < accepted_by_gpt < 50
    with urllib.request.urlopen(f"{url}api/page?accepted=1&teacher=gpt", timeout=30) as response:
        total = json.loads(response.read())["total"]
    expect(page.locator("#count")).to_have_text(f"{total} of 78 questions match")
    page.screenshot(path=SHOTS / "view-2-filtered.png", full_page=True)

    page.locator("#filters input[name=accepted]").uncheck()  # gpt's rationales, accepted or not
    page.fill("#search", "onerror")  # only the rationale holding EVIL (by gpt)
    page.click("#apply")
    expect(page.locator("#count")).to_have_text("1 of 78 questions match")
    page.locator("#questions tbody tr").first.click()
    detail = page.locator("#detail")
    expect(detail.locator(".rationale").first).to_be_visible()
    expect(detail).to_contain_text(EVIL)  # shown as text: no <img> was made from it
    assert detail.locator("img").count() == 0 and detail.locator("b", has_text="not bold").count() == 0
    expect(detail).to_contain_text("gold answer:")
    expect(detail).to_contain_text("Rationale by gpt")
    expect(detail.locator(".rationale").first.locator("th", has_text="reviewer")).to_be_visible()
    expect(detail).to_contain_text("Review by gemini of gpt")
    expect(detail).to_contain_text("before: student_0 on the training set (round 0)")
    expect(detail).to_contain_text("Training samples built from it")
    page.screenshot(path=SHOTS / "view-3-question.png", full_page=True)

    process.send_signal(signal.SIGINT)  # Ctrl-C: stops cleanly, no traceback
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0 and "Traceback" not in err, err
    for name in ("view-1-list.png", "view-2-filtered.png", "view-3-question.png"):
        assert (SHOTS / name).stat().st_size > 10_000


def test_static_share_folder_opens_from_file(data_dir: Path, cli_env: dict[str, str], page) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from playwright.sync_api import expect

    result = subprocess.run(
        [FAIR, "view", RUN, "--data-dir", str(data_dir), "--share", "--no-open"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    index = data_dir / "runs" / RUN / "view" / "index.html"
    assert result.stdout.strip() == str(index)
    page.goto(index.resolve().as_uri())
    expect(page.locator("#count")).to_contain_text("78 of 78 questions match")
    page.locator("#filters input[name=accepted]").check()
    page.select_option("#teacher", "gpt")
    total = len(RunView(data_dir, RUN).matching(Filters(accepted=True, teacher="gpt")))
    expect(page.locator("#count")).to_have_text(f"{total} of 78 questions match")  # the JS filter = Python's
    page.fill("#search", "onerror")
    page.click("#apply")
    page.locator("#filters input[name=accepted]").uncheck()
    page.select_option("#teacher", "")
    expect(page.locator("#count")).to_have_text("1 of 78 questions match")
    page.locator("#questions tbody tr").first.click()
    expect(page.locator("#detail .rationale").first).to_be_visible()
    expect(page.locator("#detail")).to_contain_text(EVIL)
    assert page.locator("#detail img").count() == 0
    page.screenshot(path=SHOTS / "view-4-static.png", full_page=True)
