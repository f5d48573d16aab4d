"""An S3-compatible server on 127.0.0.1 for tests: moto's server mode, spoken to by the real s3fs/boto3.

`S3Server().start()` serves on a free port and points this process's environment (inherited by the
processes it starts) at it: `AWS_ENDPOINT_URL` and throw-away credentials. `new_bucket()` gives an empty
bucket per test. The fixtures are `s3_server` and `s3_url` in tests/conftest.py.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

#: Throw-away credentials the moto server accepts; a test checks they never reach what the run writes.
ACCESS_KEY = "AKIAFAIRTESTKEY0000"
SECRET_KEY = "fair-test-secret-0d9c2b7e5a4f"


class S3Server:
    """moto's ThreadedMotoServer on 127.0.0.1 with the environment that reaches it."""

    def __init__(self) -> None:
        self._server: Any = None
        self.endpoint = ""
        self._saved: dict[str, str | None] = {}

    def start(self) -> S3Server:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        for name, value in env.items():
            self._saved[name] = os.environ.get(name)
            os.environ[name] = value
        return self

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint)

    def new_bucket(self) -> str:
        name = f"fair-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
