"""Where teacher replies, claims, spend and batch jobs are kept: the run's SQLite file or a PostgreSQL URL.

`cache.url` empty keeps `<data_dir>/cache/teacher_responses.sqlite`; `postgresql://user@host:5432/db`
shares one database between workers; any other value is the path of a SQLite file to use instead. The
password belongs in `PGPASSWORD` (or ~/.pgpass): a password written in the URL is used by this process but
dropped whenever the config is written out (dumps, the config hash, Prefect parameters), so it never
reaches logs or artifacts.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_serializer, field_validator

from fair_core.config.base import Section

SCHEMES = ("postgresql", "postgres")


def without_password(url: str) -> str:
    """`url` with its password left out (libpq then reads PGPASSWORD or ~/.pgpass)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = (f"{parts.username}@" if parts.username else "") + (parts.hostname or "")
    netloc += f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class CacheConfig(Section):
    url: str = Field(
        "",
        description="PostgreSQL URL of a reply cache shared by several workers (postgresql://user@host:5432/"
        "db; password in PGPASSWORD), or a SQLite file path. Empty: the SQLite file under data_dir/cache.",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        if "://" in value:
            parts = urlsplit(value)
            if parts.scheme not in SCHEMES or not parts.hostname:
                raise ValueError(
                    f"{without_password(value)!r} is not a PostgreSQL URL: write "
                    "postgresql://user@host:5432/database, a SQLite file path, or nothing for data_dir's file"
                )
        return value

    @field_serializer("url")
    def _dump_url(self, value: str) -> str:
        return without_password(value)

    def __repr__(self) -> str:
        return f"CacheConfig(url={without_password(self.url)!r})"
