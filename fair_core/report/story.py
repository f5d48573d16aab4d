"""The opening of the HTML run report: the run's story (config in words and as YAML, accuracy per round
with n and interval, cost per teacher, the viewer link), as escaped HTML fragments."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fair_core.report.summary import summary_rate
from fair_core.stats import format_rate

#: Config keys whose values are never shown (the config names its keys' environment variables only, but
#: a hand-written one may hold a key).
SECRET_KEYS = frozenset(
    {"api_key", "token", "hf_token", "access_token", "password", "secret", "authorization"}
)
#: The viewer `fair view RUN_ID` writes, relative to the run folder.
VIEWER = Path("view") / "index.html"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def redacted(value: Any) -> Any:
    """A config (dict form) with every secret-looking value replaced by '***'."""
    if isinstance(value, Mapping):
        return {
            k: "***" if str(k).lower() in SECRET_KEYS and v not in (None, "") else redacted(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def _model(annotation: Any) -> Any:
    """The pydantic model of a field (`X`, `X | None`, `list[X]`), or None."""
    from typing import get_args

    from pydantic import BaseModel

    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def ordered(value: Any, model: Any) -> Any:
    """A config (dict form; `config.json` sorts its keys) with its keys in the order of the config model's
    fields (`run`, `dataset`, `student`, `teachers`, ...: the order of the docs), unknown keys last."""
    if isinstance(value, list):
        return [ordered(v, model) for v in value]
    if model is None or not isinstance(value, Mapping):
        return value
    fields = model.model_fields
    keys = [k for k in fields if k in value] + [k for k in value if k not in fields]
    return {k: ordered(value[k], _model(fields[k].annotation) if k in fields else None) for k in keys}


def config_yaml(config: Mapping[str, Any]) -> str:
    """The whole config as YAML (secrets redacted), in the config model's section and field order."""
    import yaml

    from fair_core.config import FairConfig

    shown = ordered(redacted(dict(config)), FairConfig)
    return yaml.safe_dump(shown, sort_keys=False, allow_unicode=True, width=110)


