"""Coalesced database hops: each caller gets its own outcome, as soon as the batch
committed, and work nobody waits for any more is undone."""

import asyncio
import threading

import pytest

from conversations.completions import batching
from janserver import db


def doubled(arguments: list[int]) -> list[batching.Outcome]:
    """A runner: each argument doubled; 13 fails on its own."""
    return [
        (False, ValueError(f"bad {a}")) if a == 13 else (True, a * 2) for a in arguments
    ]


async def test_work_queued_together_runs_in_one_hop_with_an_outcome_each(monkeypatch):
    hops = []
    real_run = db.run_concurrently

    async def counted(function, *args, **kwargs):
        hops.append(threading.get_ident())
        return await real_run(function, *args, **kwargs)

    monkeypatch.setattr(db, "run_concurrently", counted)
    calls = [batching.batched(doubled, n, lane=batching.READ) for n in (1, 13, 3)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert (results[0], results[2]) == (2, 6)
    assert isinstance(results[1], ValueError)
    assert len(hops) == 1  # queued while nothing was in flight: one batch
    assert await batching.batched(doubled, 4, lane=batching.READ) == 8


async def test_callers_resume_when_the_batch_is_done_not_when_the_hop_returns(
    monkeypatch,
):
    """The hop's way back (asgiref's, in a busy loop) is held until the caller has
    its result: callers that waited for it would never resume (the 10 s are a
    safety net, not a measure)."""
    returned, way_back = asyncio.Event(), asyncio.Event()
    real_run = db.run_concurrently

    async def slow_way_back(function, *args, **kwargs):
        result = await real_run(function, *args, **kwargs)
        await way_back.wait()
        returned.set()
        return result

    monkeypatch.setattr(db, "run_concurrently", slow_way_back)
    result = await asyncio.wait_for(
        batching.batched(doubled, 5, lane=batching.READ), 10
    )
    assert result == 10
    assert not returned.is_set()
    way_back.set()
    await asyncio.wait_for(returned.wait(), 10)


async def test_a_hop_that_fails_before_running_fails_each_caller(monkeypatch):
    async def refused(function, *args, **kwargs):
        raise RuntimeError("no thread for you")

    monkeypatch.setattr(db, "run_concurrently", refused)
    calls = [batching.batched(doubled, n, lane=batching.READ) for n in (1, 2)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [str(r) for r in results] == ["no thread for you"] * 2
    monkeypatch.undo()
    assert await batching.batched(doubled, 3, lane=batching.READ) == 6  # not stuck


async def test_a_caller_gone_meanwhile_has_its_result_undone():
    undone = []
    started, release = threading.Event(), threading.Event()

    def slow(arguments: list[int]) -> list[batching.Outcome]:
        started.set()
        release.wait(5)
        return doubled(arguments)

    caller = asyncio.ensure_future(
        batching.batched(slow, 7, orphan=undone.append, lane=batching.READ)
    )
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
    caller.cancel()  # the client went away while its work ran
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    for _ in range(100):
        if undone:
            break
        await asyncio.sleep(0.01)
    assert undone == [14]
