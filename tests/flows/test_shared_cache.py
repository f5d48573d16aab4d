"""`cache.url` on PostgreSQL at the pipeline's door: an unreachable URL is one preflight line without the
password. A whole round on the shared cache, and a second worker that re-runs it paying nothing, are in
tests/flows/test_remote_storage.py (data on S3) and tests/e2e/test_two_workers.py (three workers)."""

from __future__ import annotations

import pytest

from fair_core.config import ConfigError
from flows.preflight import check_shared_cache


def test_an_unreachable_shared_cache_is_one_line_without_its_password() -> None:
    url = "postgresql://fair:s3cret-pw@127.0.0.1:9/fair"
    with pytest.raises(ConfigError) as caught:
        check_shared_cache(url)
    message = str(caught.value)
    assert "s3cret-pw" not in message and "\n" not in message
    assert message.startswith("cache.url postgresql://fair:***@127.0.0.1:9/fair: cannot reach")
