"""Background tasks: they outlive their caller and the shutdown waits for them."""

import asyncio
import logging

from janserver import background


async def test_a_spawned_task_outlives_the_request_that_started_it():
    finished = asyncio.Event()

    async def save() -> None:
        await asyncio.sleep(0.02)
        finished.set()

    async def request() -> None:
        background.spawn(save())
        await asyncio.sleep(10)

    caller = asyncio.ensure_future(request())
    await asyncio.sleep(0)
    caller.cancel()  # the client went away
    await asyncio.wait_for(finished.wait(), 2)
    assert caller.cancelled()
    assert await background.drain(1) == 0
    assert background.running() == 0


async def test_drain_waits_for_running_tasks():
    done = []

    async def work() -> None:
        await asyncio.sleep(0.05)
        done.append(True)

    background.spawn(work())
    assert await background.drain(2) == 0
    assert done == [True]


async def test_drain_cancels_what_outlasts_it_and_lets_it_record_how_it_ended(
    monkeypatch,
):
    monkeypatch.setattr(background, "CANCEL_GRACE_SECONDS", 2.0)
    recorded = []

    async def record() -> None:
        await asyncio.sleep(0.05)
        recorded.append("cancelled")

    async def endless() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            background.spawn(record())  # how it ended is written by a new task
            raise

    background.spawn(endless())
    assert await background.drain(0.05) == 1
    assert recorded == ["cancelled"]
    assert background.running() == 0


async def test_a_failing_task_is_logged(caplog):
    async def broken() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="janserver.background"):
        task = background.spawn(broken(), name="broken-task")
        await asyncio.wait([task])
        await asyncio.sleep(0)
    assert "broken-task" in caplog.text
