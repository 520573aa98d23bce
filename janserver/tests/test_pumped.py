"""PumpedResponse: written straight to ASGI by janserver's handler, iterable elsewhere."""

import asyncio

import pytest

from janserver.http.pumped import PumpedResponse, send_pumped


async def test_sent_over_asgi_as_the_pump_writes():
    async def pump(write):
        await write(b"data: 1\n\n")
        await write(b"data: 2\n\n")

    response = PumpedResponse(pump, content_type="text/event-stream")
    response["X-Test"] = "yes"
    sent = []

    async def send(message):
        sent.append(message)

    await send_pumped(response, send)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 200
    assert (b"X-Test", b"yes") in sent[0]["headers"]
    assert [m["body"] for m in sent[1:]] == [b"data: 1\n\n", b"data: 2\n\n", b""]
    assert [m["more_body"] for m in sent[1:]] == [True, True, False]


async def test_other_handlers_iterate_what_the_pump_writes():
    async def pump(write):
        for n in range(3):
            await write(b"%d" % n)

    parts = [part async for part in PumpedResponse(pump)]
    assert parts == [b"0", b"1", b"2"]


async def test_a_failing_pump_fails_the_iteration():
    async def pump(write):
        await write(b"first")
        raise RuntimeError("upstream broke")

    with pytest.raises(RuntimeError, match="upstream broke"):
        [part async for part in PumpedResponse(pump)]


async def test_leaving_the_iteration_early_cancels_the_pump():
    cancelled = asyncio.Event()

    async def pump(write):
        try:
            while True:
                await write(b"tick")
        except asyncio.CancelledError:
            cancelled.set()
            raise

    iterator = aiter(PumpedResponse(pump))
    assert await anext(iterator) == b"tick"
    await iterator.aclose()
    await asyncio.wait_for(cancelled.wait(), 1)
