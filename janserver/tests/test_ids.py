"""Public ids: format, uniqueness, and the OS CSPRNG in every process."""

import os
import re
import threading
from collections import Counter

import pytest

from janserver import ids


@pytest.mark.parametrize(
    ("make", "prefix", "length"),
    [
        (ids.new_org_id, "org", ids.SHORT_LENGTH),
        (ids.new_key_id, "key", ids.SHORT_LENGTH),
        (ids.new_conversation_id, "conv", ids.LONG_LENGTH),
        (ids.new_item_id, "msg", ids.LONG_LENGTH),
        (ids.new_response_id, "resp", ids.LONG_LENGTH),
        (ids.new_request_id, "req", ids.SHORT_LENGTH),
    ],
)
def test_ids_are_a_prefix_and_lowercase_alphanumerics(make, prefix, length):
    assert re.fullmatch(rf"{prefix}_[0-9a-z]{{{length}}}", make())


def test_ids_do_not_repeat():
    made = [ids.random_string(42) for _ in range(5_000)]
    assert len(set(made)) == len(made)


def test_every_symbol_stands_for_as_many_byte_values(monkeypatch):
    """Uniform by construction, checked without chance: fed every byte value once,
    the mapping yields each of the 36 symbols exactly 7 times (252..255 dropped)."""
    monkeypatch.setattr(ids.os, "urandom", lambda count: bytes(range(256)))
    drawn = ids.random_string(252)
    assert Counter(drawn) == dict.fromkeys(ids.ALPHABET, 7)


def test_threads_draw_different_ids():
    made: list[str] = []
    lock = threading.Lock()

    def draw() -> None:
        mine = [ids.random_string(24) for _ in range(500)]
        with lock:
            made.extend(mine)

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 2_000


# Earlier async tests leave idle executor threads behind; they hold no lock the child
# (which only draws an id and leaves) could need.
@pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded:DeprecationWarning"
)
def test_a_forked_child_does_not_repeat_its_parents_ids():
    """A forked child (a gunicorn worker) draws ids of its own."""
    ids.random_string(24)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.close(read_end)
        os.write(write_end, ids.random_string(24).encode())
        os._exit(0)
    os.close(write_end)
    child_id = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert child_id != ids.random_string(24)
    assert len(child_id) == 24
