"""Sweep expansion: built-in ablations, explicit and varied settings, seeds, leave-one-out, bad input."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fair_core.config import ConfigError, load_config
from fair_core.config.sweep import SweepConfig, VariantSpec
from fair_core.sweep import expand_sweep, parse_vary, read_sweep_file, reference_label, sweep_config, sweep_id


@pytest.fixture(scope="module")
def demo():  # type: ignore[no-untyped-def]
    return load_config("demo")


def test_paper_ablation_is_the_papers_variants_each_one_switch(demo) -> None:  # type: ignore[no-untyped-def]
    variants = expand_sweep(demo, SweepConfig(ablation="paper"))
    labels = [v.label for v in variants]
    assert labels == [
        "fair", "no-review", "no-feedback", "only-gpt", "only-gemini", "only-mixtral", "all-rationales",
    ]  # fmt: skip
    by = {v.label: v.config for v in variants}
    assert (
        by["fair"] == demo and by["fair"].run_id() == demo.run_id()
    )  # the base run itself: its cache reused
    assert by["no-review"].review.enabled is False
    assert by["no-feedback"].training.use_feedback is False
    assert by["only-gemini"].training.teachers == ["gemini"]
    assert [t.name for t in by["only-gemini"].teachers] == ["gpt", "gemini", "mixtral"]  # the others review
    assert by["all-rationales"].training.rationales_per_question == "all"
    assert len({v.run_id for v in variants}) == len(variants)


def test_committee_ablation_leaves_each_teacher_out_of_everything(demo) -> None:  # type: ignore[no-untyped-def]
    base = demo.model_copy(
        update={
            "training": demo.training.model_copy(update={"teachers": ["gpt", "mixtral"]}),
            "simulator": demo.simulator.model_copy(update={"wrong_rates": {"gpt": 0.1, "mixtral": 0.4}}),
            "review": demo.review.model_copy(update={"min_valid_scores": 2}),
        }
    )
    variants = {v.label: v for v in expand_sweep(base, SweepConfig(ablation="committee"))}
    assert list(variants) == ["fair", "without-gpt", "without-gemini", "without-mixtral"]
    gone = variants["without-gpt"]
    assert [t.name for t in gone.config.teachers] == ["gemini", "mixtral"]
    assert gone.config.training.teachers == ["mixtral"]
    assert gone.config.simulator.wrong_rates == {"mixtral": 0.4}
    assert gone.config.review.min_valid_scores == 1  # two teachers: one review per rationale at most
    assert gone.meta["without_teacher"] == "gpt"


def test_committee_ablation_needs_three_teachers_with_review(demo) -> None:  # type: ignore[no-untyped-def]
    two = demo.model_copy(update={"teachers": demo.teachers[:2]})
    with pytest.raises(ConfigError, match="peer review needs two teachers"):
        expand_sweep(two, SweepConfig(ablation="committee"))


def test_variants_vary_and_seeds_make_the_cross_product(demo) -> None:  # type: ignore[no-untyped-def]
    sweep = SweepConfig(
        variants=[VariantSpec(label="low", set={"review.threshold": 2.0}), VariantSpec(label="base")],
        vary={"training.alpha": [0.3, 0.7]},
        seeds=[1, 2],
    )
    variants = expand_sweep(demo, sweep)
    assert len(variants) == 2 * 2 * 2
    first = variants[0]
    assert (first.label, first.seed) == ("low, training.alpha=0.3", 1)
    assert first.config.review.threshold == 2.0 and first.config.training.alpha == 0.3
    assert first.config.run.seed == 1
    assert reference_label(sweep, variants) == "low, training.alpha=0.3"
    assert sweep_id(demo, sweep, variants) == sweep_id(demo, sweep, list(variants))
    assert sweep_id(demo, sweep, variants).startswith("demo-sweep-")


def test_bad_variants_are_named(demo) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"sweep variant 'x'.*review.threshold"):
        expand_sweep(demo, SweepConfig(variants=[VariantSpec(label="x", set={"review.threshold": 9})]))
    same = SweepConfig(variants=[VariantSpec(label="a"), VariantSpec(label="b")])
    with pytest.raises(ConfigError, match=r"'a' and 'b'.*same configuration"):
        expand_sweep(demo, same)
    with pytest.raises(ConfigError, match="not a variant label"):
        reference_label(SweepConfig(reference="nope"), expand_sweep(demo, SweepConfig(ablation="paper")))
    with pytest.raises(ConfigError, match="expected KEY=V1,V2"):
        parse_vary(["training.alpha"])
    with pytest.raises(ConfigError, match=r"sweep.seeds: seeds \[1, 1\]: each seed once"):
        sweep_config({"seeds": [1, 1]})
    with pytest.raises(ConfigError, match=r"sweep\.variants\.0\.label"):
        sweep_config({"variants": [{"set": {}}]})


def test_vary_values_are_yaml_and_lists_stay_whole() -> None:
    assert parse_vary(["training.alpha=0.3,0.5", "training.teachers=[gpt],[gpt, gemini]"]) == {
        "training.alpha": [0.3, 0.5],
        "training.teachers": [["gpt"], ["gpt", "gemini"]],
    }


def test_the_demo_sweep_preset_runs_alone_and_expands_to_21_runs() -> None:
    base = load_config("demo-sweep")  # `fair run` reads a sweep file without its sweep section
    assert base.simulator.wrong_rates == {"gpt": 0.1, "gemini": 0.25, "mixtral": 0.45}
    plan = sweep_config(read_sweep_file("demo-sweep"))
    assert plan.ablation == "paper" and plan.seeds == [0, 1, 2]
    variants = expand_sweep(base, plan)
    assert len(variants) == 21 and {v.seed for v in variants} == {0, 1, 2}


def test_cli_dry_run_lists_the_runs_and_their_shared_round0(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from flows.cli import app

    args = ["sweep", "-c", "demo", "--ablation", "committee", "--seeds", "0,1", "--dry-run"]
    result = CliRunner().invoke(app, [*args, "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "8 runs (1 round-0 inference group(s))" in result.output  # greedy: the seed changes nothing
    tokens = ["sweep", "-c", "demo", "--vary", "student.max_new_tokens=16,32", "--dry-run"]
    result = CliRunner().invoke(app, [*tokens, "--data-dir", str(tmp_path)])
    assert "2 runs (2 round-0 inference group(s))" in result.output  # ...a longer answer does
    bad = CliRunner().invoke(app, ["sweep", "-c", "demo", "--seeds", "a,b", "--dry-run"])
    assert bad.exit_code == 2 and "error:" in bad.output and "--seeds" in bad.output