def _section(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = config.get(name)
    return value if isinstance(value, Mapping) else {}


def _dataset(config: Mapping[str, Any]) -> str:
    d = _section(config, "dataset")
    name = str(d.get("name", "-"))
    if name == "reasoning_gym":
        gym = _section(d, "gym")
        where = f"reasoning-gym {gym.get('task', '?')}, {gym.get('train_size', '?')} train / "
        where += f"{gym.get('test_size', '?')} test questions"
    elif name == "custom":
        custom = _section(d, "custom")
        where = f"custom {custom.get('name', '')}: {custom.get('path') or 'Hub ' + str(custom.get('hub_id'))}"
    elif d.get("source") == "local":
        where = f"{name} from {d.get('path')}"
    else:
        where = f"{name} from the Hub" + (f" ({d['hub_id']})" if d.get("hub_id") else "")
    limits = [f"first {d[k]} {k[:-6]}" for k in ("train_limit", "test_limit") if d.get(k)]
    splits = f"splits {d.get('train_split', 'train')} / {d.get('test_split', 'test')}"
    return ", ".join([where, splits, *limits])


def _student(config: Mapping[str, Any]) -> str:
    s = _section(config, "student")
    budget = s.get("max_new_tokens", "?")
    return f"{s.get('model', '-')} (backend {s.get('backend', 'auto')}, {budget} new tokens)"


def _review(config: Mapping[str, Any]) -> str:
    r = _section(config, "review")
    if r.get("enabled") is False:
        return "off (every parsed rationale is kept)"
    text = f"accept when the {r.get('aggregation', 'mean')} valid score > {r.get('threshold', '?')}"
    text += f", at least {r.get('min_valid_scores', '?')} valid score(s)"
    return text + (", gold check on" if r.get("gold_check") else "")


def _training(config: Mapping[str, Any]) -> str:
    t = _section(config, "training")
    method = str(t.get("method", "lora"))
    if method == "lora":
        method += f" r={t.get('lora_r', '?')} alpha={t.get('lora_alpha', '?')}"
    epochs = t.get("epochs", "?")
    text = (
        f"{method}, {epochs} epoch{'' if epochs == 1 else 's'}, learning rate {t.get('learning_rate', '?')}, "
    )
    text += f"batch {t.get('batch_size', '?')} x {t.get('grad_accum', '?')} accumulation"
    tasks = "rationales + feedback" if t.get("use_feedback", True) else "rationales only"
    return f"{text}, {tasks}, {t.get('data', 'round')} data"


def config_facts(config: Mapping[str, Any], rounds_done: int) -> dict[str, str]:
    """The config in words: dataset, student, rounds, review, training, budget, seed, simulator."""
    run = _section(config, "run")
    planned = run.get("rounds")
    facts = {
        "dataset": _dataset(config),
        "student": _student(config),
        "rounds": f"{rounds_done} of {planned} finished" if planned else str(rounds_done),
        "peer review": _review(config),
        "training": _training(config),
        "budget": f"${run['budget_usd']:g}" if run.get("budget_usd") is not None else "none",
        "seed": str(run.get("seed", "-")),
    }
    if _section(config, "simulator").get("enabled"):
        facts["teachers' replies"] = "simulated (offline simulator: no provider was asked)"
    return facts


def teacher_config_rows(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per configured teacher: name, provider, model, endpoint, sampling and reply budget."""
    rows = []
    for t in config.get("teachers") or []:
        if isinstance(t, Mapping):
            rows.append(
                {
                    "teacher": t.get("name"),
                    "provider": t.get("provider", "openai"),
                    "model": t.get("model"),
                    "endpoint": t.get("base_url") or "provider default",
                    "temperature": t.get("temperature"),
                    "max tokens": t.get("max_tokens"),
                }
            )
    return rows


def accuracy_story_rows(summaries: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Per round: test accuracy before and after (n, Wilson 95% interval), training accuracy, mistakes,
    rationales accepted, training samples, cost paid."""
    rows = []
    for s in summaries:
        cost = s.get("cost_usd")
        samples = [s.get("rationale_samples"), s.get("feedback_samples")]
        accepted = f"{_plain(s.get('rationales_accepted'))} of {_plain(s.get('rationales'))}"
        rows.append(
            {
                "round": str(s.get("round")),
                "test accuracy before": _rate(s, "test_accuracy_before"),
                "test accuracy after": _rate(s, "test_accuracy_after"),
                "training accuracy": _rate(s, "train_accuracy"),
                "mistakes": _plain(s.get("mistakes")),
                "rationales accepted": accepted,
                "training samples (rationale + feedback)": " + ".join(_plain(v) for v in samples),
                "cost paid": "-" if cost is None else f"${float(cost):.4f}",
            }
        )
    return rows


def _plain(value: Any) -> str:
    return "-" if value is None else str(value)


def _rate(summary: Mapping[str, Any], key: str) -> str:
    rate = summary_rate(summary, key)
    if rate is not None:
        return format_rate(rate)
    value = summary.get(key)
    return "-" if value is None else f"{float(value):.1%} (n unknown)"


def viewer_html(run_root: Path, run_id: str, report_path: Path | None) -> str:
    """A link to the run's viewer (`fair view` writes `<run>/view/index.html`), relative to the report;
    without one, the command that builds it."""
    viewer = run_root / VIEWER
    if viewer.is_file():
        base = (report_path or run_root / "report.html").parent
        href = Path(os.path.relpath(viewer.resolve(), base.resolve())).as_posix()
        return (
            f'<p class="viewer">What the committee wrote, question by question: '
            f'<a href="{_e(href)}">open the run viewer</a> ({_e(href)}).</p>'
        )
    return (
        '<p class="viewer">What the committee wrote, question by question: run '
        f"<code>fair view {_e(run_id)}</code> to open the run viewer.</p>"
    )


def facts_html(facts: Mapping[str, Any]) -> str:
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts.items()) + "</dl>"


def yaml_html(config: Mapping[str, Any], hashes: Sequence[str]) -> str:
    """The full config as YAML in a collapsed `<details>` (hash in the summary line)."""
    suffix = f" (config hash {', '.join(hashes)})" if hashes else ""
    return (
        f"<details><summary>Full configuration (YAML){_e(suffix)}</summary>"
        f"<pre>{_e(config_yaml(config))}</pre></details>"
    )
