"""Work that must outlive the request that started it, in the worker's event loop.

A stream's client may go away while what it generated still has to be saved, and a
background response runs after its request has been answered. Such work is spawned
here: a reference is kept until it ends (asyncio keeps only weak ones), failures are
logged, and the lifespan shutdown waits for what is still running.
"""

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger("janserver.background")

_running: set[asyncio.Task[Any]] = set()


def spawn(
    work: Coroutine[Any, Any, Any], *, name: str | None = None
) -> asyncio.Task[Any]:
    """Run `work` in this event loop until it ends, whatever happens to the caller."""
    task = asyncio.get_running_loop().create_task(work, name=name)
    _running.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error(
            "Background task %s failed",
            task.get_name(),
            exc_info=task.exception(),
        )


def running() -> int:
    """How many spawned tasks have not ended yet."""
    return len(_running)


# After the drain's deadline, cancelled tasks (and what they spawn to record how they
# ended) get this long to finish.
CANCEL_GRACE_SECONDS = 5.0


async def drain(seconds: float) -> int:
    """Wait up to `seconds` for this loop's spawned tasks; return how many had to be
    cancelled. Cancelled tasks, and tasks spawned meanwhile, get a short grace period
    to record how they ended."""
    pending = await _wait_mine(seconds)
    for task in pending:
        task.cancel()
    if pending:
        await _wait_mine(CANCEL_GRACE_SECONDS)
    return len(pending)


async def _wait_mine(seconds: float) -> set[asyncio.Task[Any]]:
    """Wait until no task of this loop is running (new ones included), or `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        mine = {task for task in _running if task.get_loop() is loop}
        remaining = deadline - loop.time()
        if not mine or remaining <= 0:
            return mine
        await asyncio.wait(mine, timeout=remaining)
