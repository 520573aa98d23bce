"""Public identifiers: a type prefix plus a random lowercase alphanumeric string.

The ids of what is made in volume (conversations, items, responses) start with the
time they were made, so that new rows land at the end of their unique index instead of
at random pages of it (B-tree inserts with locality, on PostgreSQL and SQLite alike).
"""

import os
import string
import threading
import time

ALPHABET = string.digits + string.ascii_lowercase

# 36 symbols: 24 characters carry ~124 bits, 42 characters ~217 bits.
SHORT_LENGTH = 24
LONG_LENGTH = 42


# Bytes 0..251 map onto the alphabet (252 = 7 x 36, so no symbol is favoured); 252..255
# are dropped. bytes.translate does the mapping in C: ids are made on every request.
_TABLE = bytes(ord(ALPHABET[i % 36]) for i in range(256))
_DROPPED = bytes(range(252, 256))


def random_string(length: int) -> str:
    """Return `length` characters drawn uniformly from [0-9a-z] with the OS CSPRNG."""
    out = b""
    while len(out) < length:
        out += _random_bytes(length + 8).translate(_TABLE, _DROPPED)
    return out[:length].decode()


# os.urandom is a system call; ids are made several times per request, so the OS's
# random bytes are fetched a few kilobytes at a time, per thread, and never reused.
# A forked child (a gunicorn worker) starts with an empty pool of its own.
_POOL_BYTES = 4096
_local = threading.local()


def _random_bytes(count: int) -> bytes:
    pool: bytes = getattr(_local, "pool", b"")
    start: int = getattr(_local, "start", 0)
    if start + count > len(pool):
        pool, start = os.urandom(max(_POOL_BYTES, count)), 0
        _local.pool = pool
    _local.start = start + count
    return pool[start : start + count]


def _forget_pool() -> None:
    global _local
    _local = threading.local()


os.register_at_fork(after_in_child=_forget_pool)


def new_id(prefix: str, length: int = SHORT_LENGTH) -> str:
    """Return a public id such as ``org_3k9…`` for the given prefix."""
    return f"{prefix}_{random_string(length)}"


# 9 base-36 digits of milliseconds since 1970 last until the year 5138.
TIME_DIGITS = 9


def new_sortable_id(prefix: str, length: int = LONG_LENGTH) -> str:
    """Return a public id whose first TIME_DIGITS characters are the current time in
    milliseconds (base 36), the rest random: ids made later sort after, at a
    millisecond's resolution. With LONG_LENGTH, 33 random characters (~170 bits)."""
    return f"{prefix}_{_time_digits()}{random_string(length - TIME_DIGITS)}"


_stamp: tuple[int, str] = (-1, "")


def _time_digits() -> str:
    global _stamp
    now = time.time_ns() // 1_000_000
    if _stamp[0] != now:  # a new millisecond: encode it (once)
        value, digits = now, []
        for _ in range(TIME_DIGITS):
            value, digit = divmod(value, 36)
            digits.append(ALPHABET[digit])
        _stamp = (now, "".join(reversed(digits)))
    return _stamp[1]


# Module-level defaults so that migrations can serialize them.
def new_user_id() -> str:
    return new_id("user")


def new_org_id() -> str:
    return new_id("org")


def new_project_id() -> str:
    return new_id("proj")


def new_key_id() -> str:
    return new_id("key")


def new_invite_id() -> str:
    return new_id("invite")


def new_workspace_id() -> str:
    return new_id("ws")


def new_conversation_id() -> str:
    return new_sortable_id("conv")


def new_item_id() -> str:
    return new_sortable_id("msg")


def new_response_id() -> str:
    return new_sortable_id("resp")


def new_provider_id() -> str:
    return new_id("prov")


def new_provider_model_id() -> str:
    return new_id("pmdl")


def new_request_id() -> str:
    return new_id("req")


def new_session_id() -> str:
    return new_id("sess", LONG_LENGTH)
