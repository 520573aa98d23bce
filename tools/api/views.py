"""/v1/mcp and /v1/conv/mcp: authenticated like every OpenAI route, then the MCP SDK."""

from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from inference import pipeline
from janserver.api.openapi import documented
from janserver.http.asgi_bridge import asgi_response
from tools import endpoint
from tools.api import openapi

# MCP's streamable HTTP transport dropped JSON-RPC batches (2025-06-18); the SDK refuses
# one with a parser dump, so the refusal is made clear here.
BATCH_REFUSED = {
    "jsonrpc": "2.0",
    "id": None,
    "error": {
        "code": -32600,
        "message": "Invalid Request: JSON-RPC batches are not supported; send one "
        "message per request.",
    },
}


@documented(openapi.MCP)
@csrf_exempt
async def mcp(request: HttpRequest) -> HttpResponseBase:
    call = await pipeline.enter(request, "mcp")
    if request.method == "POST" and request.body.lstrip()[:1] == b"[":
        return JsonResponse(BATCH_REFUSED, status=400)
    scope = endpoint.scope_for(request.scope, call.principal)  # type: ignore[attr-defined]
    return await asgi_response(endpoint.handle, scope, request.body)
