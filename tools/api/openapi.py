"""OpenAPI description of the MCP endpoint (see janserver.api.openapi)."""

from typing import Any

from janserver.api.openapi import json_doc, register_components

register_components(
    {
        "JsonRpcMessage": {
            "type": "object",
            "description": "A JSON-RPC 2.0 request, notification or response of the "
            "Model Context Protocol (streamable HTTP transport).",
            "required": ["jsonrpc"],
            "properties": {
                "jsonrpc": {"const": "2.0"},
                "id": {"type": ["string", "integer", "null"]},
                "method": {"type": "string"},
                "params": {"type": "object"},
                "result": {"type": "object"},
                "error": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "integer"},
                        "message": {"type": "string"},
                        "data": {},
                    },
                },
            },
            "additionalProperties": True,
        }
    }
)

_MESSAGE = {"$ref": "#/components/schemas/JsonRpcMessage"}
_SSE = {"text/event-stream": {"schema": {"type": "string"}}}
_RPC_ERROR = json_doc(_MESSAGE, "A JSON-RPC error (no request id).")
_SESSION = {
    "name": "Mcp-Session-Id",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "The session the server assigned at initialize.",
}
_VERSION = {
    "name": "MCP-Protocol-Version",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
}
_TAGS = ["MCP"]


def _operation(operation_id: str, summary: str, **extra: Any) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": _TAGS,
        "parameters": [_SESSION, _VERSION],
        **extra,
    }


MCP = {
    "post": _operation(
        "mcp-message",
        "Send a JSON-RPC message to the MCP server (initialize, tools/list, "
        "tools/call, …); the answer is JSON or an SSE stream.",
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": _MESSAGE}},
        },
        responses={
            "200": {
                "description": "The JSON-RPC response, as JSON or an SSE stream.",
                "content": {"application/json": {"schema": _MESSAGE}, **_SSE},
            },
            "202": {"description": "A notification or response was accepted."},
            "400": _RPC_ERROR,
            "404": _RPC_ERROR,
            "406": _RPC_ERROR,
            "413": _RPC_ERROR,
            "415": _RPC_ERROR,
            "503": _RPC_ERROR,
        },
    ),
    "get": _operation(
        "mcp-stream",
        "Open the session's stream of server messages (SSE).",
        responses={
            "200": {"description": "The session's SSE stream.", "content": _SSE},
            "400": _RPC_ERROR,
            "404": _RPC_ERROR,
            "405": _RPC_ERROR,
            "406": _RPC_ERROR,
            "409": _RPC_ERROR,
        },
    ),
    "delete": _operation(
        "mcp-session-delete",
        "End the session.",
        responses={
            "200": {"description": "The session ended."},
            "400": _RPC_ERROR,
            "404": _RPC_ERROR,
            "405": _RPC_ERROR,
        },
    ),
}
