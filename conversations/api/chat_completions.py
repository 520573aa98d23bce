"""Async views of /v1/chat/completions: creating a chat completion (plain, with Jan's
`conversation`, with OpenAI's `store`) and OpenAI's stored chat completions."""

import re
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework import serializers

from conversations.api import chat_openapi
from conversations.chat.flow import chat_respond
from conversations.models import StoredCompletion
from conversations.selectors import PROJECT_HEADER, Caller, caller_get
from conversations.stored_completions import selectors, services
from conversations.stored_completions.objects import completion_object
from conversations.validation import METADATA_MAX_PAIRS
from inference import pipeline
from janserver import db
from janserver.api.openapi import documented
from janserver.api.pagination import ListQuerySerializer, cursor_page, list_body
from janserver.api.shapes import deleted_body
from janserver.errors import InvalidRequest, MissingParameter
from janserver.http.answers import answer_response
from janserver.http.json_body import object_loads
from janserver.http.pumped import PumpedResponse

METADATA_PARAM = re.compile(r"metadata\[(.+)\]\Z", re.DOTALL)


class StoredCompletionListQuerySerializer(ListQuerySerializer):
    model = serializers.CharField(required=False, max_length=256)


def _query(request: HttpRequest, serializer_class: type[ListQuerySerializer]) -> Any:
    query = serializer_class(data=request.GET)
    query.is_valid(raise_exception=True)
    return query.validated_data


def _metadata_filter(request: HttpRequest) -> dict[str, str]:
    """OpenAI's `metadata[key]=value` query parameters, as pairs."""
    pairs: dict[str, str] = {}
    for name in request.GET:
        value = request.GET[name]
        found = METADATA_PARAM.match(name)
        if found is not None:
            pairs[found.group(1)] = value
        elif name == "metadata":
            raise InvalidRequest(
                "Filter by metadata as `metadata[key]=value`.", param="metadata"
            )
    if len(pairs) > METADATA_MAX_PAIRS:
        raise InvalidRequest(
            f"Filter by at most {METADATA_MAX_PAIRS} metadata pairs.", param="metadata"
        )
    return pairs


async def _caller(request: HttpRequest, endpoint: str) -> Caller:
    call = await pipeline.enter(request, endpoint)
    return await db.run(
        caller_get,
        principal=call.principal,
        project_public_id=call.headers.get(PROJECT_HEADER),
    )


def _page(
    caller: Caller, query: dict[str, Any], metadata: dict[str, str]
) -> dict[str, Any]:
    stored = selectors.stored_completion_list(
        caller=caller, model=query.get("model"), metadata=metadata
    )
    rows, has_more = cursor_page(stored, query)
    return list_body([completion_object(row) for row in rows], has_more)


@documented(chat_openapi.CHAT_COMPLETIONS)
@csrf_exempt
@require_http_methods(["GET", "POST"])
async def chat_completions(request: HttpRequest) -> HttpResponse | PumpedResponse:
    if request.method == "POST":
        call = await pipeline.enter(request, "chat.completions")
        return answer_response(await chat_respond(call))
    caller = await _caller(request, "chat.completions.list")
    query = _query(request, StoredCompletionListQuerySerializer)
    body = await db.run(_page, caller, dict(query), _metadata_filter(request))
    return JsonResponse(body)


def _update(caller: Caller, public_id: str, raw: bytes) -> StoredCompletion:
    stored = selectors.stored_completion_get(caller=caller, public_id=public_id)
    body = object_loads(raw)
    unknown = sorted(set(body) - {"metadata"})
    if unknown:
        raise InvalidRequest(f"Unknown parameter: '{unknown[0]}'.", param=unknown[0])
    if "metadata" not in body:
        raise MissingParameter(
            "Missing required parameter: 'metadata'.", param="metadata"
        )
    return services.stored_completion_update(stored=stored, metadata=body["metadata"])


def _delete(caller: Caller, public_id: str) -> None:
    stored = selectors.stored_completion_get(caller=caller, public_id=public_id)
    services.stored_completion_delete(stored=stored)


@documented(chat_openapi.CHAT_COMPLETION_DETAIL)
@csrf_exempt
@require_http_methods(["GET", "POST", "DELETE"])
async def chat_completion_detail(
    request: HttpRequest, completion_id: str
) -> HttpResponse:
    method = (request.method or "").lower()
    caller = await _caller(request, f"chat.completions.{method}")
    if request.method == "DELETE":
        await db.run(_delete, caller, completion_id)
        return JsonResponse(deleted_body("chat.completion", completion_id))
    if request.method == "POST":
        stored = await db.run(_update, caller, completion_id, request.body)
    else:
        stored = await db.run(
            selectors.stored_completion_get, caller=caller, public_id=completion_id
        )
    return JsonResponse(completion_object(stored))


def _messages(caller: Caller, public_id: str, query: dict[str, Any]) -> Any:
    stored = selectors.stored_completion_get(caller=caller, public_id=public_id)
    page, has_more = selectors.stored_message_page(
        stored=stored,
        limit=query["limit"],
        order=query["order"],
        after=query.get("after") or query.get("last"),
    )
    return list_body(page, has_more)


@documented(chat_openapi.CHAT_COMPLETION_MESSAGES)
@require_GET
async def chat_completion_messages(
    request: HttpRequest, completion_id: str
) -> HttpResponse:
    caller = await _caller(request, "chat.completions.messages")
    query = _query(request, ListQuerySerializer)
    body = await db.run(_messages, caller, completion_id, dict(query))
    return JsonResponse(body)
