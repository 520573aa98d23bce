"""A fake Serper (google.serper.dev/search and scrape.serper.dev) for tests and local
development, with Serper's request shape, defaults and answers, and fault modes.

    python -m tools.testing.fake_serper --port 8102
    SERPER_API_KEY=fake-serper-key SERPER_SEARCH_URL=http://127.0.0.1:8102/search \\
      SERPER_SCRAPE_URL=http://127.0.0.1:8102/scrape make run

`FakeSerper.mode` picks how it answers every request: "ok" (default), "status" (the
HTTP status in `FakeSerper.status`, e.g. 429 or 500, with Serper's JSON error),
"slow" (answers after `FakeSerper.delay` seconds), "garbage" (200, not JSON), "huge"
(200, a JSON object of `FakeSerper.huge_bytes`). A request without the key
(`FakeSerper.api_key`) gets 403 as from Serper. `FakeSerper.requests` keeps what it
received (path, headers, body).
"""

import argparse
import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tools.testing.servers import HOST, serve_in_thread

SEARCH_DEFAULTS = {"gl": "us", "hl": "en", "num": 10, "page": 1, "autocorrect": True}


class FakeSerper:
    def __init__(self, api_key: str = "fake-serper-key") -> None:
        self.api_key = api_key
        self.mode = "ok"
        self.status = 500
        self.delay = 30.0
        self.huge_bytes = 2 * 1024 * 1024
        self.requests: list[dict[str, Any]] = []
        self.base_url = ""
        self.app = Starlette(
            routes=[
                Route("/search", self._search, methods=["POST"]),
                Route("/scrape", self._scrape, methods=["POST"]),
            ]
        )

    @property
    def search_url(self) -> str:
        return f"{self.base_url}/search"

    @property
    def scrape_url(self) -> str:
        return f"{self.base_url}/scrape"

    def reset(self) -> None:
        self.mode, self.status, self.delay = "ok", 500, 30.0
        self.requests.clear()

    async def _answer(self, request: Request, build: Any) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.requests.append(
            {"path": request.url.path, "headers": dict(request.headers), "body": body}
        )
        if request.headers.get("x-api-key") != self.api_key:
            return JSONResponse({"message": "Unauthorized.", "statusCode": 403}, 403)
        if self.mode == "status":
            return JSONResponse(
                {"message": "Fake failure.", "statusCode": self.status}, self.status
            )
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        if self.mode == "garbage":
            return Response("<html>not json", media_type="application/json")
        if self.mode == "huge":
            return JSONResponse({"text": "x" * self.huge_bytes})
        if not isinstance(body, dict):
            return JSONResponse({"message": "Bad request.", "statusCode": 400}, 400)
        return JSONResponse(build(body))

    async def _search(self, request: Request) -> Response:
        return await self._answer(request, search_answer)

    async def _scrape(self, request: Request) -> Response:
        return await self._answer(request, scrape_answer)


def search_answer(body: dict[str, Any]) -> dict[str, Any]:
    """Serper's search answer: the parameters it used (defaults applied) and results."""
    parameters = {**SEARCH_DEFAULTS, **body, "type": "search", "engine": "google"}
    query, num, page = parameters["q"], int(parameters["num"]), int(parameters["page"])
    first = (page - 1) * num
    return {
        "searchParameters": parameters,
        "organic": [
            {
                "title": f"Result {first + i + 1} for {query}",
                "link": f"https://example.com/{first + i + 1}",
                "snippet": f"A page about {query}.",
                "position": first + i + 1,
            }
            for i in range(num)
        ],
        "credits": 1,
    }


def scrape_answer(body: dict[str, Any]) -> dict[str, Any]:
    """Serper's scrape answer: the page's text, metadata and (asked for) Markdown."""
    url = body.get("url", "")
    answer: dict[str, Any] = {
        "text": f"The text of {url}.",
        "metadata": {"title": f"Page at {url}"},
        "credits": 1,
    }
    if body.get("includeMarkdown"):
        answer["markdown"] = f"# Page at {url}\n\nThe text of {url}."
    return answer


@contextlib.contextmanager
def run_in_thread(port: int = 0) -> Iterator[FakeSerper]:
    """Serve a FakeSerper in a daemon thread; stop it on exit."""
    fake = FakeSerper()
    with serve_in_thread(fake.app, port, lifespan="off") as base_url:
        fake.base_url = base_url
        yield fake


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.testing.fake_serper")
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--api-key", default="fake-serper-key")
    options = parser.parse_args(argv)
    fake = FakeSerper(options.api_key)
    uvicorn.run(fake.app, host=HOST, port=options.port, log_level="info")


if __name__ == "__main__":
    main()
