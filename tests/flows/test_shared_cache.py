"""A round with `cache.url` on a real PostgreSQL server: replies, claims and spend go to the database,
no SQLite reply cache is written under the data dir, a rerun with a fresh data dir sends nothing again
(the database answers), and an unreachable URL is one preflight line without the password."""

from __future__ import annotations

from pathlib import Path

import pytest

from fair_core.config import ConfigError
from fair_core.store import RunStore
from fair_core.teachers.cache import ResponseCache
from flows.pipeline import fair_pipeline
from flows.preflight import check_shared_cache
from flows.simulation import simulated_teachers

pytestmark = pytest.mark.slow


def test_a_round_keeps_its_replies_in_postgres_and_a_second_worker_pays_nothing(
    tiny_config, postgres_url: str, tmp_path: Path
) -> None:
    config = tiny_config(cache={"url": postgres_url})
    with simulated_teachers(config) as (effective, simulator):
        first = fair_pipeline(effective)
        sent = simulator.stats["requests"]
        assert sent > 0
        # another machine: its own (empty) data dir, the same database
        elsewhere = effective.model_copy(
            update={"run": effective.run.model_copy(update={"data_dir": str(tmp_path / "other")})}
        )
        again = fair_pipeline(elsewhere)
        assert simulator.stats["requests"] == sent, "the shared cache answers every request"
    assert first[0]["requests_sent"] > 0
    assert again[0]["teacher_calls"] == first[0]["teacher_calls"]
    assert again[0]["requests_sent"] == 0 and again[0]["from_cache"] == again[0]["teacher_calls"]
    for data_dir in (config.run.data_dir, str(tmp_path / "other")):
        assert not (Path(data_dir) / "cache" / "teacher_responses.sqlite").exists()
        assert RunStore(data_dir, config.run_id()).round(0).rows("acceptance")
    with ResponseCache(postgres_url) as cache:
        assert len(cache) > 0
        assert cache.stats()["entries"] == len(cache)


def test_an_unreachable_shared_cache_is_one_line_without_its_password() -> None:
    url = "postgresql://fair:s3cret-pw@127.0.0.1:9/fair"
    with pytest.raises(ConfigError) as caught:
        check_shared_cache(url)
    message = str(caught.value)
    assert "s3cret-pw" not in message and "\n" not in message
    assert message.startswith("cache.url postgresql://fair:***@127.0.0.1:9/fair: cannot reach")
