"""Round 0 shared between the runs of a sweep: which runs may share it, and a task that adopts its tables.

Runs whose student, data, student prompts and decoding are the same answer round 0 identically, so a
sweep runs round 0's student inference (and baseline evaluation) once, in one of them, and every other
run of that group adopts the tables with `adopt-shared-tables` (a copy with its own manifest entries).
"""

from __future__ import annotations

from dataclasses import replace

from prefect import task

from fair_core.config import FairConfig
from fair_core.evaluation import seed_parts
from fair_core.hashing import stable_hash
from fair_core.refs import PromptsRef, RoundRef, TableRef
from fair_core.store.parquet import RoundStore
from tasks.caching import content_cache_key, fingerprint
from tasks.inference import evaluation_prompts, generation_params
from tasks.logs import task_logger

#: The round-0 tables a run adopts from its group's round 0 (those that exist there).
SHARED_TABLES = ("examples", "test_examples", "student_outputs", "mistakes", "baseline_evaluation")
#: Per-seed tables (one part per evaluation seed) adopted part by part.
SHARED_SEED_TABLES = ("baseline_evaluation_seeds",)
#: Manifest entries about those tables that travel with them.
SHARED_MANIFEST_KEYS = ("skipped_rows", "truncated_rows")


def round0_identity(config: FairConfig) -> str:
    """A hash of everything round 0's inference and baseline evaluation read: dataset, student, student
    prompts, decoding of both splits (the seed left out under greedy decoding: it changes nothing) and the
    evaluation settings. Equal hashes: the same round-0 answers."""
    train = generation_params(config, evaluation=False)
    test = generation_params(config, evaluation=True)
    train, test = (replace(p, seed=0) if p.greedy else p for p in (train, test))
    parts = [
        config.dataset,
        config.student,
        PromptsRef(config.prompts.template_dir),
        evaluation_prompts(config),
        train,
        test,
        config.evaluation,
    ]
    return stable_hash(fingerprint(parts))


def shared_tables(store: RoundStore) -> list[tuple[str, str | None]]:
    """(table, part) of every shareable table a round has."""
    found: list[tuple[str, str | None]] = [(t, None) for t in SHARED_TABLES if store.exists(t)]
    for table in SHARED_SEED_TABLES:
        found += [(table, part) for _, part in seed_parts(store, table)]
    return found


@task(name="adopt-shared-tables", cache_key_fn=content_cache_key, persist_result=True)
def adopt_tables(source: list[TableRef], where: RoundRef) -> list[TableRef]:
    """Copy round-0 tables of another run of the sweep into this round (verified against the source's
    manifest first), with their skipped-row records and `shared_round0` naming where they came from."""
    store = where.store()
    origin = source[0].where if source else where
    for ref in source:
        ref.store().verified_hash(ref.name, ref.part)
        store.write(ref.name, ref.store().read(ref.name, ref.part), part=ref.part)
    manifest = origin.store().manifest()
    store.set_meta(
        **{k: manifest[k] for k in SHARED_MANIFEST_KEYS if k in manifest},
        shared_round0={"run_id": origin.run_id, "round": origin.round, "tables": len(source)},
    )
    task_logger().info("round 0 answers adopted from run %s (%d tables)", origin.run_id, len(source))
    return [where.table(r.name, r.part) for r in source]


def shared_stage(where: RoundRef, shared: RoundRef) -> tuple[TableRef, TableRef]:
    """Inside a flow, instead of round 0's inference: adopt `shared`'s tables; the examples and mistakes."""
    refs = [shared.table(name, part) for name, part in shared_tables(shared.store())]
    adopt_tables(refs, where)
    return where.table("examples"), where.table("mistakes")
