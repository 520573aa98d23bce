"""A second MCP server for tests and local development: the official SDK's MCPServer
with a few tools, served by uvicorn on 127.0.0.1 in a background thread.

    python -m tools.testing.fake_mcp --port 8103      # serves http://127.0.0.1:8103/mcp

Tools: `echo(text)`, `add(a, b)`, `big(size)` (a text of `size` characters), `slow(seconds)`
(answers after sleeping), `fail(message)` (a tool error). Besides `/mcp`, `/garbage`
answers every request with 200 and a body that is not JSON-RPC. `FakeMcp.headers` keeps
the headers of the requests it received (to check what the gateway forwards).
"""

import argparse
import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from tools.testing.servers import HOST, serve_in_thread


def build_server() -> MCPServer:
    server = MCPServer("fake-tools", version="1.0")

    @server.tool(description="Answer with the text it was given.")
    def echo(text: str) -> str:
        return text

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="Answer with a text of `size` characters.")
    def big(size: int) -> str:
        return "x" * size

    @server.tool(description="Answer after sleeping `seconds`.")
    async def slow(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    @server.tool(description="Fail with the message it was given.")
    def fail(message: str) -> str:
        raise ToolError(message)

    return server


class FakeMcp:
    """The fake server's ASGI app and what it saw."""

    def __init__(self) -> None:
        self.server = build_server()
        self.headers: list[dict[str, str]] = []
        mcp_app = self.server.streamable_http_app(streamable_http_path="/")
        self.app = Starlette(
            routes=[
                Route("/garbage", self._garbage, methods=["GET", "POST", "DELETE"]),
                Mount("/mcp", app=self._recording(mcp_app)),
            ],
            lifespan=lambda app: self.server.session_manager.run(),
        )
        self.base_url = ""

    @property
    def url(self) -> str:
        return f"{self.base_url}/mcp/"

    @property
    def garbage_url(self) -> str:
        return f"{self.base_url}/garbage"

    def _recording(self, app: Any) -> Any:
        async def record(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                self.headers.append(
                    {k.decode().lower(): v.decode() for k, v in scope["headers"]}
                )
            await app(scope, receive, send)

        return record

    async def _garbage(self, request: Request) -> Response:
        return Response("this is not JSON-RPC", media_type="application/json")


@contextlib.contextmanager
def run_in_thread(port: int = 0) -> Iterator[FakeMcp]:
    """Serve a FakeMcp in a daemon thread; stop it on exit."""
    fake = FakeMcp()
    with serve_in_thread(fake.app, port) as base_url:
        fake.base_url = base_url
        yield fake


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.testing.fake_mcp")
    parser.add_argument("--port", type=int, default=8103)
    options = parser.parse_args(argv)
    fake = FakeMcp()
    uvicorn.run(fake.app, host=HOST, port=options.port, log_level="info")


if __name__ == "__main__":
    main()
