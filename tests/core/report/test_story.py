"""The report's opening (the run's story): cost per teacher with two teachers on one wire protocol, accuracy
with n and interval per round, the viewer link or the command that builds it, the config as YAML with no
secret in it, labels for people before any summary key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from fair_core.report.html_page import write_run_report
from fair_core.report.story import redacted
from fair_core.store import RunStore

RUN_ID = "story-run"
SECRET = "sk-story-0123456789abcdef"  # in the environment and in a hand-written config: never in the page
CHROMIUM = "/usr/bin/chromium"  # launched as tests/e2e/test_browser.py does
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
DEEPINFRA = "https://api.deepinfra.com/v1/openai"


def _examples(ids: list[str], split: str) -> list[dict[str, Any]]:
    return [
        {"id": i, "split": split, "dataset": "svamp", "kind": "numeric", "question": "q", "answer": "1"}
        for i in ids
    ]


def _answers(ids: list[str], split: str, correct: list[bool]) -> list[dict[str, Any]]:
    return [
        {"example_id": i, "split": split, "model": "m", "prompt": "p", "completion": "c", "correct": ok}
        for i, ok in zip(ids, correct, strict=True)
    ]


def _call(teacher: str, provider: str, model: str, role: str, cost: float, n: int) -> dict[str, Any]:
    return {
        "request_key": f"{teacher}-{role}-{n}",
        "teacher": teacher,
        "role": role,
        "provider": provider,
        "model": model,
        "status": "ok",
        "prompt_tokens": 100,
        "completion_tokens": 50,
        "cached": False,
        "mode": "online",
        "cost_usd": cost,
        "billed_usd": cost,
    }


CONFIG: dict[str, Any] = {
    "run": {"name": "story", "rounds": 2, "seed": 7, "budget_usd": 5.0, "data_dir": "data"},
    "dataset": {"name": "svamp", "source": "hub", "train_split": "train", "test_split": "test"},
    "student": {"model": "tiny-student", "backend": "hf", "max_new_tokens": 64},
    "teachers": [
        {"name": "gpt", "provider": "openai", "model": "gpt-4o-mini", "api_key": SECRET},
        {
            "name": "mixtral",
            "provider": "openai",
            "model": "mistralai/Mixtral-8x7B-Instruct-v0.1",
            "base_url": DEEPINFRA,
            "api_key_env": "DEEPINFRA_API_KEY",
            "headers": {"Authorization": f"Bearer {SECRET}"},
        },
        {"name": "gemini", "provider": "gemini", "model": "gemini-2.0-flash"},
    ],
    "review": {"enabled": True, "threshold": 3.0, "min_valid_scores": 1},
    "training": {
        "method": "lora",
        "lora_r": 16,
        "lora_alpha": 32,
        "epochs": 1,
        "learning_rate": 0.0002,
        "batch_size": 4,
        "grad_accum": 2,
    },
}
MODELS = {
    "gpt": ("openai", "gpt-4o-mini"),
    "mixtral": ("openai", "mistralai/Mixtral-8x7B-Instruct-v0.1"),
    "gemini": ("gemini", "gemini-2.0-flash"),
}
COSTS = {"gpt": 0.125, "mixtral": 0.0375, "gemini": 0.5}


def _build(data_dir: Path) -> RunStore:
    """Two finished rounds: 4 test questions each (1 then 3 right after training), calls of three teachers
    (two on the openai wire protocol), the config as `fair run` stores it plus secret-looking fields."""
    run = RunStore(data_dir, RUN_ID)
    run.save_config(CONFIG)
    train, test = ["a", "b", "c"], ["t1", "t2", "t3", "t4"]
    after = [[True, False, False, False], [True, True, True, False]]
    for k in range(2):
        r = run.round(k)
        r.write("examples", _examples(train, "train"))
        r.write("test_examples", _examples(test, "test"))
        r.write("student_outputs", _answers(train, "train", [True, False, False]))
        r.write("mistakes", [{"example_id": "b"}, {"example_id": "c"}])
        if k == 0:
            r.write("baseline_evaluation", _answers(test, "test", [False] * 4))
        r.write("evaluation", _answers(test, "test", after[k]))
        for teacher, (provider, model) in MODELS.items():
            calls = [
                _call(teacher, provider, model, role, COSTS[teacher] / 2, k)
                for role in ("rationale", "review")
            ]
            r.write("teacher_calls", calls, part=f"{teacher}-{k}")
        r.set_meta(config_hash="feed1234", config=CONFIG, summary={"round": k, "dataset": "svamp"})
    return run


@pytest.fixture
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[RunStore, Path]:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("DEEPINFRA_API_KEY", SECRET)
    run = _build(tmp_path)
    return run, write_run_report(tmp_path, RUN_ID)


def _section(page: str, title: str) -> str:
    start = page.index(f"<h2>{title}</h2>")
    end = page.find("<h2>", start + 1)
    return page[start : end if end >= 0 else None]


def _rows(section: str) -> list[list[str]]:
    return [
        [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", section.split("<details>")[0])
    ]


def test_cost_per_teacher_separates_two_teachers_on_one_protocol(report: tuple[RunStore, Path]) -> None:
    _, path = report
    rows = {r[0]: r for r in _rows(_section(path.read_text(), "Cost per teacher")) if r}
    assert set(rows) == {"gpt", "mixtral", "gemini"}
    assert rows["gpt"][1:3] == ["openai", "gpt-4o-mini"]
    assert rows["mixtral"][1:3] == ["openai", "mistralai/Mixtral-8x7B-Instruct-v0.1"]
    for teacher, cost in COSTS.items():  # two rounds each
        assert f"${2 * cost:.4f}" in rows[teacher], rows[teacher]


def test_accuracy_per_round_with_n_and_interval(report: tuple[RunStore, Path]) -> None:
    _, path = report
    rows = _rows(_section(path.read_text(), "Student accuracy per round"))
    story = [r for r in rows if r and r[0] in ("0", "1")][:2]
    assert [r[0] for r in story] == ["0", "1"]
    # round 0: 0/4 before, 1/4 after; round 1 starts from round 0's student: 1/4 before, 3/4 after
    for cell, (k, n) in zip(
        [story[0][1], story[0][2], story[1][1], story[1][2]], [(0, 4), (1, 4), (1, 4), (3, 4)], strict=True
    ):
        assert f"({k}/{n}, 95% CI " in cell, cell
    assert "n unknown" not in path.read_text()


def test_viewer_link_when_the_viewer_exists_else_the_command(report: tuple[RunStore, Path]) -> None:
    run, path = report
    page = path.read_text()
    assert f"<code>fair view {RUN_ID}</code>" in page and 'href="view/index.html"' not in page
    viewer = run.root / "view" / "index.html"
    viewer.parent.mkdir()
    viewer.write_text("<html></html>", encoding="utf-8")
    page = write_run_report(run.root.parent.parent, RUN_ID).read_text()
    assert '<a href="view/index.html">' in page and f"fair view {RUN_ID}" not in page
    # a report written elsewhere links to the viewer relative to itself
    elsewhere = run.root.parent.parent / "reports" / "story.html"
    page = write_run_report(run.root.parent.parent, RUN_ID, elsewhere).read_text()
    assert f'href="../runs/{RUN_ID}/view/index.html"' in page


def test_config_yaml_is_there_and_no_secret_is(report: tuple[RunStore, Path]) -> None:
    _, path = report
    page = path.read_text()
    assert "<summary>Full configuration (YAML) (config hash feed1234)</summary>" in page
    yaml_part = page.split("Full configuration (YAML)")[1].split("</details>")[0]
    assert "api_key: &#x27;***&#x27;" in yaml_part or "api_key: &#39;***&#39;" in yaml_part, yaml_part
    assert "Authorization: &#x27;***&#x27;" in yaml_part, yaml_part
    assert "api_key_env: DEEPINFRA_API_KEY" in yaml_part and DEEPINFRA in yaml_part
    assert SECRET not in page
    # in the config's own order (config.json sorts its keys), not alphabetically
    text = "\n" + yaml_part.split("<pre>")[1]
    starts = [text.index(f"\n{k}:") for k in ("run", "dataset", "student", "teachers", "review")]
    assert starts == sorted(starts), text
    assert yaml_part.index("- name: mixtral") < yaml_part.index("  provider: openai\n  model: mistralai")
    assert redacted({"token": "", "api_key": None}) == {"token": "", "api_key": None}  # nothing to hide


def test_the_report_opens_with_words_not_summary_keys(report: tuple[RunStore, Path]) -> None:
    _, path = report
    page = path.read_text()
    opening = page[: page.index("<h2>Rounds</h2>")]
    labels = re.findall(r"<(?:th|dt)[^>]*>(.*?)</(?:th|dt)>", opening)  # table headers, fact names
    keys = [x for x in labels if re.fullmatch(r"[a-z]+(?:_[a-z0-9]+)+", x)]
    assert not keys, keys
    facts = _section(page, "The run")
    assert "svamp from the Hub" in facts and "tiny-student" in facts and "2 of 2 finished" in facts
    assert "lora r=16 alpha=32, 1 epoch, learning rate 0.0002, batch 4 x 2 accumulation" in facts
    teachers = {r[0]: r for r in _rows(facts) if r}
    assert teachers["mixtral"][:4] == ["mixtral", "openai", "mistralai/Mixtral-8x7B-Instruct-v0.1", DEEPINFRA]
    assert teachers["gpt"][3] == "provider default"
    rounds = _section(page, "Rounds")
    assert "test accuracy after the round" in rounds and "cost of teacher mixtral" in rounds
    assert "<td>teacher_cost_mixtral_usd</td>" in rounds.split("<details>")[1]  # the raw keys: collapsed


@pytest.mark.slow
def test_screenshot_of_the_report_opening(report: tuple[RunStore, Path]) -> None:
    """The opening as a browser shows it (headless Chromium): test-output/browser/report-story.png."""
    playwright = pytest.importorskip("playwright.sync_api")
    run, _ = report
    viewer = run.root / "view" / "index.html"
    viewer.parent.mkdir()
    viewer.write_text("<html><body>viewer</body></html>", encoding="utf-8")
    path = write_run_report(run.root.parent.parent, RUN_ID)
    out = Path("test-output/browser/report-story.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.goto(path.resolve().as_uri())
            assert page.locator("h1").inner_text() == f"FAIR run {RUN_ID}"
            page.get_by_text("Full configuration (YAML)").click()  # open the collapsed config
            page.screenshot(path=str(out), full_page=False)
            page.get_by_role("link", name="open the run viewer").click()
            assert page.url.endswith("/view/index.html")
        finally:
            browser.close()
    assert out.stat().st_size > 10_000
