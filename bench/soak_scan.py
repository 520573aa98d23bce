"""The soak's leak scan: find a run's secrets in the gateway's log and stored data.

A secret is a string the run handed to the server or got from it once (API keys,
login tokens, provider keys) or the settings' secrets. None may appear in a log
line, a database row or a Redis value. `Secrets` holds them by label; `scan()` reads
named texts (a log line, a row) and reports every secret found, where, masked.

Every needle is searched as a whole, anywhere in a text (inside a longer token too).
Needles made only of the URL-safe alphabet, as all of the run's are, are found in one
pass over each text whatever their number: texts are cut into runs of that alphabet,
and each position of a run long enough is looked up by its first ANCHOR characters.
"""

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ANCHOR = 12
# The shortest secret worth a search: anything shorter could occur by chance.
MIN_LENGTH = 24
SAFE = re.compile(r"[A-Za-z0-9_.\-]+")
SAFE_RUN = re.compile(rf"[A-Za-z0-9_.\-]{{{MIN_LENGTH},}}")
# API keys: `sk-<kind>_<random>`; the random part alone is a leak as well.
API_KEY = re.compile(r"sk-[a-z]+_([0-9A-Za-z]+)")


@dataclass(frozen=True)
class Finding:
    label: str  # which secret ("project key 3", "JWT_SECRET", ...)
    where: str  # "log line 120", "row orgs_apikey #4", "redis key ..."
    excerpt: str  # the text around it, the secret itself masked


@dataclass
class Secrets:
    """The run's secrets by value, each with a label saying what it is."""

    labels: dict[str, str] = field(default_factory=dict)

    def add(self, label: str, value: str | None) -> None:
        """Remember `value` (and an API key's random part) as a secret."""
        if not value:
            return
        if len(value) < MIN_LENGTH:
            raise ValueError(f"{label}: a secret shorter than {MIN_LENGTH} characters")
        self.labels.setdefault(value, label)
        body = API_KEY.fullmatch(value)
        if body and len(body.group(1)) >= MIN_LENGTH:
            self.labels.setdefault(body.group(1), f"{label} (random part)")

    def __len__(self) -> int:
        return len(self.labels)


class Scanner:
    """Finds any of a set of secrets in texts (see the module docstring)."""

    def __init__(self, secrets: Secrets) -> None:
        self.secrets = secrets
        self._anchored: dict[str, list[str]] = {}
        self._other: list[str] = []  # needles with characters outside SAFE
        for needle in secrets.labels:
            if SAFE.fullmatch(needle):
                self._anchored.setdefault(needle[:ANCHOR], []).append(needle)
            else:
                self._other.append(needle)

    def find(self, text: str) -> Iterator[str]:
        """Yield each secret occurring in `text` (once per occurrence)."""
        anchored = self._anchored
        for run in SAFE_RUN.finditer(text):
            token = run.group()
            for start in range(len(token) - MIN_LENGTH + 1):
                for needle in anchored.get(token[start : start + ANCHOR], ()):
                    if token.startswith(needle, start):
                        yield needle
        for needle in self._other:
            yield from (needle for _ in range(text.count(needle)))

    def scan(self, texts: Iterable[tuple[str, str]]) -> list[Finding]:
        """Scan (where, text) pairs; return a Finding per secret occurrence."""
        findings = []
        for where, text in texts:
            for needle in self.find(text):
                label = self.secrets.labels[needle]
                findings.append(Finding(label, where, _excerpt(text, needle)))
        return findings


def _excerpt(text: str, needle: str, width: int = 60) -> str:
    at = text.find(needle)
    before = text[max(0, at - width) : at]
    after = text[at + len(needle) : at + len(needle) + width]
    return f"{before}<{needle[:6]}…>{after}".replace("\n", "\\n")


def log_lines(path: Path) -> Iterator[tuple[str, str]]:
    """The (where, text) pairs of a log file, one per line."""
    with open(path, encoding="utf-8", errors="replace") as log:
        for number, line in enumerate(log, start=1):
            yield f"log line {number}", line


def dumped_rows(path: Path) -> Iterator[tuple[str, str]]:
    """The (where, text) pairs of a `dump_tables()` file, one per row."""
    with open(path, encoding="utf-8") as dump:
        for number, line in enumerate(dump, start=1):
            row = json.loads(line)
            yield f"row {row['table']} (dump line {number})", line


def cell_text(value: Any) -> str:
    """A database value as text: bytes decoded (a secret stored raw would show)."""
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def dump_tables(path: str) -> tuple[int, int]:
    """Write every row of every table of Django's default database to `path`, one
    JSON line per row; return (tables, rows). Runs inside the gateway's Django
    (`manage.py shell -c`), so it reads exactly what the gateway stored."""
    from django.db import connection

    tables = rows = 0
    with open(path, "w", encoding="utf-8") as out, connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            tables += 1
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for values in cursor.fetchall():
                rows += 1
                cells = [cell_text(value) for value in values]
                out.write(json.dumps({"table": table, "row": cells}) + "\n")
    return tables, rows


def redis_values(url: str) -> Iterator[tuple[str, str]]:
    """The (where, text) pairs of every key and value in the Redis database of `url`."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(count=1000):
            where = f"redis key {cell_text(key)[:80]}"
            yield where, cell_text(key)
            for value in _redis_value(client, key):
                yield where, cell_text(value)
    finally:
        client.close()


def _redis_value(client: Any, key: bytes) -> list[Any]:
    kind = cell_text(client.type(key))
    if kind == "string":
        return [client.get(key)]
    if kind == "hash":
        return [part for pair in client.hgetall(key).items() for part in pair]
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind == "set":
        return list(client.smembers(key))
    if kind == "zset":
        return [member for member, _score in client.zrange(key, 0, -1, withscores=True)]
    if kind == "stream":
        return [str(entry) for entry in client.xrange(key)]
    return []  # "none": expired meanwhile
