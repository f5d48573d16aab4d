"""A throw-away PostgreSQL server for the tests: `initdb` into a temp dir, `pg_ctl` on 127.0.0.1, a free port.

As root (Postgres refuses to run as root) the server runs as the `postgres` user (`runuser -u postgres`),
with a data dir owned by it. Binaries come from Debian's package (scripts/install_postgres.sh). Use the
`postgres_url` fixture (tests/conftest.py): a fresh database per call of `PgServer.new_database`.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from flows.embedded import free_port

INSTALL = "scripts/install_postgres.sh"


def pg_bin(pattern: str = "/usr/lib/postgresql/*/bin/pg_ctl") -> Path:
    """The folder of initdb/pg_ctl (Debian's newest, else on PATH); RuntimeError naming the install script
    when there is none."""
    found = sorted(glob.glob(pattern))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError(f"PostgreSQL server binaries (initdb, pg_ctl) not found: run {INSTALL}")


class PgServer:
    """One server: `start()`, `new_database()` -> URL, `stop()`."""

    def __init__(self) -> None:
        self.bin = pg_bin()
        self.root = os.geteuid() == 0
        self.user = "postgres" if self.root else (os.environ.get("USER") or "postgres")
        self.tmp = Path(tempfile.mkdtemp(prefix="fair-pg-"))
        self.data = self.tmp / "data"
        self.port = free_port()
        if self.root:
            os.chmod(self.tmp, 0o755)
            shutil.chown(self.tmp, "postgres", "postgres")

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        command = [*(["runuser", "-u", "postgres", "--"] if self.root else []), *argv]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.tmp)
        if done.returncode:
            raise RuntimeError(f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr[-2000:]}")
        return done

    def start(self) -> PgServer:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8"
        )
        options = f"-h 127.0.0.1 -p {self.port} -k {self.tmp} -c fsync=off -c max_connections=200"
        log = str(self.tmp / "server.log")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", log, "-o", options, "-w", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database's URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
